package ingest

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"edged/reading"
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
