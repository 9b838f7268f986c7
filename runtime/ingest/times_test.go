package ingest

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

func TestJudge(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	g := New(nil, Config{Now: func() time.Time { return now }, MaxAge: func() time.Duration { return 24 * time.Hour },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rs := []reading.Reading{
		{Device: "ok", Metric: "m", Time: now.Add(-time.Hour)},
		{Device: "zero", Metric: "m"},
		{Device: "y9999", Metric: "m", Time: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Device: "y1000", Metric: "m", Time: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Device: "ahead", Metric: "m", Time: now.Add(11 * time.Minute)},
		{Device: "skewed", Metric: "m", Time: now.Add(9 * time.Minute)},
		{Device: "y2010", Metric: "m", Time: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	kept := g.Judge("sensors/x", rs)
	var names []string
	for _, r := range kept {
		names = append(names, r.Device)
	}
	if got := strings.Join(names, ","); got != "ok,zero,skewed" {
		t.Fatalf("kept %s, want ok,zero,skewed", got)
	}
	st := g.Stats()
	if st.RefusedTime != 4 {
		t.Errorf("RefusedTime %d, want 4", st.RefusedTime)
	}
	for dev, why := range map[string]string{"y9999": "1678–2262", "y1000": "1678–2262", "ahead": "ahead", "y2010": "max_age 24h0m0s"} {
		if r := st.Refused[dev]; r.Readings != 1 || !strings.Contains(r.Last, why) || !strings.Contains(r.Last, "topic sensors/x") {
			t.Errorf("%s: %+v, want one saying %q and the topic", dev, r, why)
		}
	}
	if !strings.Contains(logs.String(), "device=y9999") || !strings.Contains(logs.String(), "topic=sensors/x") {
		t.Errorf("log does not name device and topic:\n%s", logs.String())
	}
	// Many devices: the counts stay bounded.
	for i := range 2 * maxRefusalNames {
		g.Judge("", []reading.Reading{{Device: strings.Repeat("d", i+1), Time: now.Add(time.Hour)}})
	}
	if n := len(g.Stats().Refused); n > maxRefusalNames+1 {
		t.Errorf("%d device names kept, want at most %d", n, maxRefusalNames+1)
	}
}

// TestJudgeMessageSaysWhatItRefusedOrRestamped: the verdict counts the
// refused readings and those the outbox could not store at all; with a
// receive time the same readings are kept with it, and each gets a
// <metric>_sensor_time reading holding the sensor's time in Unix seconds.
func TestJudgeMessageSaysWhatItRefusedOrRestamped(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	g := New(nil, Config{Now: func() time.Time { return now }, MaxAge: func() time.Duration { return 24 * time.Hour }})
	y9999 := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	msg := func() []reading.Reading {
		return []reading.Reading{
			{Device: "d", Metric: "ok", Time: now.Add(-time.Minute)},
			{Device: "d", Metric: "far", Time: y9999},
			{Device: "d", Metric: "ahead", Time: now.Add(time.Hour)},
		}
	}
	kept, v := g.JudgeMessage("t/d", msg(), time.Time{})
	if len(kept) != 1 || kept[0].Metric != "ok" || v.Refused != 2 || v.Unstorable != 1 || v.Restamped != 0 ||
		!strings.HasPrefix(v.Reason, "d/far: time 9999-01-01T00:00:00Z outside the years") {
		t.Fatalf("refuse: kept %v, verdict %+v", kept, v)
	}

	receive := now.Add(time.Second)
	kept, v = g.JudgeMessage("t/d", msg(), receive)
	if v.Refused != 0 || v.Restamped != 2 {
		t.Fatalf("receive: verdict %+v, want 2 restamped, none refused", v)
	}
	want := map[string]reading.Reading{
		"ok":                {Time: now.Add(-time.Minute)},
		"far":               {Time: receive},
		"ahead":             {Time: receive},
		"far_sensor_time":   {Time: receive, Value: float64(y9999.Unix()), Unit: "s"},
		"ahead_sensor_time": {Time: receive, Value: float64(now.Add(time.Hour).Unix()), Unit: "s"},
	}
	if len(kept) != len(want) {
		t.Fatalf("receive: kept %v, want %d readings", kept, len(want))
	}
	for _, r := range kept {
		w, ok := want[r.Metric]
		if !ok || !r.Time.Equal(w.Time) || r.Device != "d" || (w.Unit != "" && (r.Value != w.Value || r.Unit != w.Unit)) {
			t.Errorf("receive: kept %v, want %s at %s value %g %s", r, r.Metric, w.Time, w.Value, w.Unit)
		}
	}
	st := g.Stats()
	if st.RefusedTime != 2 || st.RestampedTime != 2 || st.Refused["d"].Readings != 2 || st.Refused["d"].Restamped != 2 ||
		!strings.HasPrefix(st.Refused["d"].Last, "restamped: ") {
		t.Errorf("stats %+v, want 2 refused and 2 restamped for d, the last saying restamped", st)
	}
}
