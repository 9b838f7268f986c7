package uplink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(existing, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	ok := Config{URL: "mqtt://127.0.0.1:1883", ClientID: "gw-1"}

	tests := []struct {
		name   string
		modify func(c *Config)
		want   string // exact message; "" means valid
	}{
		{"valid", func(c *Config) {}, ""},
		{"valid mqtts with files", func(c *Config) {
			c.URL, c.CAFile, c.CertFile, c.KeyFile = "mqtts://broker.example.com", existing, existing, existing
		}, ""},
		{"url required", func(c *Config) { c.URL = "" },
			"cloud.url: required, e.g. mqtts://broker.example.com:8883"},
		{"url scheme", func(c *Config) { c.URL = "http://127.0.0.1:1883" },
			`cloud.url: scheme "http" not supported, use mqtt:// or mqtts://`},
		{"url tcp scheme", func(c *Config) { c.URL = "tcp://127.0.0.1:1883" },
			`cloud.url: scheme "tcp" not supported, use mqtt:// or mqtts://`},
		{"url unparsable", func(c *Config) { c.URL = "mqtt://[::1" },
			`cloud.url: "mqtt://[::1" is not a URL: missing ']' in host`},
		{"url no host", func(c *Config) { c.URL = "mqtt://:1883" },
			`cloud.url: "mqtt://:1883" has no host, use mqtt://host:port`},
		{"url credentials", func(c *Config) { c.URL = "mqtt://u:p@127.0.0.1" },
			"cloud.url: credentials in the URL are not supported, use cloud.username and cloud.password_file"},
		{"url path", func(c *Config) { c.URL = "mqtts://h:8883/mqtt" },
			`cloud.url: "mqtts://h:8883/mqtt" has a path, query or fragment, use mqtts://host:port`},
		{"client id required", func(c *Config) { c.ClientID = "" },
			"cloud.client_id: required"},
		{"client id invalid", func(c *Config) { c.ClientID = "gw\xff" },
			"cloud.client_id: must be valid UTF-8 of at most 65535 bytes"},
		{"password without username", func(c *Config) { c.Password = "secret" },
			"cloud.password_file: set but cloud.username is empty (MQTT 3.1.1 sends a password only with a username)"},
		{"ca file with mqtt", func(c *Config) { c.CAFile = existing },
			`cloud.tls.ca_file: set but cloud.url "mqtt://127.0.0.1:1883" is not TLS, use mqtts://`},
		{"ca file missing", func(c *Config) { c.URL, c.CAFile = "mqtts://h", missing },
			"cloud.tls.ca_file: stat " + missing + ": no such file or directory"},
		{"cert without key", func(c *Config) { c.URL, c.CertFile = "mqtts://h", existing },
			"cloud.tls.cert_file and key_file go together: key_file is empty"},
		{"key without cert", func(c *Config) { c.URL, c.KeyFile = "mqtts://h", existing },
			"cloud.tls.cert_file and key_file go together: cert_file is empty"},
		{"key file missing", func(c *Config) { c.URL, c.CertFile, c.KeyFile = "mqtts://h", existing, missing },
			"cloud.tls.key_file: stat " + missing + ": no such file or directory"},
		{"status topic wildcard", func(c *Config) { c.StatusTopic = "gw/+/status" },
			`cloud.status_topic: "gw/+/status" contains a wildcard (+ or #)`},
		{"keepalive negative", func(c *Config) { c.KeepAlive = -time.Second },
			"cloud.keepalive: must be > 0 (or 0 for the default 30s), got -1s"},
		{"keepalive below 1s", func(c *Config) { c.KeepAlive = 500 * time.Millisecond },
			"cloud.keepalive: must be between 1s and 65535s (MQTT counts whole seconds), got 500ms"},
		{"connect timeout negative", func(c *Config) { c.ConnectTimeout = -1 },
			"cloud.connect_timeout: must be > 0 (or 0 for the default 10s), got -1ns"},
		{"backoff min negative", func(c *Config) { c.BackoffMin = -time.Second },
			"cloud.backoff_min: must be > 0 (or 0 for the default 500ms), got -1s"},
		{"backoff max negative", func(c *Config) { c.BackoffMax = -time.Second },
			"cloud.backoff_max: must be > 0 (or 0 for the default 30s), got -1s"},
		{"backoff min above max", func(c *Config) { c.BackoffMin = time.Minute },
			"cloud.backoff_min: 1m0s is above cloud.backoff_max 30s"},
		{"several problems", func(c *Config) { c.URL, c.ClientID = "", "" },
			"cloud.url: required, e.g. mqtts://broker.example.com:8883\ncloud.client_id: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.modify(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Fatalf("Validate() = nil, want %q", tt.want)
			case tt.want != "" && err.Error() != tt.want:
				t.Fatalf("Validate() =\n%s\nwant\n%s", err, tt.want)
			}
			// New reports the same problem, prefixed.
			if tt.want != "" {
				if _, err := New(c); err == nil || err.Error() != "uplink: "+tt.want {
					t.Fatalf("New() error = %v, want %q", err, "uplink: "+tt.want)
				}
			}
		})
	}
}

func TestParseURLDefaultsPort(t *testing.T) {
	tests := map[string]string{
		"mqtt://127.0.0.1":       "mqtt://127.0.0.1:1883",
		"mqtts://broker.example": "mqtts://broker.example:8883",
		"mqtts://h:1234/":        "mqtts://h:1234",
		"mqtt://[::1]":           "mqtt://[::1]:1883",
	}
	for in, want := range tests {
		u, err := parseURL(in)
		if err != nil {
			t.Fatalf("parseURL(%q): %v", in, err)
		}
		if u.String() != want {
			t.Errorf("parseURL(%q) = %s, want %s", in, u, want)
		}
	}
}

func TestCheckFilter(t *testing.T) {
	for _, f := range []string{"a/b", "a/+/c", "#", "a/#", "+", "$share/g/a/#"} {
		if err := checkFilter(f); err != nil {
			t.Errorf("checkFilter(%q) = %v, want nil", f, err)
		}
	}
	bad := map[string]string{
		"":      "empty filter",
		"a/#/b": `"a/#/b": # must be the last level`,
		"a/b#":  `"a/b#": # must be a whole level`,
		"a/b+":  `"a/b+": + must be a whole level`,
		"a\x00": `"a\x00" contains NUL or invalid UTF-8`,
	}
	for f, want := range bad {
		if err := checkFilter(f); err == nil || err.Error() != want {
			t.Errorf("checkFilter(%q) = %v, want %q", f, err, want)
		}
	}
}

func TestWithDefaults(t *testing.T) {
	c := Config{}.withDefaults()
	if c.KeepAlive != DefaultKeepAlive || c.ConnectTimeout != DefaultConnectTimeout ||
		c.BackoffMin != DefaultBackoffMin || c.BackoffMax != DefaultBackoffMax || c.Logger == nil {
		t.Fatalf("withDefaults() = %+v", c)
	}
	if !strings.Contains(Config{KeepAlive: time.Minute}.withDefaults().KeepAlive.String(), "1m") {
		t.Fatal("withDefaults overrode a set KeepAlive")
	}
}
