package ads1115

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"

	"github.com/edged-gateway/edged/drivers/internal/wait"
	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/reading"
)

// DefaultAddr is the chip's address with ADDR to GND; 0x49 (VDD), 0x4A
// (SDA) and 0x4B (SCL) are the others.
const DefaultAddr uint16 = 0x48

// Register pointers.
const (
	regConversion = 0x00
	regConfig     = 0x01
)

// channel is a validated Channel.
type channel struct {
	input  string
	config [3]byte // pointer + config word that starts its conversion
	fsr    float64
	metric string
	scale  scale.Linear
}

// Device is one ADS1115. Its methods are safe for concurrent use; one
// conversion runs at a time.
type Device struct {
	name     string
	where    string // "I2C1 0x48", for errors
	channels []channel
	period   time.Duration // one conversion at the data rate, rounded up
	now      func() time.Time
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error

	mu  sync.Mutex
	dev i2c.Dev
}

// New returns the ADC at addr on bus (0 means DefaultAddr). It reads the
// config register once, so a chip that does not answer fails here with an
// error naming the device, bus and address. now may be nil (time.Now).
func New(name string, bus i2c.Bus, addr uint16, cfg Config, now func() time.Time) (*Device, error) {
	if name == "" {
		return nil, errors.New("ads1115: device needs a name")
	}
	if bus == nil {
		return nil, fmt.Errorf("ads1115 %s: no I2C bus", name)
	}
	if addr == 0 {
		addr = DefaultAddr
	}
	if addr < 0x48 || addr > 0x4B {
		return nil, fmt.Errorf("ads1115 %s: address 0x%02x is not an ADS1115 address, use 0x48–0x4B", name, addr)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ads1115 %s: %w", name, err)
	}
	if now == nil {
		now = time.Now
	}
	rate := cfg.dataRate()
	d := &Device{
		name:   name,
		where:  fmt.Sprintf("%s 0x%02x", bus, addr),
		period: (time.Second + time.Duration(rate) - 1) / time.Duration(rate),
		now:    now,
		sleep:  wait.Sleep,
		dev:    i2c.Dev{Bus: bus, Addr: addr},
	}
	for _, ch := range cfg.channels() {
		g := ch.Gain
		if g == "" {
			g = cfg.gain()
		}
		w := configWord(ch.Input, g, rate)
		d.channels = append(d.channels, channel{
			input:  ch.Input,
			config: [3]byte{regConfig, byte(w >> 8), byte(w)},
			fsr:    gains[g].fsr,
			metric: ch.metric(),
			scale:  ch.Scale,
		})
	}
	var r [2]byte
	if err := d.dev.Tx([]byte{regConfig}, r[:]); err != nil {
		return nil, fmt.Errorf("ads1115 %s (%s): read config register: %w", name, d.where, err)
	}
	return d, nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Read converts every channel in order and appends one reading per
// channel, scaled, to dst. It takes about one conversion period per
// channel. On any failure it returns dst unchanged and an error naming the
// device, bus and input.
func (d *Device) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(dst)
	for _, ch := range d.channels {
		code, err := d.convert(ctx, ch)
		if err != nil {
			return dst[:n], fmt.Errorf("ads1115 %s (%s): convert %s: %w", d.name, d.where, ch.input, err)
		}
		volts := float64(code) * ch.fsr / 32768
		dst = append(dst, reading.Reading{Device: d.name, Metric: ch.metric, Value: ch.scale.Apply(volts), Unit: ch.scale.UnitOr("V"), Time: d.now()})
	}
	return dst, nil
}

// maxPolls bounds the config register reads that wait for OS after the
// first period: a chip that never finishes is an error, not a hang.
const maxPolls = 20

// convert starts a single-shot conversion and returns its code.
func (d *Device) convert(ctx context.Context, ch channel) (int16, error) {
	if err := d.dev.Tx(ch.config[:], nil); err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	wait, waited := d.period, time.Duration(0)
	for poll := 0; ; poll++ {
		if err := d.sleep(ctx, wait); err != nil {
			return 0, err
		}
		waited += wait
		var r [2]byte
		if err := d.dev.Tx([]byte{regConfig}, r[:]); err != nil {
			return 0, fmt.Errorf("poll: %w", err)
		}
		if r[0]&(bitOS>>8) != 0 {
			break
		}
		if poll == maxPolls {
			return 0, fmt.Errorf("conversion not done after %s (config register reads 0x%02x%02x)", waited, r[0], r[1])
		}
		wait = d.period/8 + 100*time.Microsecond
	}
	var r [2]byte
	if err := d.dev.Tx([]byte{regConversion}, r[:]); err != nil {
		return 0, fmt.Errorf("read result: %w", err)
	}
	return int16(uint16(r[0])<<8 | uint16(r[1])), nil
}
