package strict

import (
	"strings"
	"testing"
	"time"
)

type inner struct {
	Device string   `yaml:"device"`
	Above  *float64 `yaml:"above"`
	Value  any      `yaml:"value"`
}

type config struct {
	Window  time.Duration          `yaml:"window"`
	Match   []string               `yaml:"match"`
	Warmup  int                    `yaml:"warmup"`
	On      bool                   `yaml:"on"`
	Items   []inner                `yaml:"items"`
	Labels  map[string]string      `yaml:"labels"`
	Deep    [][][][][][][][]string `yaml:"deep"`
	Ignored string                 `yaml:"-"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // the error, or "" to succeed
		check    func(c config) bool
	}{
		{name: "empty keeps defaults", in: "", check: func(c config) bool { return c.Window == time.Minute && c.Warmup == 30 }},
		{name: "null keeps defaults", in: "window:\nwarmup: ~", check: func(c config) bool { return c.Window == time.Minute && c.Warmup == 30 }},
		{name: "yaml", in: "window: 5m\nmatch: [a/#]\nitems:\n  - {device: x, above: 3, value: on}\n", check: func(c config) bool {
			return c.Window == 5*time.Minute && c.Match[0] == "a/#" && c.Items[0].Device == "x" && *c.Items[0].Above == 3 && c.Items[0].Value == "on"
		}},
		{name: "json", in: `{"window": "10s", "items": [{"device": "x", "value": 1.5}], "labels": {"a": "b"}}`, check: func(c config) bool {
			return c.Window == 10*time.Second && c.Items[0].Value == 1.5 && c.Labels["a"] == "b"
		}},
		{name: "unknown key with hint", in: "windw: 1m", want: `windw: unknown key: did you mean "window"?`},
		{name: "unknown key listed", in: "colour: red", want: "colour: unknown key; known keys here: deep, items, labels, match, on, warmup, window"},
		{name: "unknown nested key", in: "items:\n  - device: a\n  - devise: b\n", want: `items[1].devise: unknown key: did you mean "device"?`},
		{name: "ignored field is unknown", in: "-: x", want: `-: unknown key; known keys here: deep, items, labels, match, on, warmup, window`},
		{name: "duration without unit", in: "window: 60", want: `window: "60" is not a duration: write it with a unit, e.g. 30s, 5m or 1h30m`},
		{name: "duration garbage", in: "window: soon", want: `window: "soon" is not a duration: write it with a unit, e.g. 30s, 5m or 1h30m`},
		{name: "duration mapping", in: "window: {a: 1}", want: `window: expected a duration such as 30s, 5m or 1h30m, got a mapping`},
		{name: "wrong scalar", in: "warmup: lots", want: `warmup: "lots" is not a whole number`},
		{name: "no truncation", in: "warmup: 2.5", want: `warmup: "2.5" is not a whole number`},
		{name: "ints in yaml forms", in: "warmup: 1_000", check: func(c config) bool { return c.Warmup == 1000 }},
		{name: "not finite", in: "items: [{above: .nan}]", want: `items[0].above: ".nan" is not a finite number`},
		{name: "not a list", in: "match: a/#", want: `match: expected a list, got "a/#"`},
		{name: "not a string", in: "items: [{device: [a]}]", want: `items[0].device: expected a string, got a list`},
		{name: "top level list", in: "[1, 2]", want: `(top level): expected a mapping of keys, got a list`},
		{name: "repeated key", in: "warmup: 1\nwarmup: 2", want: `warmup: key appears twice: keep one`},
		{name: "every problem", in: "windw: 1m\nwarmup: x\n", want: "windw: unknown key: did you mean \"window\"?\nwarmup: \"x\" is not a whole number"},
		{name: "bad yaml", in: "a: [", want: "not valid YAML or JSON: line 1: did not find expected node content"},
		{name: "two documents", in: "warmup: 1\n---\nwarmup: 2\n", want: "more than one YAML document: keep one (remove the ---)"},
		{name: "billion laughs", in: laughs(), want: "the document expands to more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config{Window: time.Minute, Warmup: 30}
			err := Decode([]byte(tt.in), &c)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Decode: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Decode = %v, want %q", err, tt.want)
			case tt.check != nil && !tt.check(c):
				t.Fatalf("decoded %+v", c)
			}
		})
	}
}

func laughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		prev := "*a" + string(rune('0'+i-1))
		b.WriteString("a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	b.WriteString("deep: *a7\n")
	return b.String()
}

func TestDecodeNeedsAStructPointer(t *testing.T) {
	var n int
	if err := Decode([]byte("a: 1"), &n); err == nil {
		t.Fatal("Decode into *int must fail")
	}
}
