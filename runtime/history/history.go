// Package history keeps a downsampled, bounded history of every device's
// metrics for the web console's plots: per series (device × metric) three
// rings of time buckets, one per range:
//
//	5m:  300 buckets of 1 s
//	1h:  360 buckets of 10 s
//	24h: 288 buckets of 5 min
//
// Each bucket holds the count, minimum, maximum and mean of the readings
// that fell into it (float32: plots need no more). A bucket is 20 bytes, a
// series 948 buckets = 18,960 bytes, allocated when the series first
// appears; Config.MaxSeries (default 128) caps the series, so the rings
// take at most MaxSeries × 18,960 bytes (2.3 MiB by default) plus the
// names. Readings of series beyond the cap are counted, not kept.
package history

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// Range is one history a series keeps: Slots buckets of Step.
type Range struct {
	Name  string
	Step  time.Duration
	Slots int
}

// Ranges are the histories kept, shortest first.
var Ranges = []Range{
	{Name: "5m", Step: time.Second, Slots: 300},
	{Name: "1h", Step: 10 * time.Second, Slots: 360},
	{Name: "24h", Step: 5 * time.Minute, Slots: 288},
}

// RangeByName returns the range called name (5m, 1h or 24h).
func RangeByName(name string) (Range, bool) {
	for _, r := range Ranges {
		if r.Name == name {
			return r, true
		}
	}
	return Range{}, false
}

// RangeNames is "5m, 1h, 24h", for error messages.
func RangeNames() string {
	names := make([]string, len(Ranges))
	for i, r := range Ranges {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

// DefaultMaxSeries is Config.MaxSeries's default.
const DefaultMaxSeries = 128

// SeriesBytes is the memory of one series' buckets.
const SeriesBytes = bucketBytes * (300 + 360 + 288)

const bucketBytes = 20 // unsafe.Sizeof(bucket{}), checked by a test

// Config bounds the memory. The zero value is usable.
type Config struct {
	// MaxSeries caps the device × metric series kept; default 128.
	MaxSeries int
}

// History holds the rings; safe for concurrent use.
type History struct {
	max     int
	mu      sync.Mutex
	series  map[key]*series
	ignored uint64 // readings of series past the cap
}

type key struct{ device, metric string }

type series struct {
	unit  string
	rings [3][]bucket
}

// bucket covers [idx·step, (idx+1)·step) in unix time; n == 0 is empty.
type bucket struct {
	idx            uint32
	n              uint32
	min, max, mean float32
}

// New returns an empty History.
func New(cfg Config) *History {
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = DefaultMaxSeries
	}
	return &History{max: cfg.MaxSeries, series: map[key]*series{}}
}

// Add folds readings into their series' buckets. NaN and infinite values
// and times before 1970 are skipped.
func (h *History) Add(rs []reading.Reading) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range rs {
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Time.Unix() <= 0 {
			continue
		}
		k := key{r.Device, r.Metric}
		s := h.series[k]
		if s == nil {
			if len(h.series) >= h.max {
				h.ignored++
				continue
			}
			s = &series{}
			for i, rg := range Ranges {
				s.rings[i] = make([]bucket, rg.Slots)
			}
			h.series[k] = s
		}
		if r.Unit != "" {
			s.unit = r.Unit
		}
		v := float32(r.Value)
		for i, rg := range Ranges {
			idx := r.Time.Unix() / int64(rg.Step/time.Second)
			if idx > math.MaxUint32 {
				continue
			}
			b := &s.rings[i][idx%int64(rg.Slots)]
			switch {
			case b.n > 0 && int64(b.idx) > idx: // the slot holds newer time: this reading is older than the ring
			case b.n == 0 || int64(b.idx) < idx:
				*b = bucket{idx: uint32(idx), n: 1, min: v, max: v, mean: v}
			default:
				b.n++
				b.min, b.max = min(b.min, v), max(b.max, v)
				b.mean += (v - b.mean) / float32(b.n)
			}
		}
	}
}

// Point is one bucket of a series.
type Point struct {
	Time  time.Time `json:"ts"` // the bucket's start
	Mean  float64   `json:"mean"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Count int       `json:"count"`
}

// Series is one metric's history over a range.
type Series struct {
	Metric string  `json:"metric"`
	Unit   string  `json:"unit"`
	Points []Point `json:"points"`
}

// Query returns device's series (only metric's when it is not empty),
// sorted by metric, with the buckets of rg that end after now−rg's span,
// oldest first; ok is false when there is no such series.
func (h *History) Query(device, metric string, rg Range, now time.Time) (out []Series, ok bool) {
	ri := slices.IndexFunc(Ranges, func(r Range) bool { return r.Name == rg.Name })
	if ri < 0 {
		return nil, false
	}
	step := int64(rg.Step / time.Second)
	last := now.Unix() / step
	first := last - int64(rg.Slots) + 1
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, s := range h.series {
		if k.device != device || (metric != "" && k.metric != metric) {
			continue
		}
		se := Series{Metric: k.metric, Unit: s.unit, Points: []Point{}}
		ring := s.rings[ri]
		for idx := first; idx <= last; idx++ {
			if idx < 0 {
				continue
			}
			b := ring[idx%int64(rg.Slots)]
			if b.n == 0 || int64(b.idx) != idx {
				continue
			}
			se.Points = append(se.Points, Point{Time: time.Unix(idx*step, 0).UTC(), Mean: round(b.mean), Min: round(b.min),
				Max: round(b.max), Count: int(b.n)})
		}
		out = append(out, se)
	}
	slices.SortFunc(out, func(a, b Series) int { return strings.Compare(a.Metric, b.Metric) })
	return out, len(out) > 0
}

// round turns a float32 back into the float64 of its shortest decimal
// form (21.5f → 21.5, 0.1f → 0.1, not 0.10000000149).
func round(f float32) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil {
		return float64(f)
	}
	return v
}

// Forget drops every series of device (a plan removed it).
func (h *History) Forget(device string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.series {
		if k.device == device {
			delete(h.series, k)
		}
	}
}

// Stats says how many series are kept and how many readings the cap
// turned away.
func (h *History) Stats() (series int, ignored uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.series), h.ignored
}
