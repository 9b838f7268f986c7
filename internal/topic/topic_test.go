package topic

import (
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		filter, topic string
		want          bool
	}{
		{"sensors/#", "sensors/porch/t", true},
		{"sensors/#", "sensors", true},
		{"sensors/+/t", "sensors/porch/t", true},
		{"sensors/+/t", "sensors/porch/h", false},
		{"sensors/+", "sensors/porch/t", false},
		{"sensors/+/t", "sensors/porch", false},
		{"#", "$SYS/broker/uptime", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/b", "a/b", true},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+/c", "a//c", true},
		{"+", "", true},
		{"#", "a/b/c", true},
	}
	for _, tt := range tests {
		if got := Match(tt.filter, tt.topic); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.topic, got, tt.want)
		}
	}
}

func TestValidFilter(t *testing.T) {
	for f, want := range map[string]string{
		"a/+/b": "", "#": "", "a/#": "", "": "empty", "a/#/b": "# must be the last level",
		"a/b#": "# must be a whole level", "a+/b": "+ must be a whole level", "a\x00": "NUL",
	} {
		err := ValidFilter(f)
		if (err == nil) != (want == "") || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("ValidFilter(%q) = %v, want %q", f, err, want)
		}
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("sensors/+/t", "sensors/a/t")
	f.Add("a/#", "a")
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if ValidFilter(filter) != nil {
			return
		}
		if Match(filter, topic) && !strings.Contains(filter, "+") && !strings.Contains(filter, "#") && filter != topic {
			t.Fatalf("literal filter %q matched a different topic %q", filter, topic)
		}
	})
}

func TestCovers(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"sensors/+/+", "sensors/porch/+", true},
		{"sensors/porch/+", "sensors/+/+", false},
		{"sensors/#", "sensors/+/+", true},
		{"sensors/#", "sensors", true},
		{"sensors/#", "sensors/#", true},
		{"sensors/+/#", "sensors/#", false},
		{"sensors/+", "sensors/#", false},
		{"#", "a/b/+", true},
		{"+/+", "a/b/c", false},
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/+", "a", false},
		{"a", "a/+", false},
		{"+/x", "$SYS/x", false},
		{"#", "$SYS/#", false},
		{"$SYS/#", "$SYS/x", true},
		{"tele/+/SENSOR", "tele/plug1/SENSOR", true},
		{"tele/+/SENSOR", "tele/+/STATE", false},
	}
	for _, tt := range tests {
		if got := Covers(tt.a, tt.b); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		// Whatever a covers, it matches: check against sample topics of b.
	}
	// Cross-check with Match on sample topics: if a covers b, every
	// sample topic b matches, a matches too.
	samples := []string{"sensors", "sensors/porch", "sensors/porch/t", "sensors/a/b/c", "a", "a/b", "a/c", "a/b/c", "$SYS/x", "tele/plug1/SENSOR", "tele/plug1/STATE"}
	for _, tt := range tests {
		if !tt.want {
			continue
		}
		for _, s := range samples {
			if Match(tt.b, s) && !Match(tt.a, s) {
				t.Errorf("Covers(%q, %q) but %q matches only the second", tt.a, tt.b, s)
			}
		}
	}
}
