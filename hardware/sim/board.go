package sim

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/edged-gateway/edged/hardware/internal/busname"
	"github.com/edged-gateway/edged/waveform"
)

// DefaultEdgePoll is how often a waiting WaitForEdge samples a pin's
// signal.
const DefaultEdgePoll = time.Millisecond

// Option adjusts a Board.
type Option func(*options)

type options struct {
	now  func() time.Time
	poll time.Duration
}

// WithClock makes the board evaluate every signal, and stamp every pin
// change, at now() instead of time.Now(), so tests can assert exact values.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithEdgePoll sets how often a waiting WaitForEdge samples a pin's signal;
// default DefaultEdgePoll.
func WithEdgePoll(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.poll = d
		}
	}
}

// Board is a simulated board: I²C buses, SPI ports and GPIO pins with chip
// models on them. Its handles are used directly (I2C, SPI, Pin) or, after
// Register, through periph's registries. It is safe for concurrent use.
type Board struct {
	cfg   Config
	now   func() time.Time
	i2c   map[string]*i2cBus
	spi   map[string]*spiPort
	pins  map[string]*Pin
	chips []Chip // in configuration order

	mu  sync.Mutex    // guards reg
	reg *registration // nil while not registered
}

// New builds the board cfg describes (DefaultConfig when cfg is zero), or
// returns every problem Validate finds.
func New(cfg Config, opts ...Option) (*Board, error) {
	o := options{now: time.Now, poll: DefaultEdgePoll}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.IsZero() {
		cfg = DefaultConfig()
	}
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("sim: config: %w", err)
	}
	b := &Board{cfg: cfg, now: o.now, i2c: map[string]*i2cBus{}, spi: map[string]*spiPort{}, pins: map[string]*Pin{}}
	for i, c := range cfg.Chips {
		if err := b.addChip(i, c); err != nil {
			return nil, fmt.Errorf("sim: config: chips[%d].%w", i, err)
		}
	}
	for i, pc := range cfg.Pins {
		var w *waveform.Wave
		if pc.Signal != nil {
			if w, err = waveform.New(pc.Signal.waveform()); err != nil {
				return nil, fmt.Errorf("sim: config: pins[%d].signal: %w", i, err)
			}
		}
		n, _ := busname.ParseGPIO(pc.Name)
		b.pins[pc.Name] = newPin(pc.Name, n, b.now, w, o.poll)
	}
	return b, nil
}

// addChip builds chip i of a normalized configuration and puts it on its
// bus.
func (b *Board) addChip(i int, c ChipConfig) error {
	k, _ := spec(c.Kind)
	waves, err := k.waves(c.Signals, int64(i))
	if err != nil {
		return err
	}
	names := make([]string, len(k.signals))
	for j, q := range k.signals {
		names[j] = q.name
	}
	in := Inputs{now: b.now, names: names, waves: waves, hist: &history{}, typical: c.Timing == TimingTypical}
	var chip device
	switch c.Kind {
	case KindBME280:
		chip = newBME280(in)
	case KindADS1115:
		chip = newADS1115(in)
	case KindSHT3x:
		chip = newSHT3x(in)
	case KindMCP3008:
		chip = newMCP3008(in, c.Vref)
	}
	if bus, cs, ok := busname.ParseSPI(c.Bus); ok {
		b.spi[c.Bus] = &spiPort{name: c.Bus, bus: bus, cs: cs, chip: chip.(spiDevice)}
	} else {
		bus, _ := busname.ParseI2C(c.Bus)
		if b.i2c[c.Bus] == nil {
			b.i2c[c.Bus] = newI2CBus(c.Bus, bus)
		}
		b.i2c[c.Bus].chips[c.Address] = chip.(i2cDevice)
	}
	chip.SetAbsent(c.Absent)
	b.chips = append(b.chips, chip)
	return nil
}

// Config returns the configuration the board was built from, with defaults
// filled in and names made canonical.
func (b *Board) Config() Config { return b.cfg }

// Now returns the board clock.
func (b *Board) Now() time.Time { return b.now() }

// I2C returns a new handle on the I²C bus name (i2c1; I2C1 and /dev/i2c-1
// work too). It implements i2c.BusCloser.
func (b *Board) I2C(name string) (*I2CBus, error) {
	if n, ok := busname.ParseI2C(name); ok {
		if bus := b.i2c[busname.I2CName(n)]; bus != nil {
			return &I2CBus{bus: bus}, nil
		}
	}
	return nil, fmt.Errorf("sim: i2c bus %q: %w (it has %s)", name, ErrNotOnBoard, list(b.I2CBuses()))
}

// SPI returns a new handle on the SPI port name (spi0.0; SPI0.0 and
// /dev/spidev0.0 work too). It implements spi.PortCloser.
func (b *Board) SPI(name string) (*SPIPort, error) {
	if bus, cs, ok := busname.ParseSPI(name); ok {
		if p := b.spi[busname.SPIName(bus, cs)]; p != nil {
			return &SPIPort{port: p}, nil
		}
	}
	return nil, fmt.Errorf("sim: spi port %q: %w (it has %s)", name, ErrNotOnBoard, list(b.SPIPorts()))
}

// Pin returns the GPIO pin name (GPIO17; 17 works too). The same *Pin is
// returned each time.
func (b *Board) Pin(name string) (*Pin, error) {
	if n, ok := busname.ParseGPIO(name); ok {
		if p := b.pins[busname.GPIOName(n)]; p != nil {
			return p, nil
		}
	}
	return nil, fmt.Errorf("sim: pin %q: %w (it has %s)", name, ErrNotOnBoard, list(b.Pins()))
}

// Chip returns the chip model at addr on I²C bus bus, or the one on SPI
// port bus (addr is then ignored), for fault injection and assertions.
// Assert the result to *BME280, *ADS1115, *MCP3008 or *SHT3x for a model's
// own methods.
func (b *Board) Chip(bus string, addr uint16) (Chip, error) {
	if n, ok := busname.ParseI2C(bus); ok {
		if ib := b.i2c[busname.I2CName(n)]; ib != nil {
			if c := ib.chips[addr]; c != nil {
				return c, nil
			}
		}
	} else if n, cs, ok := busname.ParseSPI(bus); ok {
		if p := b.spi[busname.SPIName(n, cs)]; p != nil && p.chip != nil {
			return p.chip, nil
		}
	}
	return nil, fmt.Errorf("sim: chip at %s address %#02x: %w", bus, addr, ErrNotOnBoard)
}

// Chips returns every chip model in configuration order.
func (b *Board) Chips() []Chip { return slices.Clone(b.chips) }

// I2CBuses returns the names of the board's I²C buses, sorted.
func (b *Board) I2CBuses() []string { return sortedKeys(b.i2c) }

// SPIPorts returns the names of the board's SPI ports, sorted.
func (b *Board) SPIPorts() []string { return sortedKeys(b.spi) }

// Pins returns the names of the board's GPIO pins, sorted by number.
func (b *Board) Pins() []string {
	names := sortedKeys(b.pins)
	slices.SortFunc(names, func(x, y string) int { return b.pins[x].number - b.pins[y].number })
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
