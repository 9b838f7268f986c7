package mcp3008

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/reading"
)

// Speed is the SPI clock the driver asks for.
const Speed = physic.MegaHertz

// Config is the options block of an mcp3008 device. The zero value reads
// the eight single-ended inputs in volts against a 3.3 V reference.
type Config struct {
	// Vref is the voltage on the VREF pin; default 3.3.
	Vref float64 `yaml:"vref"`
	// Channels are the inputs to read, in order; none means ch0–ch7
	// single-ended, in volts.
	Channels []Channel `yaml:"channels"`
	// Check, when set, is an input wired to a known voltage (VREF, or a
	// divider from it), converted at open and before every read: outside
	// Min–Max the chip is taken for absent. Without it an absent MCP3008
	// cannot be told from inputs at 0 V: a Raspberry Pi's MISO is pulled
	// low, so every code reads 0 and the null bit looks right.
	Check *Check `yaml:"check"`
}

// Check is the presence check: an input and the volts it must read.
type Check struct {
	// Input is ch0–ch7 or a pair, as for channels.
	Input string `yaml:"input"`
	// Min and Max bound the volts the input reads when the chip is there.
	Min float64 `yaml:"min"`
	Max float64 `yaml:"max"`
}

// Channel is one input read on every Read.
type Channel struct {
	// Input is ch0–ch7, or a pair ch0-ch1, ch1-ch0, … ch7-ch6 (IN+ first).
	Input string `yaml:"input"`
	// Metric names the reading; default the input, e.g. "ch0".
	Metric string `yaml:"metric"`
	// Scale maps volts to engineering units; default volts ("V").
	Scale scale.Linear `yaml:"scale"`
}

// inputs maps every input name to its SGL/DIFF, D2–D0 bits.
var inputs = func() map[string]byte {
	m := map[string]byte{}
	for ch := range byte(8) {
		m[fmt.Sprintf("ch%d", ch)] = 0x08 | ch
		m[fmt.Sprintf("ch%d-ch%d", ch, ch^1)] = ch // D0 set: the odd input is IN+
	}
	return m
}()

const inputHint = "ch0–ch7 or a pair ch0-ch1, ch1-ch0, ch2-ch3, ch3-ch2, ch4-ch5, ch5-ch4, ch6-ch7, ch7-ch6"

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	if c.Vref != 0 && !(c.Vref >= 0.25 && c.Vref <= 5.5) { // NaN fails too
		return fmt.Errorf("options.vref: %g is not a reference voltage, use 0.25–5.5 volts such as 3.3", c.Vref)
	}
	if k := c.Check; k != nil {
		vref := c.Vref
		if vref == 0 {
			vref = 3.3
		}
		if _, ok := inputs[k.Input]; !ok {
			return fmt.Errorf("options.check.input: %q is not an input, use %s", k.Input, inputHint)
		}
		if !(k.Min >= 0 && k.Min < k.Max && k.Max <= vref) {
			return fmt.Errorf("options.check: min %g and max %g must satisfy 0 <= min < max <= vref (%g V), e.g. {input: ch7, min: 3.0, max: 3.4} for ch7 tied to VREF", k.Min, k.Max, vref)
		}
		if k.Min == 0 {
			return fmt.Errorf("options.check.min: 0 V is what an absent chip reads: wire the check input to a voltage above 0 and set min above 0")
		}
	}
	metrics := map[string]int{}
	for i, ch := range c.channels() {
		p := fmt.Sprintf("options.channels[%d]", i)
		if _, ok := inputs[ch.Input]; !ok {
			return fmt.Errorf("%s.input: %q is not an input, use %s", p, ch.Input, inputHint)
		}
		if j, dup := metrics[ch.metric()]; dup {
			return fmt.Errorf("%s.metric: %q is already the metric of channels[%d]: give each channel its own", p, ch.metric(), j)
		}
		metrics[ch.metric()] = i
		if err := ch.Scale.Validate(); err != nil {
			return fmt.Errorf("%s.scale.%w", p, err)
		}
	}
	return nil
}

func (c Config) channels() []Channel {
	if len(c.Channels) > 0 {
		return c.Channels
	}
	out := make([]Channel, 8)
	for i := range out {
		out[i].Input = fmt.Sprintf("ch%d", i)
	}
	return out
}

