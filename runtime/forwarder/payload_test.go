package forwarder

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edged-gateway/edged/reading"
)

type wire struct {
	Seq    uint64   `json:"seq"`
	Epoch  *string  `json:"epoch"`
	Device string   `json:"device"`
	Metric string   `json:"metric"`
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit"`
	TS     string   `json:"ts"`
	Source *string  `json:"source"`
}

func TestPayloadIsTheDocumentedJSON(t *testing.T) {
	ts := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	rs := []reading.Reading{
		{Device: "demo-temp", Metric: "temperature", Value: 21.5, Unit: "C", Time: ts, Seq: 41},
		{Device: "demo-temp", Metric: "temperature", Value: 1e-7, Unit: "C", Time: ts, Seq: 42},
	}
	got := string(AppendPayload(nil, "", rs))
	want := `[{"seq":41,"device":"demo-temp","metric":"temperature","value":21.5,"unit":"C","ts":"2026-11-23T11:00:00.123456789Z"},` +
		`{"seq":42,"device":"demo-temp","metric":"temperature","value":1e-07,"unit":"C","ts":"2026-11-23T11:00:00.123456789Z"}]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// TestPayloadCarriesEpoch: the epoch names the stream the seq counts in, so
// a cloud that dedups on (epoch, seq) keeps a new file's seq 1.
func TestPayloadCarriesEpoch(t *testing.T) {
	ts := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	rs := []reading.Reading{{Device: "gw", Metric: "t", Value: 20, Unit: "C", Time: ts, Seq: 1}}
	want := `[{"seq":1,"epoch":"9f3a0c1d2e4b5a69","device":"gw","metric":"t","value":20,"unit":"C","ts":"2026-11-23T11:00:00Z"}]`
	if got := string(AppendPayload(nil, "9f3a0c1d2e4b5a69", rs)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestPayloadSourceOnlyWhenSet(t *testing.T) {
	ts := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		source string
		want   string
	}{
		{"device reading: no key", "",
			`[{"seq":7,"device":"gw","metric":"temp_avg","value":20,"unit":"C","ts":"2026-11-23T11:00:00Z"}]`},
		{"service reading", "aggregate-1",
			`[{"seq":7,"device":"gw","metric":"temp_avg","value":20,"unit":"C","ts":"2026-11-23T11:00:00Z","source":"aggregate-1"}]`},
		{"escaped", "a\"b\n\xff",
			`[{"seq":7,"device":"gw","metric":"temp_avg","value":20,"unit":"C","ts":"2026-11-23T11:00:00Z","source":"a\"b\u000a\ufffd"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := []reading.Reading{{Device: "gw", Metric: "temp_avg", Value: 20, Unit: "C", Time: ts, Seq: 7, Source: tc.source}}
			if got := string(AppendPayload(nil, "", rs)); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestPayloadMarksSimulatedReadings: a reading from a simulated chip
// carries "simulated":true; a real one has no such key.
func TestPayloadMarksSimulatedReadings(t *testing.T) {
	ts := time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)
	rs := []reading.Reading{
		{Device: "env", Metric: "humidity", Value: 57.4775, Unit: "%RH", Time: ts, Seq: 1, Simulated: true},
		{Device: "env", Metric: "humidity", Value: 57, Unit: "%RH", Time: ts, Seq: 2},
	}
	want := `[{"seq":1,"device":"env","metric":"humidity","value":57.4775,"unit":"%RH","ts":"2026-11-23T11:00:00Z","simulated":true},` +
		`{"seq":2,"device":"env","metric":"humidity","value":57,"unit":"%RH","ts":"2026-11-23T11:00:00Z"}]`
	if got := string(AppendPayload(nil, "", rs)); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestPayloadMixedSources(t *testing.T) {
	rs := []reading.Reading{
		{Device: "gw", Metric: "a", Seq: 1},
		{Device: "gw", Metric: "b", Seq: 2, Source: "rules-1"},
		{Device: "gw", Metric: "c", Seq: 3},
	}
	var out []wire
	if err := json.Unmarshal(AppendPayload(nil, "", rs), &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[0].Source != nil || out[1].Source == nil || *out[1].Source != "rules-1" || out[2].Source != nil {
		t.Fatalf("decoded %+v", out)
	}
}

func TestPayloadDoesNotAllocate(t *testing.T) {
	ts := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	rs := []reading.Reading{
		{Device: "demo-temp", Metric: "temperature", Value: 21.5, Unit: "C", Time: ts, Seq: 41},
		{Device: "gw", Metric: "temp_avg", Value: math.NaN(), Unit: "°C\n", Time: ts, Seq: 42, Source: "aggregate-1\xff"},
	}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { buf = AppendPayload(buf[:0], "", rs) }); n != 0 {
		t.Errorf("AppendPayload allocated %v times per call into a large enough buffer", n)
	}
}

func TestPayloadEscapesAndNonFinite(t *testing.T) {
	rs := []reading.Reading{{Device: "a\"b\\c\n\x01é\xff", Metric: "m", Value: math.Inf(1), Unit: "°C", Seq: 1, Time: time.Unix(0, 0)}}
	var out []wire
	if err := json.Unmarshal(AppendPayload(nil, "", rs), &out); err != nil {
		t.Fatal(err)
	}
	if out[0].Device != "a\"b\\c\n\x01é\uFFFD" || out[0].Value != nil || out[0].Unit != "°C" {
		t.Fatalf("decoded %+v", out[0])
	}
}

func FuzzPayload(f *testing.F) {
	f.Add("dev", "metric", 1.5, "C", int64(0), uint64(1), "")
	f.Add("\x00\"\\\u2028", "", math.NaN(), "\xff\xfe", int64(-1), uint64(1<<63), "")
	f.Add("gw", "temp_avg", 20.0, "C", int64(1), uint64(2), "aggregate-1")
	f.Add("gw", "m", math.Inf(1), "", int64(0), uint64(0), "\x1f\"\\\xc3")
	f.Fuzz(func(t *testing.T, dev, metric string, v float64, unit string, ns int64, seq uint64, source string) {
		r := reading.Reading{Device: dev, Metric: metric, Value: v, Unit: unit, Time: time.Unix(0, ns), Seq: seq, Source: source}
		b := AppendPayload(nil, "", []reading.Reading{r, r})
		var out []wire
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		if len(out) != 2 || out[0].Seq != seq {
			t.Fatalf("decoded %+v", out)
		}
		if (source == "") != (out[0].Source == nil) || (source == "" && bytes.Contains(b, []byte(`"source"`))) {
			t.Fatalf("source %q written as %q", source, b)
		}
		if source != "" && utf8.ValidString(source) && *out[0].Source != source {
			t.Fatalf("source %q came back as %q", source, *out[0].Source)
		}
		if source != "" {
			r.Source = ""
			if plain := AppendPayload(nil, "", []reading.Reading{r}); !bytes.HasPrefix(b, plain[:len(plain)-2]) {
				t.Fatalf("with source %q the rest of the object changed: %q vs %q", source, b, plain)
			}
		}
		if !math.IsNaN(v) && !math.IsInf(v, 0) && (out[0].Value == nil || *out[0].Value != v) {
			t.Fatalf("value %v came back as %v", v, out[0].Value)
		}
		if back, err := time.Parse(time.RFC3339Nano, out[0].TS); err == nil && !back.Equal(r.Time) && r.Time.Year() >= 0 && r.Time.Year() <= 9999 {
			t.Fatalf("time %v came back as %v", r.Time, back)
		}
	})
}
