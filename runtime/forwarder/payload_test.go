package forwarder

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"edged/reading"
)

type wire struct {
	Seq    uint64   `json:"seq"`
	Device string   `json:"device"`
	Metric string   `json:"metric"`
	Value  *float64 `json:"value"`
	Unit   string   `json:"unit"`
	TS     string   `json:"ts"`
}

func TestPayloadIsTheDocumentedJSON(t *testing.T) {
	ts := time.Date(2026, 11, 23, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	rs := []reading.Reading{
		{Device: "demo-temp", Metric: "temperature", Value: 21.5, Unit: "C", Time: ts, Seq: 41},
		{Device: "demo-temp", Metric: "temperature", Value: 1e-7, Unit: "C", Time: ts, Seq: 42},
	}
	got := string(AppendPayload(nil, rs))
	want := `[{"seq":41,"device":"demo-temp","metric":"temperature","value":21.5,"unit":"C","ts":"2026-11-23T11:00:00.123456789Z"},` +
		`{"seq":42,"device":"demo-temp","metric":"temperature","value":1e-07,"unit":"C","ts":"2026-11-23T11:00:00.123456789Z"}]`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestPayloadEscapesAndNonFinite(t *testing.T) {
	rs := []reading.Reading{{Device: "a\"b\\c\n\x01é\xff", Metric: "m", Value: math.Inf(1), Unit: "°C", Seq: 1, Time: time.Unix(0, 0)}}
	var out []wire
	if err := json.Unmarshal(AppendPayload(nil, rs), &out); err != nil {
		t.Fatal(err)
	}
	if out[0].Device != "a\"b\\c\n\x01é\uFFFD" || out[0].Value != nil || out[0].Unit != "°C" {
		t.Fatalf("decoded %+v", out[0])
	}
}

func FuzzPayload(f *testing.F) {
	f.Add("dev", "metric", 1.5, "C", int64(0), uint64(1))
	f.Add("\x00\"\\\u2028", "", math.NaN(), "\xff\xfe", int64(-1), uint64(1<<63))
	f.Fuzz(func(t *testing.T, dev, metric string, v float64, unit string, ns int64, seq uint64) {
		r := reading.Reading{Device: dev, Metric: metric, Value: v, Unit: unit, Time: time.Unix(0, ns), Seq: seq}
		b := AppendPayload(nil, []reading.Reading{r, r})
		var out []wire
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("invalid JSON %q: %v", b, err)
		}
		if len(out) != 2 || out[0].Seq != seq {
			t.Fatalf("decoded %+v", out)
		}
		if !math.IsNaN(v) && !math.IsInf(v, 0) && (out[0].Value == nil || *out[0].Value != v) {
			t.Fatalf("value %v came back as %v", v, out[0].Value)
		}
		if back, err := time.Parse(time.RFC3339Nano, out[0].TS); err == nil && !back.Equal(r.Time) && r.Time.Year() >= 0 && r.Time.Year() <= 9999 {
			t.Fatalf("time %v came back as %v", r.Time, back)
		}
	})
}
