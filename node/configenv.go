package node

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// EnvPrefix begins the environment variable that overrides each config
// key: LEVIATHAN_ and the key in upper case (LEVIATHAN_GOSSIP_VAL for
// gossip_val). LoadConfigEnv reads them.
const EnvPrefix = "LEVIATHAN_"

// notConfigEnv are LEVIATHAN_ variables (or prefixes of them) of this
// repository's tests and tools. CI exports them to every process it runs,
// example peers included, so they must not fail a config as unknown.
var notConfigEnv = []string{
	"LEVIATHAN_REQUIRE_BROWSER",
	"LEVIATHAN_CHROMIUM",
	"LEVIATHAN_KILL_DRILL",
	"LEVIATHAN_LOADTEST_",
}

// LoadConfigEnv is LoadConfig with the environment on top: each
// LEVIATHAN_<KEY> variable replaces the file's value of key (or its
// default). A value is read as it would be in TOML, so an interval takes
// 1000 or 1s and a size 256MiB; a string key takes the text as it is, and
// a list takes comma-separated items (or a TOML array). An unknown
// LEVIATHAN_ variable is an error, as an unknown key is, and the
// variables' problems are reported with the file's, each naming its
// variable.
//
// LoadConfig itself stays file-only: the environment is the whole
// process's, and a program running several nodes from several files
// would give them all one id.
func LoadConfigEnv(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return parseConfigEnv(string(data), path, os.Environ())
}

// parseConfigEnv is ParseConfig with the LEVIATHAN_ variables of environ
// ("NAME=value" entries) applied after the text.
func parseConfigEnv(text, name string, environ []string) (Config, error) {
	cfg := DefaultConfig()
	errs, err := decodeFields(text, &cfg)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w: %v", name, ErrConfig, err)
	}
	envErrs, fromEnv := applyEnv(environ, &cfg)
	errs = append(errs, envErrs...)
	errs = append(errs, nameEnvProblems(cfg.problems(), fromEnv)...)
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("config %s: %w:\n  %w", name, ErrConfig, joinLines(errs))
	}
	return cfg, nil
}

// applyEnv sets cfg's fields from the LEVIATHAN_ variables of environ, in
// name order so that the report reads the same every time. It returns
// each bad variable's problem and, for the keys set, the variable that
// set each.
func applyEnv(environ []string, cfg *Config) ([]error, map[string]string) {
	values := make(map[string]string)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(name, EnvPrefix) && !ignoredEnv(name) {
			values[name] = value
		}
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)

	fields := configFields(cfg)
	var errs []error
	fromEnv := make(map[string]string)
	for _, name := range names {
		upper := strings.TrimPrefix(name, EnvPrefix)
		key := strings.ToLower(upper)
		dst, ok := fields[key]
		if !ok || upper != strings.ToUpper(upper) {
			errs = append(errs, unknownEnv(name, fields))
			continue
		}
		if err := decodeEnv(key, values[name], dst); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		fromEnv[key] = name
	}
	return errs, fromEnv
}

func ignoredEnv(name string) bool {
	for _, p := range notConfigEnv {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// unknownEnv reports a LEVIATHAN_ variable that names no key, suggesting
// the nearest real one as an unknown key in a file does.
func unknownEnv(name string, fields map[string]reflect.Value) error {
	msg := "unknown variable " + name
	if near := nearest(strings.TrimPrefix(name, EnvPrefix), fields); near != "" {
		msg += " (did you mean " + EnvPrefix + strings.ToUpper(near) + "?)"
	}
	return errors.New(msg)
}

// decodeEnv decodes one variable's value into dst through a one-key TOML
// document, so that it is read by the same code, with the same messages,
// as the file's value.
func decodeEnv(key, value string, dst reflect.Value) error {
	doc, err := envDocument(key, value, dst.Type())
	if err != nil {
		return err
	}
	var raw map[string]toml.Primitive
	md, err := toml.Decode(doc, &raw)
	if err != nil {
		return err
	}
	return decodeField(md, raw[key], dst, secretKeys[key])
}

// envDocument writes "key = value" as TOML. A value that is one TOML
// value already (1000, true, 0.5, "1s", a [...] array) is taken as it is;
// anything else is quoted, so 1s and 256MiB need no quotes in a shell.
// A string key always quotes: LEVIATHAN_ID=7 is the id "7", not a wrong
// type. A list not written as an array is split at commas.
func envDocument(key, value string, t reflect.Type) (string, error) {
	isList := t.Kind() == reflect.Slice
	if t.Kind() != reflect.String && (!isList || strings.HasPrefix(strings.TrimSpace(value), "[")) {
		doc := key + " = " + value
		var probe map[string]any
		// Another key means the value smuggled in a line or a table; keys
		// under key are an inline table's (trusted_keys).
		if md, err := toml.Decode(doc, &probe); err == nil && onlyUnder(md.Keys(), key) {
			return doc, nil
		}
	}
	var v any = value
	if isList {
		items := []string{}
		for _, s := range strings.Split(value, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v = items
	}
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(map[string]any{key: v}); err != nil {
		return "", err
	}
	return b.String(), nil
}

// onlyUnder reports whether every key is key or one of its subkeys.
func onlyUnder(keys []toml.Key, key string) bool {
	for _, k := range keys {
		if len(k) == 0 || k[0] != key {
			return false
		}
	}
	return len(keys) > 0
}

// nameEnvProblems rewrites the validation problems of keys the
// environment set to name the variable instead ("LEVIATHAN_PORT: -1 is
// out of range"): the file may hold a good value the reader would look at
// in vain.
func nameEnvProblems(errs []error, fromEnv map[string]string) []error {
	for i, e := range errs {
		msg := e.Error()
		for key, name := range fromEnv {
			rest, ok := strings.CutPrefix(msg, key)
			if ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "[") || strings.HasPrefix(rest, ".")) {
				errs[i] = errors.New(name + rest)
				break
			}
		}
	}
	return errs
}
