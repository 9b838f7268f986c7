package series

import (
	"strings"
	"testing"
)

func TestFilterMatch(t *testing.T) {
	tests := []struct {
		filter, device, metric string
		want                   bool
	}{
		{"#", "porch", "temperature", true},
		{"boiler/#", "boiler", "temperature", true},
		{"boiler/#", "boilers", "temperature", false},
		{"+/temperature", "porch", "temperature", true},
		{"+/temperature", "porch", "humidity", false},
		{"porch/humidity", "porch", "humidity", true},
		{"porch", "porch", "humidity", false},
		{"porch/humidity/x", "porch", "humidity", false},
		{"+", "porch", "humidity", false},
		{"+/+", "porch", "humidity", true},
		{"site/+/temperature", "site/porch", "temperature", true},
		{"+/temperature", "site/porch", "temperature", false},
		{"+/#", "a", "b", true},
		{"a/b/#", "a", "b", true},
		{"+/x", "", "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.filter+" "+tt.device+"/"+tt.metric, func(t *testing.T) {
			f, err := NewFilter(tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match(tt.device, tt.metric); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidFilter(t *testing.T) {
	tests := []struct{ filter, want string }{
		{"a/+/b", ""},
		{"#", ""},
		{"", "empty filter"},
		{"a/#/b", "# must be the last level"},
		{"a/b#", "# must be a whole level"},
		{"a+/b", "+ must be a whole level"},
		{"a\x00", "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			err := ValidFilter(tt.filter)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ValidFilter = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	if !(Filters{}).Match("x", "y") {
		t.Fatal("an empty set must match everything")
	}
	fs, err := NewFilters("match", []string{"boiler/#", "+/temperature"})
	if err != nil {
		t.Fatal(err)
	}
	if !fs.Match("boiler", "pressure") || !fs.Match("porch", "temperature") || fs.Match("porch", "humidity") {
		t.Fatal("wrong matches")
	}
	_, err = NewFilters("match", []string{"ok/#", "bad#", ""})
	want := "match[1]: \"bad#\": # must be a whole level, e.g. boiler/#\nmatch[2]: empty filter: use # for every series"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	f, _ := NewFilter("site/+/#")
	if n := testing.AllocsPerRun(100, func() { f.Match("site/porch", "temperature") }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
}
