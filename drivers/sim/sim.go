package sim

import (
	"context"
	"errors"
	"fmt"
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
	name   string
	metric string
	unit   string
	wave   *waveform.Wave
	now    func() time.Time
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

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Simulated reports true: a waveform source's readings are simulated, and
// the poller marks them so.
func (d *Device) Simulated() bool { return true }

// Read appends the reading for this instant to dst and returns it. It never
// fails; the error is there to satisfy the poller's device contract.
func (d *Device) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	t := d.now()
	return append(dst, reading.Reading{Device: d.name, Metric: d.metric, Value: d.wave.At(t), Unit: d.unit, Time: t}), nil
}
