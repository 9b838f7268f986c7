package latency

import (
	"testing"
	"time"
)

func TestBucketsAndQuantile(t *testing.T) {
	var h Histogram
	for range 90 {
		h.Observe(300 * time.Microsecond) // ≤ 0.0005
	}
	for range 10 {
		h.Observe(20 * time.Millisecond) // ≤ 0.025
	}
	h.Observe(time.Minute) // beyond the last bound
	s := h.Snapshot()
	if s.Count != 101 || s.Cumulative[0.00025] != 0 || s.Cumulative[0.0005] != 90 || s.Cumulative[0.025] != 100 || s.Cumulative[10] != 100 {
		t.Fatalf("snapshot %+v", s)
	}
	if got := s.Quantile(0.5); got != 0.0005 {
		t.Errorf("p50 %v, want 0.0005", got)
	}
	if got := s.Quantile(0.95); got != 0.025 {
		t.Errorf("p95 %v, want 0.025", got)
	}
	if want := 90*0.0003 + 10*0.02 + 60; s.Sum < want-1e-9 || s.Sum > want+1e-9 {
		t.Errorf("sum %v, want %v", s.Sum, want)
	}
}
