package node

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseConfig: no text may panic ParseConfig; every failure wraps
// ErrConfig, and every success is a config that validates, whose keys
// (if any) build a keyring and whose identity keys decode.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"",
		`alias = "a"` + "\nseeds = [\"127.0.0.1:7001\", \"[::1]:7002\"]\ngossip_val = 250\nheartbeat_val = \"2s\"",
		"port = 70000\nfanout = 0\nphi_threshold = -2\nlog_level = \"loud\"",
		`encrypt_keys = ["` + testKeyB64(32) + `", "` + testKeyB64(16) + `"]`,
		`encrypt_keys = ["AAAA", "!!"]`,
		`encrypt_keys_file = "/dev/zero"`,
		"[gossip]\ninterval = 5",
		`dead_after = "9000h"`,
		`mtu = 520` + "\nencrypt_keys = [\"" + testKeyB64(24) + "\"]",
		`seeds = ["::1:7001", ":1", "h:"]`,
		"gossip_val = 1e400",
		"max_message_size = 9223372036854775807\nmax_value_size = 9223372036854775807",
		"trusted_keys = { n1 = [\"" + testKeyB64(32) + "\"], \"\" = [] }\nrevoked_keys = [\"AAAA\"]",
		"[trusted_keys]\nn1 = [1]\nn2 = \"x\"",
		"key_file = \"/nonexistent/k\"\nrevoked_keys = [\"" + testKeyB64(32) + "\"]\n[trusted_keys]\nn1 = [\"" + testKeyB64(32) + "\"]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, key := range []string{"encrypt_keys_file", "cert_file", "trusted_ca"} {
			if strings.Contains(text, key) {
				t.Skip("reads a file named by the input")
			}
		}
		cfg, err := ParseConfig(text, "fuzz")
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
		if _, err := cfg.keyring(); err != nil {
			t.Fatalf("validated keys do not build a keyring: %v", err)
		}
		if _, errs := cfg.decodeIdentityKeys(); len(errs) > 0 {
			t.Fatalf("validated identity keys do not decode: %v", errs)
		}
	})
}
