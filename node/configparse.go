package node

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// decodeFields decodes each top-level key of a TOML document into its
// Config field separately, so that every key of the wrong type is
// reported, not only the first one the decoder meets. A field that fails
// keeps its value from cfg (the default). A syntax error is returned on
// its own: nothing after it can be trusted.
func decodeFields(text string, cfg *Config) ([]error, error) {
	var raw map[string]toml.Primitive
	md, err := toml.Decode(text, &raw)
	if err != nil {
		return nil, err
	}
	fields := configFields(cfg)
	var errs, unknown []error
	for _, key := range md.Keys() {
		if len(key) != 1 {
			continue // inside a table: reported with its table
		}
		name := key[0]
		dst, ok := fields[name]
		if !ok {
			unknown = append(unknown, unknownKey(md, name, fields))
			continue
		}
		if err := decodeField(md, raw[name], dst, secretKeys[name]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return append(unknown, errs...), nil
}

// secretKeys are the keys whose values are secrets: an error about one
// says what kind of value it got, never the value.
var secretKeys = map[string]bool{"encrypt_keys": true}

// decodeField decodes one value into dst, or leaves dst alone and says
// what is wrong with the value without naming it: a file names its key,
// the environment its variable. A secret's value is not shown.
func decodeField(md toml.MetaData, p toml.Primitive, dst reflect.Value, secret bool) error {
	// Decode into a fresh value, so a half-decoded list does not stay.
	as := decodeType(dst.Type())
	v := reflect.New(as)
	if err := md.PrimitiveDecode(p, v.Interface()); err != nil {
		if secret {
			var got any
			if md.PrimitiveDecode(p, &got) == nil {
				return fmt.Errorf("%s given; want %s (the value is a secret: not shown)", tomlKind(got), kindName(as))
			}
			return errors.New("a value of the wrong type (the value is a secret: not shown)")
		}
		return errors.New(typeProblem(md, p, as, err))
	}
	dst.Set(v.Elem().Convert(dst.Type()))
	return nil
}

// configFields maps each TOML key to its field in cfg.
func configFields(cfg *Config) map[string]reflect.Value {
	v := reflect.ValueOf(cfg).Elem()
	out := make(map[string]reflect.Value, v.NumField())
	for i := 0; i < v.NumField(); i++ {
		if tag := v.Type().Field(i).Tag.Get("toml"); tag != "" && tag != "-" {
			out[tag] = v.Field(i)
		}
	}
	return out
}

// Config's fields are plain Go types, while TOML spells durations and
// sizes its own way: such a field is decoded through a type that reads
// that spelling, then converted.
var (
	goDurationType = reflect.TypeFor[time.Duration]()
	durationType   = reflect.TypeFor[tomlDuration]()
	sizeType       = reflect.TypeFor[tomlSize]()
	pinsType       = reflect.TypeFor[tomlPins]()
)

// decodeType is the type a Config field of type t is decoded through.
// Every int64 field of Config is a size in bytes (counts are int).
func decodeType(t reflect.Type) reflect.Type {
	switch {
	case t == goDurationType:
		return durationType
	case t.Kind() == reflect.Int64:
		return sizeType
	case t == reflect.TypeFor[map[string][]string]():
		return pinsType
	}
	return t
}

// tomlDuration decodes an interval key of Config: TOML has no duration
// type, so an interval is an integer (milliseconds) or a Go duration
// string.
type tomlDuration time.Duration

// UnmarshalTOML implements toml.Unmarshaler.
func (d *tomlDuration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		if x < 0 || x > math.MaxInt64/int64(time.Millisecond) {
			return fmt.Errorf("%d ms is out of range", x)
		}
		*d = tomlDuration(time.Duration(x) * time.Millisecond)
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("%q is not a duration (want milliseconds like 1000 or a string like \"1s\")", x)
		}
		*d = tomlDuration(p)
	default:
		return fmt.Errorf("%v (%T) is not a duration (want milliseconds like 1000 or a string like \"1s\")", v, v)
	}
	return nil
}

// tomlPins decodes trusted_keys, a table of node ids each with a list of
// keys: the TOML decoder would silently leave a map empty when given
// anything else. Its errors do not echo the keys, in case a private key
// was pasted by mistake.
type tomlPins map[string][]string

// UnmarshalTOML implements toml.Unmarshaler.
func (p *tomlPins) UnmarshalTOML(v any) error {
	table, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s given; want %s", tomlKind(v), kindName(pinsType))
	}
	out := make(tomlPins, len(table))
	for id, keys := range table {
		list, ok := keys.([]any)
		if !ok {
			return fmt.Errorf("%q: %s; want a list of strings", id, tomlKind(keys))
		}
		out[id] = make([]string, 0, len(list))
		for _, k := range list {
			s, ok := k.(string)
			if !ok {
				return fmt.Errorf("%q: an item is %s; want a list of strings", id, tomlKind(k))
			}
			out[id] = append(out[id], s)
		}
	}
	*p = out
	return nil
}

// typeProblem explains a value of the wrong type in the user's terms:
// what was given and what the key wants.
func typeProblem(md toml.MetaData, p toml.Primitive, want reflect.Type, err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "): "); i >= 0 {
		msg = msg[i+3:] // the decoder's "toml: line N (last key "k")" prefix
	}
	if (want == durationType || want == sizeType || want == pinsType) && !strings.HasPrefix(msg, "incompatible types") {
		return msg // the type's own message says what it accepts
	}
	var got any
	if md.PrimitiveDecode(p, &got) != nil {
		return msg
	}
	return fmt.Sprintf("%s is %s; want %s", show(got), tomlKind(got), kindName(want))
}

// show renders a decoded TOML value briefly, strings quoted.
func show(v any) string {
	s := fmt.Sprintf("%v", v)
	if str, ok := v.(string); ok {
		s = fmt.Sprintf("%q", str)
	}
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// tomlKind names the kind of a decoded TOML value.
func tomlKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a fractional number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// kindName says what a Config field's type accepts.
func kindName(t reflect.Type) string {
	if t == durationType {
		return `a duration (milliseconds like 1000, or a string like "1s")`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int64, reflect.Uint64:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(kindName(t.Elem()), "a ") + "s"
	case reflect.Map:
		// trusted_keys: a table of node ids, each a list.
		return `a table of node ids, each a list of keys (id = ["key", ...])`
	}
	return t.String()
}

// unknownKey reports a key Config does not have, with the keys of a table
// spelt out and the nearest real key suggested.
func unknownKey(md toml.MetaData, name string, fields map[string]reflect.Value) error {
	shown := []string{name}
	if md.Type(name) == "Hash" {
		shown = shown[:0]
		for _, k := range md.Keys() {
			if len(k) > 1 && k[0] == name && md.Type(k...) != "Hash" {
				shown = append(shown, k.String())
			}
		}
		if len(shown) == 0 {
			shown = []string{"[" + name + "]"}
		}
	}
	msg := "unknown key " + strings.Join(shown, ", ")
	if near := nearest(name, fields); near != "" {
		msg += " (did you mean " + near + "?)"
	}
	return errors.New(msg)
}

// nearest returns the config key closest to name when it is close enough
// to be a typo (edit distance at most 2, or a third of the name), else "".
func nearest(name string, fields map[string]reflect.Value) string {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys) // ties go to the first alphabetically, every time
	best, bestD := "", 1<<30
	for _, k := range keys {
		if d := editDistance(strings.ToLower(name), k); d < bestD {
			best, bestD = k, d
		}
	}
	if bestD <= max(2, len(name)/3) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
