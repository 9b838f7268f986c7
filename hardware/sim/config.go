package sim

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/edged-gateway/edged/hardware/internal/busname"
	"github.com/edged-gateway/edged/waveform"
)

// Config describes a simulated board: the chips on its buses and its GPIO
// pins. The zero Config means DefaultConfig.
type Config struct {
	// Chips are the chip models, each on an I²C bus or an SPI port.
	Chips []ChipConfig `yaml:"chips"`
	// Pins are the GPIO pins.
	Pins []PinConfig `yaml:"pins"`
}

// ChipConfig places one chip model on the board.
type ChipConfig struct {
	// Kind is bme280, ads1115, mcp3008 or sht3x.
	Kind string `yaml:"kind"`
	// Bus is an I²C bus (i2c1) or an SPI port (spi0.0). Default i2c1, or
	// spi0.0 for the mcp3008. A bme280 may sit on either.
	Bus string `yaml:"bus"`
	// Address is the I²C address: bme280 0x76 (default) or 0x77, ads1115
	// 0x48 (default)–0x4B, sht3x 0x44 (default) or 0x45. SPI chips have
	// none.
	Address uint16 `yaml:"address"`
	// Vref is the reference voltage of an mcp3008; default 3.3.
	Vref float64 `yaml:"vref"`
	// Signals are the physical inputs by name: bme280 temperature (°C),
	// pressure (hPa), humidity (%RH); sht3x temperature, humidity; ads1115
	// ch0–ch3 and mcp3008 ch0–ch7 (volts). A signal left out follows the
	// kind's default waveform, seeded with the chip's index.
	Signals map[string]Signal `yaml:"signals"`
	// Absent starts the chip unplugged (Chip.SetAbsent(true)): an I²C
	// chip does not acknowledge, an SPI chip leaves MISO low. Tests plug
	// it in with SetAbsent(false).
	Absent bool `yaml:"absent"`
	// Timing is instant (default: a conversion is done when it starts) or
	// typical: single-shot conversions take the datasheet's typical time on
	// the board clock, with the status bits that say so (BME280 status
	// measuring, ADS1115 config OS, an SHT3x that does not acknowledge a
	// read before its measurement is done), so drivers' wait and poll
	// paths run. DefaultConfig's chips use typical.
	Timing string `yaml:"timing"`
}

// The timings a ChipConfig may name.
const (
	TimingInstant = "instant"
	TimingTypical = "typical"
)

// Signal is the waveform a physical input follows, as package waveform
// defines it: sine (default), square, random_walk or constant between Min
// and Max, with Period (default 10m) and Seed.
type Signal struct {
	// Waveform is sine (default), square, random_walk or constant.
	Waveform string `yaml:"waveform"`
	// Min and Max bound the value, in the quantity's unit; constant
	// stays at Min.
	Min float64 `yaml:"min"`
	Max float64 `yaml:"max"`
	// Period is the cycle of sine and square and the step of
	// random_walk; default 10m.
	Period time.Duration `yaml:"period"`
	// Seed shifts the phase (by seed/1000 of a period) or picks the walk,
	// so chips differ but repeat.
	Seed int64 `yaml:"seed"`
}

func (s Signal) waveform() waveform.Config {
	return waveform.Config{Shape: waveform.Shape(s.Waveform), Min: s.Min, Max: s.Max, Period: s.Period, Seed: s.Seed}
}

// PinConfig declares one GPIO pin. Every pin can be read, driven and
// PWM-modulated; Signal makes it an input that follows a waveform.
type PinConfig struct {
	// Name is GPIO<n>, such as GPIO17.
	Name string `yaml:"name"`
	// Signal, when set, drives the pin's input level: values of 0.5 and
	// above read High. A square wave from 0 to 1 gives an edge every half
	// period. Without it the level is what the test sets with SetLevel, or
	// what the pull resistor gives.
	Signal *Signal `yaml:"signal"`
}

// DefaultConfig is the board `hardware: {board: sim}` gets with nothing
// else: on i2c1 a bme280 at 0x76, an ads1115 at 0x48 and an sht3x at 0x44;
// an mcp3008 on spi0.0 and a bme280 on spi0.1; GPIO17 an input following a
// 2 s square wave (an edge every second), GPIO27 for a relay and GPIO18 for
// PWM.
func DefaultConfig() Config {
	return Config{
		Chips: []ChipConfig{
			{Kind: KindBME280, Bus: "i2c1", Address: 0x76, Timing: TimingTypical},
			{Kind: KindADS1115, Bus: "i2c1", Address: 0x48, Timing: TimingTypical},
			{Kind: KindSHT3x, Bus: "i2c1", Address: 0x44, Timing: TimingTypical},
			{Kind: KindMCP3008, Bus: "spi0.0"},
			{Kind: KindBME280, Bus: "spi0.1", Timing: TimingTypical},
		},
		Pins: []PinConfig{
			{Name: "GPIO17", Signal: &Signal{Waveform: "square", Min: 0, Max: 1, Period: 2 * time.Second}},
			{Name: "GPIO27"},
			{Name: "GPIO18"},
		},
	}
}

