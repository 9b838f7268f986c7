package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/waveform"
)

// Config is the options block of a sim device.
type Config struct {
	// Metric names what is measured; default "value".
	Metric string `yaml:"metric"`
	// Unit is carried on every reading, e.g. "C"; default empty.
	Unit string `yaml:"unit"`
	// Waveform is sine (default), square, random_walk or constant.
	Waveform string `yaml:"waveform"`
	// Min and Max bound the values; constant emits Min.
	Min float64 `yaml:"min"`
	Max float64 `yaml:"max"`
	// Period is the cycle of sine/square and the step of random_walk;
	// default 10m.
	Period time.Duration `yaml:"period"`
	// Seed makes several devices differ while each stays repeatable.
	Seed int64 `yaml:"seed"`
}

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	return c.wave().Validate()
}

func (c Config) wave() waveform.Config {
	return waveform.Config{Shape: waveform.Shape(c.Waveform), Min: c.Min, Max: c.Max, Period: c.Period, Seed: c.Seed}
}

// Device produces one reading per Read, the waveform's value at that instant.
type Device struct {
	name string
	now  func() time.Time

	mu     sync.Mutex // Reconfigure may change the three below
	metric string
	unit   string
	wave   *waveform.Wave
}

// New returns a sim device called name. now may be nil (time.Now).
func New(name string, cfg Config, now func() time.Time) (*Device, error) {
	if name == "" {
		return nil, errors.New("sim: device needs a name")
	}
	w, err := waveform.New(cfg.wave())
	if err != nil {
		return nil, fmt.Errorf("sim %s: options: %w", name, err)
	}
	if cfg.Metric == "" {
		cfg.Metric = "value"
	}
	if now == nil {
		now = time.Now
	}
	return &Device{name: name, metric: cfg.Metric, unit: cfg.Unit, wave: w, now: now}, nil
}

// LiveOptions are the options Reconfigure takes while the device runs:
// all of them (a waveform has no connection to reopen).
func (d *Device) LiveOptions() []string {
	return []string{"metric", "unit", "waveform", "min", "max", "period", "seed"}
}

// Reconfigure makes the device produce the waveform of cfg (a Config)
// from its next Read on, without reopening it. A cfg that does not check
// leaves the device as it was.
func (d *Device) Reconfigure(cfg any) error {
	c, ok := cfg.(Config)
	if !ok {
		return fmt.Errorf("sim %s: reconfigure: options are %T, not sim.Config", d.name, cfg)
	}
	w, err := waveform.New(c.wave())
	if err != nil {
		return fmt.Errorf("sim %s: options: %w", d.name, err)
	}
	if c.Metric == "" {
		c.Metric = "value"
	}
	d.mu.Lock()
	d.metric, d.unit, d.wave = c.Metric, c.Unit, w
	d.mu.Unlock()
	return nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Simulated reports true: a waveform source's readings are simulated, and
// the poller marks them so.
func (d *Device) Simulated() bool { return true }

// Read appends the reading for this instant to dst and returns it. It never
// fails; the error is there to satisfy the poller's device contract.
func (d *Device) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	t := d.now()
	d.mu.Lock()
	metric, unit, wave := d.metric, d.unit, d.wave
	d.mu.Unlock()
	return append(dst, reading.Reading{Device: d.name, Metric: metric, Value: wave.At(t), Unit: unit, Time: t}), nil
}