func (ch Channel) metric() string {
	if ch.Metric == "" {
		return ch.Input
	}
	return ch.Metric
}

// channel is a validated Channel.
type channel struct {
	cfg    byte
	metric string
	scale  scale.Linear
}

// Device is one MCP3008. Its methods are safe for concurrent use.
type Device struct {
	name     string
	port     string // for errors
	vref     float64
	channels []channel
	check    *Check
	now      func() time.Time

	mu   sync.Mutex
	conn spi.Conn
}

// New connects to the chip on port (mode 0, 8 bits, Speed) and returns the
// device. With cfg.Check it converts the check input and fails if the
// chip does not answer with the voltage expected; without, the MCP3008 has
// nothing to probe. now may be nil (time.Now).
func New(name string, port spi.Port, cfg Config, now func() time.Time) (*Device, error) {
	if name == "" {
		return nil, errors.New("mcp3008: device needs a name")
	}
	if port == nil {
		return nil, fmt.Errorf("mcp3008 %s: no SPI port", name)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mcp3008 %s: %w", name, err)
	}
	if cfg.Vref == 0 {
		cfg.Vref = 3.3
	}
	if now == nil {
		now = time.Now
	}
	d := &Device{name: name, port: port.String(), vref: cfg.Vref, check: cfg.Check, now: now}
	for _, ch := range cfg.channels() {
		d.channels = append(d.channels, channel{cfg: inputs[ch.Input], metric: ch.metric(), scale: ch.Scale})
	}
	c, err := port.Connect(Speed, spi.Mode0, 8)
	if err != nil {
		return nil, fmt.Errorf("mcp3008 %s (%s): connect: %w", name, d.port, err)
	}
	d.conn = c
	if err := d.present(); err != nil {
		return nil, fmt.Errorf("mcp3008 %s (%s): %w", name, d.port, err)
	}
	return d, nil
}

// present runs the presence check, if configured. Call with d.mu held (or
// before d is shared).
func (d *Device) present() error {
	k := d.check
	if k == nil {
		return nil
	}
	code, err := d.convert(inputs[k.Input])
	if err != nil {
		return fmt.Errorf("check %s: %w", k.Input, err)
	}
	if v := float64(code) * d.vref / 1024; v < k.Min || v > k.Max {
		return fmt.Errorf("check %s reads %.3g V, it is wired to read %g–%g V: the chip is absent, unpowered or not on this chip select", k.Input, v, k.Min, k.Max)
	}
	return nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Read converts every channel in order and appends one reading per
// channel, scaled, to dst. On any failure it returns dst unchanged and an
// error naming the device, port and input.
func (d *Device) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(dst)
	if err := d.present(); err != nil {
		return dst, fmt.Errorf("mcp3008 %s (%s): %w", d.name, d.port, err)
	}
	for _, ch := range d.channels {
		if err := ctx.Err(); err != nil {
			return dst[:n], d.wrap(ch, err)
		}
		code, err := d.convert(ch.cfg)
		if err != nil {
			return dst[:n], d.wrap(ch, err)
		}
		volts := float64(code) * d.vref / 1024
		dst = append(dst, reading.Reading{Device: d.name, Metric: ch.metric, Value: ch.scale.Apply(volts), Unit: ch.scale.UnitOr("V"), Time: d.now()})
	}
	return dst, nil
}

// convert runs one frame and returns the code.
func (d *Device) convert(cfg byte) (uint16, error) {
	w := request(cfg)
	var r [frameLen]byte
	if err := d.conn.Tx(w[:], r[:]); err != nil {
		return 0, err
	}
	return parseFrame(r[:])
}

func (d *Device) wrap(ch channel, err error) error {
	return fmt.Errorf("mcp3008 %s (%s): convert %s: %w", d.name, d.port, inputName(ch.cfg), err)
}

// inputName is the name of input bits cfg, e.g. "ch3" or "ch1-ch0".
func inputName(cfg byte) string {
	ch := cfg & 7
	if cfg&0x08 != 0 {
		return fmt.Sprintf("ch%d", ch)
	}
	return fmt.Sprintf("ch%d-ch%d", ch, ch^1)
}
