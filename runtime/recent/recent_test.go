package recent

import (
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

func at(dev, metric string, v float64, t time.Time) reading.Reading {
	return reading.Reading{Device: dev, Metric: metric, Value: v, Time: t}
}

func TestRingKeepsTheNewestInOrder(t *testing.T) {
	r := New(Config{PerDevice: 3})
	t0 := time.Now()
	for i := range 5 {
		r.Add([]reading.Reading{at("env", "t", float64(i), t0.Add(time.Duration(i)*time.Second))})
	}
	rs, ok := r.Since("env", time.Time{}, t0.Add(5*time.Second))
	if !ok || len(rs) != 3 || rs[0].Value != 2 || rs[2].Value != 4 {
		t.Fatalf("got %v, want the newest 3 (2,3,4) oldest first", rs)
	}
	rs, _ = r.Since("env", t0.Add(3*time.Second), t0.Add(5*time.Second))
	if len(rs) != 1 || rs[0].Value != 4 {
		t.Fatalf("since t0+3s: got %v, want only 4", rs)
	}
	if _, ok := r.Since("nope", time.Time{}, t0); ok {
		t.Error("an unknown device was reported as known")
	}
}

func TestMaxAgeAndLastPerMetric(t *testing.T) {
	r := New(Config{MaxAge: time.Minute})
	t0 := time.Now()
	r.Add([]reading.Reading{at("env", "t", 1, t0.Add(-2*time.Minute)), at("env", "h", 40, t0), at("env", "t", 2, t0)})
	rs, _ := r.Since("env", time.Time{}, t0)
	if len(rs) != 2 {
		t.Fatalf("got %v, want the two readings younger than a minute", rs)
	}
	last := r.Last("env")
	if len(last) != 2 || last[0].Metric != "h" || last[1].Metric != "t" || last[1].Value != 2 {
		t.Fatalf("last %v, want h=40 and t=2 sorted by metric", last)
	}
}

func TestDeviceCap(t *testing.T) {
	r := New(Config{MaxDevices: 2})
	now := time.Now()
	r.Add([]reading.Reading{at("a", "m", 1, now), at("b", "m", 1, now), at("c", "m", 1, now)})
	if got := r.Devices(); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("devices %v, want a and b only", got)
	}
}

func TestForgetUnlistsADevice(t *testing.T) {
	r := New(Config{})
	t0 := time.Now()
	r.Add([]reading.Reading{at("env", "t", 1, t0), at("door", "open", 0, t0)})
	r.Forget("door")
	if got := r.Devices(); len(got) != 1 || got[0] != "env" {
		t.Fatalf("devices after Forget(door): %v", got)
	}
	if _, ok := r.Since("door", time.Time{}, t0); ok {
		t.Fatal("door's readings are still served")
	}
}
