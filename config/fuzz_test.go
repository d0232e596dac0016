package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/omnigate/omnigate/internal/testfiles"
)

// FuzzParse feeds YAML documents to the loader: it never panics, a configuration it
// returns passes Validate, and every refusal is a *ValidationError whose lines name a
// file, never a secret from the environment.
func FuzzParse(f *testing.F) {
	for _, b := range testfiles.Files(f, "*.yaml") {
		f.Add(b)
	}
	env := func(name string) (string, bool) {
		v, ok := testEnv[name]
		return v, ok
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse(data, "/srv", env)
		if err != nil {
			if c != nil {
				t.Fatalf("a configuration returned with an error")
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
			}
			for _, secret := range testEnv {
				if !strings.Contains(strings.ToLower(secret), "secret") {
					continue // not a secret (a port, an address)
				}
				if strings.Contains(err.Error(), secret) && !strings.Contains(string(data), secret) {
					t.Fatalf("error quotes a secret from the environment: %v", err)
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse returned a configuration that fails Validate: %v", err)
		}
	})
}
