package mqttsensor

import (
	"strings"
	"testing"
)

func TestParsePattern(t *testing.T) {
	tests := []struct {
		name, pattern  string
		filter         string
		device, metric bool
		wantErr        string
	}{
		{name: "named captures", pattern: "sensors/+device/+metric", filter: "sensors/+/+", device: true, metric: true},
		{name: "literal", pattern: "home/porch/temperature", filter: "home/porch/temperature"},
		{name: "bare plus and hash", pattern: "+/x/+device/#", filter: "+/x/+/#", device: true},
		{name: "hash alone", pattern: "#", filter: "#"},
		{name: "empty levels", pattern: "a//+metric/", filter: "a//+/", metric: true},
		{name: "leading slash", pattern: "/+device", filter: "/+", device: true},
		{name: "empty", pattern: "", wantErr: "topic pattern is empty"},
		{name: "unknown name", pattern: "sensors/+room", wantErr: `unknown wildcard name "+room": use +device, +metric or a bare +`},
		{name: "name case", pattern: "a/+Device", wantErr: `unknown wildcard name "+Device"`},
		{name: "device twice", pattern: "+device/+device", wantErr: "+device appears twice"},
		{name: "metric twice", pattern: "+metric/x/+metric", wantErr: "+metric appears twice"},
		{name: "hash not last", pattern: "a/#/b", wantErr: "# must be the last level"},
		{name: "hash mixed", pattern: "a/b#", wantErr: `level "b#" mixes a wildcard`},
		{name: "named hash", pattern: "a/#device", wantErr: `level "#device" mixes a wildcard`},
		{name: "plus mixed", pattern: "a/x+", wantErr: `level "x+" mixes a wildcard`},
		{name: "double plus", pattern: "a/++", wantErr: `level "++" mixes a wildcard`},
		{name: "dollar", pattern: "$SYS/#", wantErr: "starts with $"},
		{name: "NUL", pattern: "a/\x00", wantErr: "contains a NUL"},
		{name: "bad UTF-8", pattern: "a/\xff", wantErr: "not valid UTF-8"},
		{name: "too long", pattern: strings.Repeat("a", maxTopicLen+1), wantErr: "over MQTT's 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePattern(%q) = %v, want error containing %q", tt.pattern, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
			}
			if p.Filter() != tt.filter || p.String() != tt.pattern || p.HasDevice() != tt.device || p.HasMetric() != tt.metric {
				t.Fatalf("ParsePattern(%q) = filter %q string %q device %v metric %v, want %q %q %v %v",
					tt.pattern, p.Filter(), p.String(), p.HasDevice(), p.HasMetric(), tt.filter, tt.pattern, tt.device, tt.metric)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, topic string
		want           Match
		ok             bool
	}{
		{"sensors/+device/+metric", "sensors/porch/temperature", Match{Device: "porch", Metric: "temperature"}, true},
		{"sensors/+device/+metric", "sensors/porch", Match{}, false},
		{"sensors/+device/+metric", "sensors/porch/temperature/x", Match{}, false},
		{"sensors/+device/+metric", "other/porch/temperature", Match{}, false},
		{"sensors/+device/+metric", "sensors//", Match{}, true},
		{"a/+metric", "a/", Match{}, true},
		{"+/+device", "x/y", Match{Device: "y"}, true},
		{"a/#", "a", Match{}, true},
		{"a/#", "a/", Match{}, true},
		{"a/#", "a/b/c", Match{Rest: "b/c"}, true},
		{"a/#", "ab", Match{}, false},
		{"a/+device/#", "a/d", Match{Device: "d"}, true},
		{"a/+device/#", "a/d/x/y", Match{Device: "d", Rest: "x/y"}, true},
		{"a/+device/#", "a", Match{}, false},
		{"#", "anything/at/all", Match{Rest: "anything/at/all"}, true},
		{"#", "$SYS/broker/load", Match{}, false},
		{"+/x", "$SYS/x", Match{}, false},
		{"+device", "$dev", Match{}, false},
		{"home/+device", "home/$dev", Match{Device: "$dev"}, true},
		{"/+device", "/d", Match{Device: "d"}, true},
		{"/+device", "d", Match{}, false},
		{"a/b", "a/b", Match{}, true},
		{"a/b", "a/b/", Match{}, false},
		{"+", "", Match{}, false},
		{"+", "a+", Match{}, false},
		{"#", "a/#", Match{}, false},
		{"#", "a\x00b", Match{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.topic, func(t *testing.T) {
			p, err := ParsePattern(tt.pattern)
			if err != nil {
				t.Fatal(err)
			}
			m, ok := p.Match(tt.topic)
			if m != tt.want || ok != tt.ok {
				t.Fatalf("Match(%q) = %+v, %v; want %+v, %v", tt.topic, m, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestZeroPatternMatchesNothing(t *testing.T) {
	if m, ok := (Pattern{}).Match("a"); ok {
		t.Fatalf("zero Pattern matched: %+v", m)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p, err := ParsePattern("site/+/sensors/+device/+metric/#")
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if _, ok := p.Match("site/a/sensors/porch/temperature/raw/x"); !ok {
			t.Fatal("no match")
		}
	})
	if allocs != 0 {
		t.Fatalf("Match allocates %v times per call", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	for _, bm := range []struct{ name, pattern, topic string }{
		{"captures", "sensors/+device/+metric", "sensors/porch/temperature"},
		{"multi", "site/+/sensors/+device/#", "site/north/sensors/porch/temperature/raw"},
		{"miss", "sensors/+device/+metric", "other/porch/temperature"},
	} {
		p, err := ParsePattern(bm.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Match(bm.topic)
			}
		})
	}
}
