package history

import (
	"math"
	"testing"
	"time"
	"unsafe"

	"github.com/edged-gateway/edged/reading"
)

func TestBucketSizeIsWhatTheDocSays(t *testing.T) {
	if got := unsafe.Sizeof(bucket{}); got != bucketBytes {
		t.Fatalf("bucket is %d bytes, the package doc says %d", got, bucketBytes)
	}
	if SeriesBytes != 18960 {
		t.Fatalf("SeriesBytes %d, the doc says 18960", SeriesBytes)
	}
}

func rd(dev, metric string, v float64, t time.Time) reading.Reading {
	return reading.Reading{Device: dev, Metric: metric, Value: v, Unit: "C", Time: t}
}

func TestBucketsAggregateAndRangesDownsample(t *testing.T) {
	h := New(Config{})
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var rs []reading.Reading
	for i := range 120 { // two minutes, two readings a second: 1, 2, 1, 2…
		rs = append(rs, rd("env", "temperature", 1, t0.Add(time.Duration(i)*time.Second)),
			rd("env", "temperature", 2, t0.Add(time.Duration(i)*time.Second+500*time.Millisecond)))
	}
	h.Add(rs)
	now := t0.Add(120 * time.Second)
	five, ok := h.Query("env", "", Ranges[0], now)
	if !ok || len(five) != 1 || five[0].Unit != "C" || five[0].Metric != "temperature" {
		t.Fatalf("5m: %+v %v", five, ok)
	}
	if n := len(five[0].Points); n != 120 {
		t.Fatalf("5m has %d points, want 120 (one a second)", n)
	}
	p := five[0].Points[0]
	if p.Count != 2 || p.Min != 1 || p.Max != 2 || p.Mean != 1.5 || !p.Time.Equal(t0) {
		t.Fatalf("first 1 s bucket %+v", p)
	}
	hour, _ := h.Query("env", "temperature", Ranges[1], now)
	if n := len(hour[0].Points); n != 12 || hour[0].Points[0].Count != 20 {
		t.Fatalf("1h: %d points, first %+v; want 12 of 20 readings", n, hour[0].Points[0])
	}
	day, _ := h.Query("env", "temperature", Ranges[2], now)
	if n := len(day[0].Points); n != 1 || day[0].Points[0].Count != 240 || day[0].Points[0].Mean != 1.5 {
		t.Fatalf("24h: %+v", day[0].Points)
	}
	// Ten minutes on, the 5 min ring no longer answers with those buckets;
	// the 1 h one still does.
	later := now.Add(10 * time.Minute)
	if five, _ := h.Query("env", "", Ranges[0], later); len(five[0].Points) != 0 {
		t.Fatalf("5m still shows %d points 10 min later", len(five[0].Points))
	}
	if hour, _ := h.Query("env", "", Ranges[1], later); len(hour[0].Points) != 12 {
		t.Fatalf("1h lost points: %d", len(hour[0].Points))
	}
}

func TestRingWrapsAndIgnoresOlderThanItsSlot(t *testing.T) {
	h := New(Config{})
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	h.Add([]reading.Reading{rd("d", "m", 5, t0.Add(300*time.Second))}) // slot of t0, 5 min later
	h.Add([]reading.Reading{rd("d", "m", 7, t0)})                      // same 1 s slot, older: ignored there
	five, _ := h.Query("d", "m", Ranges[0], t0.Add(300*time.Second))
	if len(five[0].Points) != 1 || five[0].Points[0].Mean != 5 {
		t.Fatalf("5m: %+v", five[0].Points)
	}
	hour, _ := h.Query("d", "m", Ranges[1], t0.Add(300*time.Second))
	if len(hour[0].Points) != 2 {
		t.Fatalf("1h should keep both: %+v", hour[0].Points)
	}
}

func TestCapForgetAndBadValues(t *testing.T) {
	h := New(Config{MaxSeries: 2})
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	h.Add([]reading.Reading{rd("a", "x", 1, t0), rd("a", "y", 1, t0), rd("b", "x", 1, t0), rd("a", "z", math.NaN(), t0),
		rd("a", "x", math.Inf(1), t0), rd("a", "x", 3, time.Unix(0, 0))})
	if n, ignored := h.Stats(); n != 2 || ignored != 1 {
		t.Fatalf("series %d ignored %d, want 2 and 1", n, ignored)
	}
	if s, _ := h.Query("a", "x", Ranges[0], t0); len(s[0].Points) != 1 || s[0].Points[0].Mean != 1 {
		t.Fatalf("a/x: %+v", s)
	}
	h.Forget("a")
	if _, ok := h.Query("a", "", Ranges[0], t0); ok {
		t.Fatal("a is still there after Forget")
	}
	h.Add([]reading.Reading{rd("b", "x", 1, t0)})
	if n, _ := h.Stats(); n != 1 { // b/x, turned away by the cap before, now kept
		t.Fatalf("series %d, want 1", n)
	}
	if _, ok := h.Query("b", "x", Ranges[0], t0); !ok {
		t.Fatal("b/x not kept once the cap had room")
	}
	if _, ok := RangeByName("1h"); !ok {
		t.Fatal("1h")
	}
	if _, ok := RangeByName("2h"); ok {
		t.Fatal("2h")
	}
}

func TestAlertsKeepTheNewest(t *testing.T) {
	var a Alerts
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	kind := func(r reading.Reading) string {
		if r.Source == "porch-rules" {
			return "rules"
		}
		return ""
	}
	for i := range MaxAlerts + 5 {
		r := rd("porch", "alert_hot", float64(i), t0.Add(time.Duration(i)*time.Second))
		r.Source = "porch-rules"
		a.Add([]reading.Reading{r, rd("porch", "temperature", 1, t0)}, kind)
	}
	got, total := a.Newest(3)
	if total != MaxAlerts+5 || len(got) != 3 || got[0].Value != MaxAlerts+4 || got[2].Value != MaxAlerts+2 || got[0].Kind != "rules" {
		t.Fatalf("total %d, newest %+v", total, got)
	}
	if all, _ := a.Newest(1000); len(all) != MaxAlerts || all[MaxAlerts-1].Value != 5 {
		t.Fatalf("kept %d, oldest %+v", len(all), all[len(all)-1])
	}
}
