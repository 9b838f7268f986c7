package aggregate

import (
	"os"
	"slices"
	"testing"
	"time"
)

func TestDecodeConfig(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // the whole error, or "" to succeed
	}{
		{name: "empty is every default", in: ""},
		{name: "json", in: `{"window": "5m", "match": ["+/temperature"], "forward_raw": true}`},
		{name: "unknown key", in: "windows: 1m", want: `aggregate config: windows: unknown key "windows": did you mean "window"? (line 1)`},
		{name: "window without unit", in: "window: 60", want: `aggregate config: window: "60" is not a duration, use e.g. 500ms, 10s, 5m, 168h (line 1)`},
		{name: "window too short", in: "window: 500ms", want: "aggregate config: window: 500ms is out of range: use 1s to 24h, e.g. 1m"},
		{name: "window too long", in: "window: 48h", want: "aggregate config: window: 48h0m0s is out of range: use 1s to 24h, e.g. 1m"},
		{name: "window not dividing a day", in: "window: 7m", want: "aggregate config: window: 7m0s does not divide a day, so windows would not line up with the clock: use e.g. 1m, 5m, 15m or 1h"},
		{name: "negative grace", in: "grace: -1s", want: "aggregate config: grace: -1s is negative: use 0s or more"},
		{name: "bad filter", in: "match: [ok/#, 'boiler#']", want: `aggregate config: match[1]: "boiler#": # must be a whole level, e.g. boiler/#`},
		{name: "unknown and repeated stat", in: "stats: [min, median, min]", want: "aggregate config: stats[1]: \"median\" is not a statistic: use min, max, mean, sum, count, first, last\nstats[2]: min is listed twice: keep one"},
		{name: "naming without stat", in: "naming: '{metric}_agg'", want: `aggregate config: naming: "{metric}_agg" must hold both {metric} and {stat}, else emitted names collide: e.g. "{metric}_{stat}"`},
		{name: "naming with unknown placeholder", in: "naming: '{device}_{metric}_{stat}'", want: `aggregate config: naming: "{device}_{metric}_{stat}" has a placeholder other than {stat} and {metric}, or a stray brace`},
		{name: "negative max_series", in: "max_series: -1", want: "aggregate config: max_series: -1 is negative: use a positive number, or leave it out for 10000"},
		{name: "forward_raw not a bool", in: "forward_raw: maybe", want: `aggregate config: forward_raw: "maybe" is not true or false (line 1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeConfig([]byte(tt.in))
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("error\n  %s\nwant\n  %s", got, tt.want)
			}
		})
	}
}

func TestSampleDecodes(t *testing.T) {
	data, err := os.ReadFile("sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := DecodeConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	if c.Window != time.Minute || *c.Grace != 2*time.Second || !slices.Equal(c.Match, []string{"boiler/#", "+/temperature"}) || c.ForwardRaw || c.MaxSeries != 10000 {
		t.Fatalf("sample = %+v", c)
	}
	if _, err := New(c); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecodeConfig checks that decoding never panics and that whatever it
// accepts New accepts too. Seeds: sample.yaml and testdata/fuzz.
func FuzzDecodeConfig(f *testing.F) {
	if data, err := os.ReadFile("sample.yaml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeConfig(data)
		if err != nil {
			return
		}
		s, err := New(c)
		if err != nil {
			t.Fatalf("DecodeConfig accepted %q but New refuses it: %v", data, err)
		}
		s.Process([]Reading{{Device: "boiler", Metric: "temperature", Value: 1, Time: t0}}, t0)
		s.Tick(t0.Add(25 * time.Hour))
	})
}
