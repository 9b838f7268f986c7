// Package latency is a fixed-bucket histogram of durations that hot paths
// can observe without locks, read at scrape time as a Prometheus histogram.
package latency

import (
	"math"
	"sync/atomic"
	"time"
)

// Bounds are the buckets' upper bounds in seconds: 100 µs to 10 s.
var Bounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Histogram counts observations per bucket. The zero value is ready; it is
// safe for concurrent use.
type Histogram struct {
	counts [17]atomic.Uint64 // one per bound, then +Inf
	sumNs  atomic.Int64
}

// Observe adds one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(Bounds) && s > Bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(int64(d))
}

// Snapshot is a histogram's state: Cumulative[i] counts observations
// ≤ Bounds[i]; Count includes those above the last bound.
type Snapshot struct {
	Cumulative map[float64]uint64
	Count      uint64
	Sum        float64 // seconds
}

// Snapshot reads the histogram.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Cumulative: make(map[float64]uint64, len(Bounds))}
	var total uint64
	for i, b := range Bounds {
		total += h.counts[i].Load()
		s.Cumulative[b] = total
	}
	s.Count = total + h.counts[len(Bounds)].Load()
	s.Sum = float64(h.sumNs.Load()) / 1e9
	return s
}

// Quantile estimates the q-quantile (0..1) from the buckets: the upper
// bound of the bucket it falls in; +Inf past the last.
func (s Snapshot) Quantile(q float64) float64 {
	if s.Count == 0 {
		return math.NaN()
	}
	want := uint64(math.Ceil(q * float64(s.Count)))
	for _, b := range Bounds {
		if s.Cumulative[b] >= want {
			return b
		}
	}
	return math.Inf(1)
}
