package sim

import (
	"sync"
	"time"

	"github.com/edged-gateway/edged/waveform"
)

// Chip is a simulated chip as Board.Chip returns it: its kind and the
// bus-level fault knobs every model has. Assert it to *BME280, *ADS1115,
// *MCP3008 or *SHT3x for a model's own knobs, such as SHT3x.CorruptCRC.
type Chip interface {
	// Kind is bme280, ads1115, mcp3008 or sht3x.
	Kind() string
	// FailNext makes the next n transactions addressed to the chip fail
	// with an error wrapping ErrInjected, as a glitching bus would.
	FailNext(n int)
	// SetAbsent unplugs (true) or replugs (false) the chip. An absent I²C
	// chip does not acknowledge its address, so transactions fail with
	// ErrNACK; an absent SPI chip leaves MISO low, so reads return zeros
	// and no error, as on a Raspberry Pi whose MISO pin is pulled down.
	SetAbsent(absent bool)
}

// CRCCorrupter is a Chip whose replies carry checksums it can damage on
// purpose, the SHT3x: board.Chip("i2c1", 0x44) asserted to it.
type CRCCorrupter interface {
	// CorruptCRC makes the next n reads carry wrong checksums.
	CorruptCRC(n int)
}

// Faults holds the bus-level fault knobs. Every chip model embeds one, which
// gives it the FailNext and SetAbsent methods of Chip.
type Faults struct {
	mu       sync.Mutex
	absent   bool
	failNext int
}

// FailNext makes the next n transactions addressed to the chip fail with an
// error wrapping ErrInjected. n <= 0 cancels what was pending.
func (f *Faults) FailNext(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failNext = max(n, 0)
}

// SetAbsent unplugs (true) or replugs (false) the chip.
func (f *Faults) SetAbsent(absent bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.absent = absent
}

// Absent reports whether the chip is unplugged.
func (f *Faults) Absent() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.absent
}

// admit is asked by the bus before each transaction to the chip: it reports
// whether the chip is absent, or the injected error when one is due.
func (f *Faults) admit() (absent bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.absent {
		return true, nil
	}
	if f.failNext > 0 {
		f.failNext--
		return false, ErrInjected
	}
	return false, nil
}

func (f *Faults) faults() *Faults { return f }

// device is what a bus holds: a chip model with its fault knobs.
type device interface {
	Chip
	faults() *Faults
}

// i2cDevice is a chip model that answers I²C transactions. w is written
// first, then r is read after a repeated start; either may be empty.
type i2cDevice interface {
	device
	i2cTx(w, r []byte) error
}

// generalCaller is an I²C chip that answers the general call address 0x00
// (the ADS1115 and SHT3x reset on 0x06).
type generalCaller interface {
	generalCall(w []byte)
}

// spiDevice is a chip model that answers one SPI frame (chip select low,
// len(w) == len(r) bytes clocked, chip select high).
type spiDevice interface {
	device
	spiTx(w, r []byte) error
}

// Inputs are a chip's physical inputs: the waveform each quantity follows,
// evaluated at the board clock. Every chip model embeds one, which gives it
// Value and Quantities.
type Inputs struct {
	now     func() time.Time
	names   []string
	waves   map[string]*waveform.Wave
	typical bool // conversions take their typical time (ChipConfig.Timing)
	hist    *history
}

// Sample is one value a chip model measured: the quantity's value at T.
type Sample struct {
	T     time.Time
	Value float64
}

// historyLen bounds the samples kept per quantity.
const historyLen = 1024

// history keeps the last historyLen samples of each quantity, so a test
// can check a reading against what the chip really measured instead of
// re-evaluating the waveform at a time it cannot pin.
type history struct {
	mu      sync.Mutex
	samples map[string][]Sample
}

func (h *history) add(quantity string, s Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.samples == nil {
		h.samples = make(map[string][]Sample)
	}
	q := append(h.samples[quantity], s)
	if len(q) > historyLen {
		q = append(q[:0:0], q[len(q)-historyLen:]...)
	}
	h.samples[quantity] = q
}

// Measured returns the last samples (at most 1024, oldest first) the chip
// measured of quantity.
func (in *Inputs) Measured(quantity string) []Sample {
	if in.hist == nil {
		return nil
	}
	in.hist.mu.Lock()
	defer in.hist.mu.Unlock()
	return append([]Sample(nil), in.hist.samples[quantity]...)
}

// Value returns quantity's value at t in its unit (°C, hPa, %RH, V), the
// value the model encodes when it measures at t; false if the chip has no
// such quantity.
func (in *Inputs) Value(quantity string, t time.Time) (float64, bool) {
	w, ok := in.waves[quantity]
	if !ok {
		return 0, false
	}
	return w.At(t), true
}

// Quantities lists the chip's quantities in datasheet order.
func (in *Inputs) Quantities() []string { return append([]string(nil), in.names...) }

// at returns the value of a quantity the model knows it has.
// The sample is recorded (see Measured).
func (in *Inputs) at(quantity string, t time.Time) float64 {
	v := in.waves[quantity].At(t)
	if in.hist != nil {
		in.hist.add(quantity, Sample{T: t, Value: v})
	}
	return v
}
