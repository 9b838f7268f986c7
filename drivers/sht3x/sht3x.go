package sht3x

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/edged-gateway/edged/drivers/internal/wait"
	"github.com/edged-gateway/edged/reading"
)

// DefaultAddr is the sensor's address with ADDR low; 0x45 is the other.
const DefaultAddr uint16 = 0x44

// Config is the options block of an sht3x device. The zero value is valid.
type Config struct {
	// Repeatability trades time and self-heating for noise: high (default,
	// ≤16 ms per reading, 0.04 °C/0.08 %RH noise), medium (≤7 ms) or low
	// (≤5 ms).
	Repeatability string `yaml:"repeatability"`
}

// shot is a single-shot measurement command (clock stretching disabled)
// and the datasheet's maximum duration, rounded up.
type shot struct {
	cmd  [2]byte
	wait time.Duration
}

var shots = map[string]shot{
	"high":   {cmd: [2]byte{0x24, 0x00}, wait: 16 * time.Millisecond},
	"medium": {cmd: [2]byte{0x24, 0x0B}, wait: 7 * time.Millisecond},
	"low":    {cmd: [2]byte{0x24, 0x16}, wait: 5 * time.Millisecond},
}

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	if _, ok := shots[c.repeatability()]; !ok {
		return fmt.Errorf("options.repeatability: %q is not a repeatability, use high, medium or low", c.Repeatability)
	}
	return nil
}

func (c Config) repeatability() string {
	if c.Repeatability == "" {
		return "high"
	}
	return c.Repeatability
}

// Command words other than the measurement.
var (
	cmdSoftReset = []byte{0x30, 0xA2}
)

// resetWait is the datasheet's maximum soft reset time (1.5 ms), rounded up.
const resetWait = 2 * time.Millisecond

// Device is one SHT3x. Its methods are safe for concurrent use; bus
// transactions of one device never interleave.
type Device struct {
	name  string
	where string // "I2C1 0x44", for errors
	shot  shot
	now   func() time.Time
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error

	mu  sync.Mutex
	dev i2c.Dev
}

// New returns the sensor at addr on bus (addr 0 means DefaultAddr) after a
// soft reset, which fails with an error naming the device, bus and address
// when nothing answers. now may be nil (time.Now).
func New(name string, bus i2c.Bus, addr uint16, cfg Config, now func() time.Time) (*Device, error) {
	if name == "" {
		return nil, errors.New("sht3x: device needs a name")
	}
	if bus == nil {
		return nil, fmt.Errorf("sht3x %s: no I2C bus", name)
	}
	if addr == 0 {
		addr = DefaultAddr
	}
	if addr != 0x44 && addr != 0x45 {
		return nil, fmt.Errorf("sht3x %s: address 0x%02x is not an SHT3x address, use 0x44 or 0x45", name, addr)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sht3x %s: %w", name, err)
	}
	if now == nil {
		now = time.Now
	}
	d := &Device{
		name:  name,
		where: fmt.Sprintf("%s 0x%02x", bus, addr),
		shot:  shots[cfg.repeatability()],
		now:   now,
		sleep: wait.Sleep,
		dev:   i2c.Dev{Bus: bus, Addr: addr},
	}
	if err := d.Reset(context.Background()); err != nil {
		return nil, err
	}
	return d, nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Reset sends a soft reset and waits for the sensor to come back.
func (d *Device) Reset(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.dev.Tx(cmdSoftReset, nil); err != nil {
		return d.wrap("soft reset", err)
	}
	if err := d.sleep(ctx, resetWait); err != nil {
		return d.wrap("soft reset", err)
	}
	return nil
}

// Read measures once and appends "temperature" (C) and "humidity" (%RH)
// to dst. On any failure, a NACK or a CRC mismatch among them, it returns
// dst unchanged and an error naming the device and bus.
func (d *Device) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	m, err := d.measure(ctx)
	if err != nil {
		return dst, err
	}
	t := d.now()
	return append(dst,
		reading.Reading{Device: d.name, Metric: "temperature", Value: m.celsius, Unit: "C", Time: t},
		reading.Reading{Device: d.name, Metric: "humidity", Value: m.rh, Unit: "%RH", Time: t},
	), nil
}

func (d *Device) measure(ctx context.Context) (measurement, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.dev.Tx(d.shot.cmd[:], nil); err != nil {
		return measurement{}, d.wrap("start measurement", err)
	}
	if err := d.sleep(ctx, d.shot.wait); err != nil {
		return measurement{}, d.wrap("wait for measurement", err)
	}
	var b [frameLen]byte
	if err := d.dev.Tx(nil, b[:]); err != nil {
		return measurement{}, d.wrap("read measurement", err)
	}
	m, err := decodeFrame(b[:])
	if err != nil {
		return measurement{}, d.wrap("decode measurement", err)
	}
	return m, nil
}

func (d *Device) wrap(op string, err error) error {
	return fmt.Errorf("sht3x %s (%s): %s: %w", d.name, d.where, op, err)
}
