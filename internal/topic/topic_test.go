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
