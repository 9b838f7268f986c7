package gauges

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/edged-gateway/edged/reading"
)

// DefaultMaxSeries is Config.MaxSeries's default.
const DefaultMaxSeries = 1000

// Series is one device metric's last value.
type Series struct {
	Device, Metric, Unit string
	Value                float64
}

type key struct{ device, metric, unit string }

// Gauges holds the last values. It is safe for concurrent use.
type Gauges struct {
	max     int
	mu      sync.Mutex
	last    map[key]float64
	dropped atomic.Int64
}

// New returns an empty table of at most maxSeries series (default
// DefaultMaxSeries when maxSeries <= 0).
func New(maxSeries int) *Gauges {
	if maxSeries <= 0 {
		maxSeries = DefaultMaxSeries
	}
	return &Gauges{max: maxSeries, last: map[key]float64{}}
}

// Observe records the readings' values.
func (g *Gauges) Observe(rs []reading.Reading) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, r := range rs {
		k := key{r.Device, r.Metric, r.Unit}
		if _, ok := g.last[k]; !ok && len(g.last) >= g.max {
			g.dropped.Add(1)
			continue
		}
		g.last[k] = r.Value
	}
}

// Forget deletes the series of the devices keep does not hold.
func (g *Gauges) Forget(keep func(device string) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.last {
		if !keep(k.device) {
			delete(g.last, k)
		}
	}
}

// Series returns every series, sorted by device, metric and unit.
func (g *Gauges) Series() []Series {
	g.mu.Lock()
	out := make([]Series, 0, len(g.last))
	for k, v := range g.last {
		out = append(out, Series{Device: k.device, Metric: k.metric, Unit: k.unit, Value: v})
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Series) int {
		if c := strings.Compare(a.Device, b.Device); c != 0 {
			return c
		}
		if c := strings.Compare(a.Metric, b.Metric); c != 0 {
			return c
		}
		return strings.Compare(a.Unit, b.Unit)
	})
	return out
}

// Dropped counts readings not kept because the table was full.
func (g *Gauges) Dropped() int64 { return g.dropped.Load() }
