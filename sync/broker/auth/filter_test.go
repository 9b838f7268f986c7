package auth

import (
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		filter  string
		wantErr string // "" for a valid filter
	}{
		{"sensors/#", ""},
		{"#", ""},
		{"+", ""},
		{"sensors/+/temp", ""},
		{"devices/%u/#", ""},
		{"clients/%c", ""},
		{"$SYS/#", ""},
		{"a//b", ""},
		{"", "empty filter"},
		{"a/#/b", "# must be the last level"},
		{"a/b#", "# must be a whole level"},
		{"a/+b/c", "+ must be a whole level"},
		{"users/%u-x", "%u and %c must be a whole level"},
		{"x%c/y", "%u and %c must be a whole level"},
		{"$share/g/sensors/#", "$share/<group>/ prefix"},
		{"$SHARE/g/x", "$share/<group>/ prefix"},
		{"a\x00b", "NUL"},
		{"\xff", "UTF-8"},
		{strings.Repeat("a", 65536), "longer than 65535"},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			_, err := parsePattern(tc.filter)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("parsePattern(%q): %v", tc.filter, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("parsePattern(%q) = %v, want an error containing %q", tc.filter, err, tc.wantErr)
			}
		})
	}
}

func TestPatternMatches(t *testing.T) {
	tests := []struct {
		pattern, topic string
		user, client   string
		want           bool
	}{
		{"#", "a/b/c", "", "", true},
		{"#", "$SYS/uptime", "", "", false},
		{"+/uptime", "$SYS/uptime", "", "", false},
		{"$SYS/#", "$SYS/uptime", "", "", true},
		{"a/#", "a", "", "", true},
		{"a/#", "a/b/c", "", "", true},
		{"a/#", "ab", "", "", false},
		{"a/+", "a/b", "", "", true},
		{"a/+", "a/b/c", "", "", false},
		{"a/+", "a", "", "", false},
		{"a/+", "a/", "", "", true},
		{"a/b", "a/b", "", "", true},
		{"a/b", "a/B", "", "", false},
		{"x/$y", "x/$y", "", "", true},
		{"a/+/c", "a/$b/c", "", "", true}, // $ only matters in the first level
		{"u/%u/#", "u/bob/t", "bob", "", true},
		{"u/%u/#", "u/alice/t", "bob", "", false},
		{"c/%c", "c/dev1", "", "dev1", true},
		{"c/%c", "c/dev2", "", "dev1", false},
		{"%u/x", "bob/x", "bob", "", true},
		// Substituted values that would widen the match never match.
		{"u/%u/#", "u/+/t", "+", "", false},
		{"u/%u/#", "u/#", "#", "", false},
		{"u/%u/#", "u/a/b/t", "a/b", "", false},
		{"u/%u", "u/a/b", "a/b", "", false},
		{"u/%u", "u/", "", "", false},
		{"%u/x", "$SYS/x", "$SYS", "", false},
		{"c/%c", "c/a/b", "", "a/b", false},
		{"c/%c", "c/+", "", "+", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.topic+" "+tc.user+" "+tc.client, func(t *testing.T) {
			p, err := parsePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.matches(strings.Split(tc.topic, "/"), tc.user, tc.client); got != tc.want {
				t.Errorf("%q matches %q (user %q, client %q) = %v, want %v", tc.pattern, tc.topic, tc.user, tc.client, got, tc.want)
			}
		})
	}
}

func TestPatternContains(t *testing.T) {
	tests := []struct {
		pattern, filter string
		user            string
		want            bool
	}{
		{"sensors/#", "sensors/porch/#", "", true},
		{"sensors/#", "sensors/+/temp", "", true},
		{"sensors/#", "sensors", "", true},
		{"sensors/#", "sensors/#", "", true},
		{"sensors/#", "#", "", false},
		{"sensors/#", "+/porch", "", false},
		{"sensors/+/temp", "sensors/#", "", false},
		{"sensors/+/temp", "sensors/+/temp", "", true},
		{"sensors/+/temp", "sensors/porch/temp", "", true},
		{"sensors/+/temp", "sensors/porch/+", "", false},
		{"sensors/+", "sensors/+/#", "", false},
		{"sensors/+/#", "sensors/a", "", true},
		{"sensors/+/#", "sensors/#", "", false},
		{"a/b", "a/+", "", false},
		{"a/b", "a/b", "", true},
		{"#", "#", "", true},
		{"#", "+/x", "", true},
		{"#", "$SYS/#", "", false},
		{"+/#", "$SYS/x", "", false},
		{"$SYS/#", "$SYS/broker/+", "", true},
		{"u/%u/#", "u/bob/#", "bob", true},
		{"u/%u/#", "u/+/#", "bob", false},
		{"u/%u/#", "u/+/#", "+", false},
		{"u/%u/#", "u/#", "#", false},
		{"u/%u/#", "u/a/b/x", "a/b", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.filter+" "+tc.user, func(t *testing.T) {
			p, err := parsePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			f, ok := splitFilter(tc.filter)
			if !ok {
				t.Fatalf("splitFilter(%q) failed", tc.filter)
			}
			if got := p.contains(f, tc.user, "c"); got != tc.want {
				t.Errorf("%q contains %q (user %q) = %v, want %v", tc.pattern, tc.filter, tc.user, got, tc.want)
			}
		})
	}
}

func TestSplitFilter(t *testing.T) {
	tests := []struct {
		filter string
		want   string // levels joined by "|", or "!" for invalid
	}{
		{"a/b", "a|b"},
		{"a/#", "a|#"},
		{"$share/g/a/+", "a|+"},
		{"$SHARE/g/a", "a"},
		{"$share/g", "!"},
		{"$share//a", "!"},
		{"$share/g+/a", "!"},
		{"a/#/b", "!"},
		{"a/b#", "!"},
		{"a+/b", "!"},
		{"", "!"},
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			levels, ok := splitFilter(tc.filter)
			got := strings.Join(levels, "|")
			if !ok {
				got = "!"
			}
			if got != tc.want {
				t.Errorf("splitFilter(%q) = %q, want %q", tc.filter, got, tc.want)
			}
		})
	}
}
