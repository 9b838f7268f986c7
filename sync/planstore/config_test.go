package planstore

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // a substring of the error; "" means valid
	}{
		{"zero", Config{}, ""},
		{"timeout", Config{Timeout: time.Millisecond}, ""},
		{"negative timeout", Config{Timeout: -time.Second}, "planstore.timeout: must be > 0 (or 0 for the default 1s), got -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.Timeout != DefaultTimeout || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
	c = Config{Timeout: 3 * time.Second}.withDefaults()
	if c.Timeout != 3*time.Second {
		t.Errorf("Timeout %s, want 3s kept", c.Timeout)
	}
}