// IsZero reports whether c configures nothing, so New uses DefaultConfig.
func (c Config) IsZero() bool { return len(c.Chips) == 0 && len(c.Pins) == 0 }

// Validate reports every problem with c, each naming its field
// (chips[1].address: 0x99 is not a valid address for ads1115, use
// 0x48–0x4B).
func (c Config) Validate() error {
	_, err := c.normalize()
	return err
}

// normalize returns c with defaults filled in and names made canonical, or
// every problem found.
func (c Config) normalize() (Config, error) {
	var errs []error
	out := Config{Chips: make([]ChipConfig, len(c.Chips)), Pins: make([]PinConfig, len(c.Pins))}
	used := map[string]int{} // "i2c1@0x76" or "spi0.0" → chip index
	for i, ch := range c.Chips {
		n, err := normalizeChip(ch)
		out.Chips[i] = n
		if err != nil {
			errs = append(errs, fmt.Errorf("chips[%d].%w", i, err))
			continue
		}
		slot := n.Bus
		if n.Address != 0 {
			slot = fmt.Sprintf("%s address %#02x", n.Bus, n.Address)
		}
		if j, dup := used[slot]; dup {
			errs = append(errs, fmt.Errorf("chips[%d]: %s is already taken by chips[%d] (%s)", i, slot, j, c.Chips[j].Kind))
			continue
		}
		used[slot] = i
	}
	pins := map[string]int{}
	for i, p := range c.Pins {
		n, ok := busname.ParseGPIO(p.Name)
		if !ok || strings.TrimSpace(p.Name) == fmt.Sprint(n) {
			errs = append(errs, fmt.Errorf("pins[%d].name: %q is not a pin name, use GPIO<n> such as GPIO17", i, p.Name))
			continue
		}
		name := busname.GPIOName(n)
		if j, dup := pins[name]; dup {
			errs = append(errs, fmt.Errorf("pins[%d].name: %s is already declared by pins[%d]", i, name, j))
			continue
		}
		pins[name] = i
		out.Pins[i] = PinConfig{Name: name, Signal: p.Signal}
		if p.Signal != nil {
			if err := p.Signal.waveform().Validate(); err != nil {
				errs = append(errs, fmt.Errorf("pins[%d].signal: %w", i, err))
			}
		}
	}
	return out, errors.Join(errs...)
}

// normalizeChip checks one chip; its errors start with the field name so
// the caller can prefix chips[i].
func normalizeChip(c ChipConfig) (ChipConfig, error) {
	k, ok := spec(c.Kind)
	if !ok {
		return c, fmt.Errorf("kind: %q is not a chip kind, use one of %s", c.Kind, strings.Join(Kinds(), ", "))
	}
	if c.Bus == "" {
		c.Bus = "i2c1"
		if k.i2cAddrs == nil {
			c.Bus = "spi0.0"
		}
	}
	if bus, ok := busname.ParseI2C(c.Bus); ok && !isNumber(c.Bus) {
		if k.i2cAddrs == nil {
			return c, fmt.Errorf("bus: %s is an SPI chip, put it on an SPI port such as spi0.0", c.Kind)
		}
		c.Bus = busname.I2CName(bus)
		if c.Address == 0 {
			c.Address = k.i2cAddrs[0]
		}
		if !k.validAddr(c.Address) {
			return c, fmt.Errorf("address: %#02x is not a valid address for %s, use %s", c.Address, c.Kind, k.addrHint)
		}
	} else if bus, cs, ok := busname.ParseSPI(c.Bus); ok {
		if !k.spi {
			return c, fmt.Errorf("bus: %s is an I²C chip, put it on an I²C bus such as i2c1", c.Kind)
		}
		if c.Address != 0 {
			return c, fmt.Errorf("address: %s on SPI has no address (%#02x given), remove it", c.Kind, c.Address)
		}
		c.Bus = busname.SPIName(bus, cs)
	} else {
		return c, fmt.Errorf("bus: %q is not a bus name, use i2c<n> such as i2c1 or spi<bus>.<cs> such as spi0.0", c.Bus)
	}
	switch c.Timing {
	case "", TimingInstant, TimingTypical:
	default:
		return c, fmt.Errorf("timing: %q is not a timing, use instant or typical", c.Timing)
	}
	if c.Vref != 0 && c.Kind != KindMCP3008 {
		return c, fmt.Errorf("vref: only an mcp3008 takes a reference voltage, remove it")
	}
	if c.Vref < 0 || math.IsNaN(c.Vref) || math.IsInf(c.Vref, 0) {
		return c, fmt.Errorf("vref: %g is not a reference voltage, use a positive number of volts such as 3.3", c.Vref)
	}
	names := make([]string, 0, len(c.Signals))
	for name := range c.Signals {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := k.quantity(name); !ok {
			return c, fmt.Errorf("signals.%s: %s has no such signal, use %s", name, c.Kind, k.signalNames())
		}
		if err := c.Signals[name].waveform().Validate(); err != nil {
			return c, fmt.Errorf("signals.%s: %w", name, err)
		}
	}
	return c, nil
}

