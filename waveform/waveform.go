package waveform

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Shape names a waveform.
type Shape string

// The shapes a Config may name.
const (
	Sine       Shape = "sine"
	Square     Shape = "square"
	RandomWalk Shape = "random_walk"
	Constant   Shape = "constant"
)

// Shapes lists every supported shape, for help texts and errors.
var Shapes = []Shape{Sine, Square, RandomWalk, Constant}

// Config describes one waveform. The zero Min/Max is allowed (a flat zero).
type Config struct {
	// Shape is the waveform; default sine.
	Shape Shape
	// Min and Max bound the value. For constant the value is Min and Max
	// is ignored.
	Min, Max float64
	// Period is the cycle length of sine and square, and the step interval
	// of the random walk; default 10m.
	Period time.Duration
	// Seed selects the random walk and shifts the phase of sine and square
	// by seed/1000 of a period, so several devices differ but repeat.
	Seed int64
}

// DefaultPeriod is the Period used when none is given.
const DefaultPeriod = 10 * time.Minute

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	if c.Shape != "" && !c.Shape.valid() {
		return fmt.Errorf("waveform: %q is not a waveform, use one of %s", c.Shape, shapeList())
	}
	if c.Max < c.Min && c.Shape != Constant {
		return fmt.Errorf("max (%g) is below min (%g): swap them", c.Max, c.Min)
	}
	if c.Period < 0 {
		return fmt.Errorf("period %s is negative", c.Period)
	}
	if math.IsNaN(c.Min) || math.IsNaN(c.Max) || math.IsInf(c.Min, 0) || math.IsInf(c.Max, 0) {
		return fmt.Errorf("min and max must be finite numbers")
	}
	return nil
}

func (s Shape) valid() bool {
	for _, k := range Shapes {
		if s == k {
			return true
		}
	}
	return false
}

func shapeList() string {
	names := make([]string, len(Shapes))
	for i, s := range Shapes {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// Wave is a validated waveform; At gives its value at any instant.
type Wave struct {
	cfg Config
}

// New returns the waveform c describes, or the error Validate gives.
func New(c Config) (*Wave, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Shape == "" {
		c.Shape = Sine
	}
	if c.Period == 0 {
		c.Period = DefaultPeriod
	}
	return &Wave{cfg: c}, nil
}

// At returns the value at t. It depends only on t and the configuration.
func (w *Wave) At(t time.Time) float64 {
	c := w.cfg
	mid, amp := (c.Max+c.Min)/2, (c.Max-c.Min)/2
	switch c.Shape {
	case Constant:
		return c.Min
	case Square:
		if w.phase(t) < 0.5 {
			return c.Max
		}
		return c.Min
	case RandomWalk:
		return w.walk(t)
	default: // Sine
		return mid + amp*math.Sin(2*math.Pi*w.phase(t))
	}
}

// phase is the position of t within the period, in [0,1).
func (w *Wave) phase(t time.Time) float64 {
	p := int64(w.cfg.Period)
	off := (w.cfg.Seed % 1000) * (p / 1000)
	ns := (t.UnixNano() + off) % p
	if ns < 0 {
		ns += p
	}
	return float64(ns) / float64(p)
}

// walk is a bounded random walk that steps once per period. Its value at
// step n is a fold of a hash of (seed, n) over a window of steps, so any
// instant is computed in constant time without remembering history.
func (w *Wave) walk(t time.Time) float64 {
	c := w.cfg
	step := t.UnixNano() / int64(c.Period)
	const window = 16
	var sum float64
	for i := int64(0); i < window; i++ {
		sum += unit(c.Seed, step-i)*2 - 1
	}
	// sum is in [-window, window]; map to [min, max].
	return c.Min + (c.Max-c.Min)*(sum/window+1)/2
}

// unit hashes (seed, n) to a float in [0,1) with splitmix64.
func unit(seed, n int64) float64 {
	x := uint64(seed)*0x9E3779B97F4A7C15 ^ uint64(n)
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11) / float64(1<<53)
}
