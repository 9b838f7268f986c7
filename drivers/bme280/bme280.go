package bme280

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/devices/v3/bmxx80"

	"github.com/edged-gateway/edged/reading"
)

// DefaultAddr is the chip's I2C address with SDO low; 0x77 is the other.
const DefaultAddr uint16 = 0x76

// Device is one BME280 or BMP280. Its methods are safe for concurrent use.
type Device struct {
	name  string
	where string // "I2C1 0x76" or "SPI0.1", for errors
	now   func() time.Time
	// measured says which quantities Read reports.
	pressure, humidity bool

	mu  sync.Mutex
	dev *bmxx80.Dev
	g   *guard
}

// NewI2C returns the sensor at addr (0x76, 0x77; 0 means DefaultAddr) on
// bus, configured by cfg. It reads the chip id and calibration, so a chip
// that does not answer fails here with an error naming the device, bus and
// address. now may be nil (time.Now).
func NewI2C(name string, bus i2c.Bus, addr uint16, cfg Config, now func() time.Time) (*Device, error) {
	if bus == nil {
		return nil, fmt.Errorf("bme280 %s: no I2C bus", name)
	}
	if addr == 0 {
		addr = DefaultAddr
	}
	if addr != 0x76 && addr != 0x77 {
		return nil, fmt.Errorf("bme280 %s: address 0x%02x is not a BME280 address, use 0x76 or 0x77", name, addr)
	}
	g := &guard{sleep: time.Sleep}
	return newDevice(name, fmt.Sprintf("%s 0x%02x", bus, addr), g, cfg, now, func(o *bmxx80.Opts) (*bmxx80.Dev, error) {
		return bmxx80.NewI2C(&guardBus{Bus: bus, g: g}, addr, o)
	})
}

// NewSPI returns the sensor on port (bmxx80 connects in mode 3 at 10 MHz),
// configured by cfg. A chip that does not answer reads chip id 0 and fails
// here. now may be nil (time.Now).
func NewSPI(name string, port spi.Port, cfg Config, now func() time.Time) (*Device, error) {
	if port == nil {
		return nil, fmt.Errorf("bme280 %s: no SPI port", name)
	}
	g := &guard{sleep: time.Sleep}
	return newDevice(name, port.String(), g, cfg, now, func(o *bmxx80.Opts) (*bmxx80.Dev, error) {
		return bmxx80.NewSPI(&guardPort{Port: port, g: g}, o)
	})
}

func newDevice(name, where string, g *guard, cfg Config, now func() time.Time, open func(*bmxx80.Opts) (*bmxx80.Dev, error)) (*Device, error) {
	if name == "" {
		return nil, errors.New("bme280: device needs a name")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bme280 %s: %w", name, err)
	}
	if now == nil {
		now = time.Now
	}
	d := &Device{name: name, where: where, now: now, g: g}
	opts := cfg.opts()
	g.begin()
	dev, err := open(&opts)
	if err != nil {
		return nil, d.wrap("start", g.cause(err))
	}
	if chip := dev.String(); !strings.HasPrefix(chip, "BME280") && !strings.HasPrefix(chip, "BMP280") {
		return nil, d.wrap("start", fmt.Errorf("found %s, not a BME280 or BMP280", chip))
	}
	var p physic.Env
	dev.Precision(&p)
	d.dev = dev
	d.pressure = opts.Pressure != bmxx80.Off
	d.humidity = opts.Humidity != bmxx80.Off && p.Humidity != 0 // a BMP280 has none
	return d, nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Read measures (or, in normal mode, fetches the latest filtered values)
// and appends "temperature" (C), "pressure" (hPa) and "humidity" (%RH) to
// dst, leaving out quantities that are off or that a BMP280 lacks. On any
// failure it returns dst unchanged and an error naming the device and bus.
func (d *Device) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return dst, d.wrap("measure", err)
	}
	gen := d.g.begin()
	stop := context.AfterFunc(ctx, func() { d.g.cancel(gen, ctx.Err()) })
	defer stop()
	var e physic.Env
	if err := d.dev.Sense(&e); err != nil {
		return dst, d.wrap("measure", d.g.cause(err))
	}
	m, err := decode(d.g.data(), e, d.pressure, d.humidity)
	if err != nil {
		return dst, d.wrap("measure", err)
	}
	t := d.now()
	dst = append(dst, reading.Reading{Device: d.name, Metric: "temperature", Value: m.celsius, Unit: "C", Time: t})
	if d.pressure {
		dst = append(dst, reading.Reading{Device: d.name, Metric: "pressure", Value: m.hPa, Unit: "hPa", Time: t})
	}
	if d.humidity {
		dst = append(dst, reading.Reading{Device: d.name, Metric: "humidity", Value: m.rh, Unit: "%RH", Time: t})
	}
	return dst, nil
}

func (d *Device) wrap(op string, err error) error {
	return fmt.Errorf("bme280 %s (%s): %s: %w", d.name, d.where, op, err)
}
