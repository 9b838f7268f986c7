package gpioin

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/reading"
)

// Config is the options block of a gpio-in device. The zero value reads
// the level of a pin without pull resistor and counts nothing.
type Config struct {
	// Metric names the level reading; default "level".
	Metric string `yaml:"metric"`
	// Pull is the internal pull resistor: up, down or none (default).
	Pull string `yaml:"pull"`
	// Edge is what to count: none (default), rising, falling or both.
	Edge string `yaml:"edge"`
	// Debounce is how long the level must hold still before a change
	// counts, e.g. 20ms for a push button; default 0, every edge counts.
	// It needs Edge.
	Debounce time.Duration `yaml:"debounce"`
}

var pulls = map[string]gpio.Pull{"": gpio.Float, "none": gpio.Float, "up": gpio.PullUp, "down": gpio.PullDown}

var edges = map[string]gpio.Edge{"": gpio.NoEdge, "none": gpio.NoEdge, "rising": gpio.RisingEdge, "falling": gpio.FallingEdge, "both": gpio.BothEdges}

// maxDebounce bounds Debounce: longer is a configuration mistake.
const maxDebounce = 10 * time.Second

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	if _, ok := pulls[c.Pull]; !ok {
		return fmt.Errorf("options.pull: %q is not a pull, use up, down or none", c.Pull)
	}
	if _, ok := edges[c.Edge]; !ok {
		return fmt.Errorf("options.edge: %q is not an edge, use none, rising, falling or both", c.Edge)
	}
	switch {
	case c.Debounce < 0 || c.Debounce > maxDebounce:
		return fmt.Errorf("options.debounce: %s is not a debounce time, use 0 to %s, e.g. 20ms", c.Debounce, maxDebounce)
	case c.Debounce > 0 && edges[c.Edge] == gpio.NoEdge:
		return fmt.Errorf("options.debounce: only used when counting edges: set options.edge (rising, falling or both) or remove debounce")
	}
	if c.Metric == "edges" {
		return fmt.Errorf("options.metric: %q is the edge counter's metric, choose another name", c.Metric)
	}
	return nil
}

// slice is the longest Run waits for an edge in one call.
const slice = 100 * time.Millisecond

// Device is one input pin. Its methods are safe for concurrent use.
type Device struct {
	name     string
	metric   string
	edge     gpio.Edge
	debounce time.Duration
	now      func() time.Time
	pin      gpio.PinIn

	running atomic.Bool
	count   atomic.Int64
}

// New sets pin up as an input (pull, and edge detection when counting) and
// returns the device. now may be nil (time.Now).
func New(name string, pin gpio.PinIn, cfg Config, now func() time.Time) (*Device, error) {
	if name == "" {
		return nil, errors.New("gpio-in: device needs a name")
	}
	if pin == nil {
		return nil, fmt.Errorf("gpio-in %s: no pin", name)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gpio-in %s: %w", name, err)
	}
	if cfg.Metric == "" {
		cfg.Metric = "level"
	}
	if now == nil {
		now = time.Now
	}
	d := &Device{name: name, metric: cfg.Metric, edge: edges[cfg.Edge], debounce: cfg.Debounce, now: now, pin: pin}
	hw := d.edge
	if d.debounce > 0 {
		hw = gpio.BothEdges // settled changes are judged in software
	}
	if err := pin.In(pulls[cfg.Pull], hw); err != nil {
		return nil, fmt.Errorf("gpio-in %s (%s): set up as input (pull %s, edge %s): %w", name, pin, pulls[cfg.Pull], hw, err)
	}
	return d, nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Read appends the level (1 high, 0 low) and, when counting, the number of
// edges counted since start as metric "edges".
func (d *Device) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	t := d.now()
	v := 0.0
	if d.pin.Read() == gpio.High {
		v = 1
	}
	dst = append(dst, reading.Reading{Device: d.name, Metric: d.metric, Value: v, Time: t})
	if d.edge != gpio.NoEdge {
		dst = append(dst, reading.Reading{Device: d.name, Metric: "edges", Value: float64(d.count.Load()), Time: t})
	}
	return dst, nil
}

// Edges returns the number of edges counted since start.
func (d *Device) Edges() int64 { return d.count.Load() }

// Run counts edges until ctx ends, then returns nil, at most 100 ms (or
// the debounce time, if longer) later. Without an edge to count it just
// waits for ctx. Only one Run may be active at a time.
func (d *Device) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return fmt.Errorf("gpio-in %s (%s): run: already running", d.name, d.pin)
	}
	defer d.running.Store(false)
	if d.edge == gpio.NoEdge {
		<-ctx.Done()
		return nil
	}
	settled := d.pin.Read()
	for ctx.Err() == nil {
		if !d.wait(ctx, slice) {
			continue
		}
		if d.debounce == 0 {
			d.count.Add(1)
			continue
		}
		for ctx.Err() == nil && d.pin.WaitForEdge(d.debounce) {
			// still bouncing: each edge restarts the quiet time
		}
		l := d.pin.Read()
		if l != settled && (d.edge == gpio.BothEdges || (d.edge == gpio.RisingEdge) == (l == gpio.High)) {
			d.count.Add(1)
		}
		settled = l
	}
	return nil
}

// wait waits for an edge for up to timeout. When WaitForEdge returns false
// early, it sleeps out the rest so that a broken or reconfigured pin cannot
// make Run spin.
func (d *Device) wait(ctx context.Context, timeout time.Duration) bool {
	start := time.Now()
	if d.pin.WaitForEdge(timeout) {
		return true
	}
	if rest := timeout - time.Since(start); rest > timeout/2 {
		t := time.NewTimer(rest)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return false
}
