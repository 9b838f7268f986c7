package anomaly

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
		{name: "json", in: `{"half_life": "10m", "threshold": 4, "emit_all_scores": true}`},
		{name: "unknown key", in: "treshold: 3", want: `anomaly config: treshold: unknown key "treshold": did you mean "threshold"? (line 1)`},
		{name: "alpha and half_life", in: "alpha: 0.2\nhalf_life: 10m", want: "anomaly config: alpha: alpha and half_life both set: weigh readings by count (alpha) or by time (half_life), not both"},
		{name: "alpha out of range", in: "alpha: 1.5", want: "anomaly config: alpha: 1.5 is out of range: use a weight above 0 and at most 1, e.g. 0.1"},
		{name: "negative alpha", in: "alpha: -0.1", want: "anomaly config: alpha: -0.1 is out of range: use a weight above 0 and at most 1, e.g. 0.1"},
		{name: "negative half_life", in: "half_life: -10m", want: "anomaly config: half_life: -10m0s is negative: use e.g. 10m"},
		{name: "half_life without unit", in: "half_life: 600", want: `anomaly config: half_life: "600" is not a duration, use e.g. 500ms, 10s, 5m, 168h (line 1)`},
		{name: "negative threshold", in: "threshold: -3", want: "anomaly config: threshold: -3 is negative: use a number of standard deviations, e.g. 3"},
		{name: "warmup of one", in: "warmup: 1", want: "anomaly config: warmup: 1 reading gives no spread to score against: use 2 or more, e.g. 30"},
		{name: "negative warmup", in: "warmup: -5", want: "anomaly config: warmup: -5 is negative: use a number of readings, e.g. 30"},
		{name: "warmup not whole", in: "warmup: 2.5", want: `anomaly config: warmup: "2.5" is not a whole number (line 1)`},
		{name: "negative min_stddev", in: "min_stddev: -1", want: "anomaly config: min_stddev: -1 is negative: use 0 or the sensor's resolution"},
		{name: "bad filter and max_series", in: "match: ['a/#/b']\nmax_series: -1", want: "anomaly config: match[0]: \"a/#/b\": # must be the last level, e.g. boiler/#\nmax_series: -1 is negative: use a positive number, or leave it out for 10000"},
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

func TestDefaults(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Config(); c.Alpha != 0.1 || c.Threshold != 3 || c.Warmup != 30 || c.MaxSeries != 10000 || c.MinStddev != 0 || c.EmitAllScores {
		t.Fatalf("defaults = %+v", c)
	}
	s, _ = New(Config{HalfLife: time.Minute})
	if c := s.Config(); c.Alpha != 0 {
		t.Fatalf("half_life must not get a default alpha: %+v", c)
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
	if !slices.Equal(c.Match, []string{"+/temperature", "boiler/#"}) || c.Alpha != 0.1 || c.Threshold != 3 || c.Warmup != 30 || c.MaxSeries != 10000 {
		t.Fatalf("sample = %+v", c)
	}
}

// FuzzDecodeConfig checks that decoding never panics and that whatever it
// accepts New accepts and runs. Seeds: sample.yaml and testdata/fuzz.
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
		emit, _ := s.Process(readings(time.Second, 1, 5, 1, 5, 1, 5, 1e300, -1e300, 0), t0)
		for _, r := range emit {
			if r.Value != r.Value || r.Value < 0 || r.Value > MaxScore {
				t.Fatalf("score %v", r.Value)
			}
		}
	})
}