func isNumber(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// The chip kinds a ChipConfig may name.
const (
	KindBME280  = "bme280"
	KindADS1115 = "ads1115"
	KindMCP3008 = "mcp3008"
	KindSHT3x   = "sht3x"
)

// Kinds lists every chip kind, for help texts and errors.
func Kinds() []string { return []string{KindBME280, KindADS1115, KindMCP3008, KindSHT3x} }

// kindSpec is what a chip kind accepts: where it can sit and which signals it
// measures.
type kindSpec struct {
	i2cAddrs []uint16 // nil: the chip does not speak I²C
	addrHint string   // the valid addresses, for errors
	spi      bool     // the chip speaks SPI
	signals  []quantity
}

// quantity is one physical input of a chip model.
type quantity struct {
	name string
	unit string
	def  Signal
}

// spec returns the kindSpec of kind.
func spec(kind string) (kindSpec, bool) {
	switch kind {
	case KindBME280:
		return kindSpec{
			i2cAddrs: []uint16{0x76, 0x77}, addrHint: "0x76 or 0x77", spi: true,
			signals: []quantity{
				{"temperature", "°C", Signal{Waveform: "sine", Min: 18, Max: 24, Period: 10 * time.Minute}},
				{"pressure", "hPa", Signal{Waveform: "sine", Min: 1008, Max: 1018, Period: time.Hour}},
				{"humidity", "%RH", Signal{Waveform: "sine", Min: 40, Max: 60, Period: 30 * time.Minute}},
			},
		}, true
	case KindADS1115:
		return kindSpec{
			i2cAddrs: []uint16{0x48, 0x49, 0x4A, 0x4B}, addrHint: "0x48–0x4B",
			signals: []quantity{
				{"ch0", "V", Signal{Waveform: "sine", Min: 0.5, Max: 2.5, Period: time.Minute}},
				{"ch1", "V", Signal{Waveform: "constant", Min: 1.65}},
				{"ch2", "V", Signal{Waveform: "square", Min: 0, Max: 3.3, Period: 10 * time.Second}},
				{"ch3", "V", Signal{Waveform: "random_walk", Min: 0, Max: 3.3, Period: time.Second}},
			},
		}, true
	case KindMCP3008:
		qs := make([]quantity, 8)
		for i := range qs {
			qs[i] = quantity{fmt.Sprintf("ch%d", i), "V",
				Signal{Waveform: "sine", Min: 0, Max: 3.3, Period: time.Duration(i+1) * time.Minute}}
		}
		return kindSpec{spi: true, signals: qs}, true
	case KindSHT3x:
		return kindSpec{
			i2cAddrs: []uint16{0x44, 0x45}, addrHint: "0x44 or 0x45",
			signals: []quantity{
				{"temperature", "°C", Signal{Waveform: "sine", Min: 19, Max: 23, Period: 15 * time.Minute}},
				{"humidity", "%RH", Signal{Waveform: "sine", Min: 45, Max: 55, Period: 20 * time.Minute}},
			},
		}, true
	}
	return kindSpec{}, false
}

func (k kindSpec) validAddr(a uint16) bool {
	for _, v := range k.i2cAddrs {
		if v == a {
			return true
		}
	}
	return false
}

func (k kindSpec) quantity(name string) (quantity, bool) {
	for _, q := range k.signals {
		if q.name == name {
			return q, true
		}
	}
	return quantity{}, false
}

func (k kindSpec) signalNames() string {
	names := make([]string, len(k.signals))
	for i, q := range k.signals {
		names[i] = q.name
	}
	return strings.Join(names, ", ")
}

// waves builds the waveform of every quantity of a chip: the configured
// signal, or the kind's default with seed as its Seed.
func (k kindSpec) waves(cfg map[string]Signal, seed int64) (map[string]*waveform.Wave, error) {
	out := make(map[string]*waveform.Wave, len(k.signals))
	for _, q := range k.signals {
		s, ok := cfg[q.name]
		if !ok {
			s = q.def
			s.Seed = seed
		}
		w, err := waveform.New(s.waveform())
		if err != nil {
			return nil, fmt.Errorf("signals.%s: %w", q.name, err)
		}
		out[q.name] = w
	}
	return out, nil
}
