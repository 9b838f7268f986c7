package pwm

import (
	"fmt"
	"strings"

	"periph.io/x/conn/v3/physic"
)

// Config is the options block of a pwm device.
type Config struct {
	// Frequency is the PWM frequency, e.g. 25kHz for a 4-wire fan, 50Hz
	// for a servo, 1kHz for an LED. Required.
	Frequency Frequency `yaml:"frequency"`
	// MinFrequency and MaxFrequency bound the frequency commands may set;
	// both default to Frequency, which refuses frequency changes.
	MinFrequency Frequency `yaml:"min_frequency"`
	MaxFrequency Frequency `yaml:"max_frequency"`
	// MinDuty and MaxDuty bound the duty commands may set, as fractions
	// from 0 to 1; defaults 0 and 1 (max_duty 0 counts as unset).
	MinDuty float64 `yaml:"min_duty"`
	MaxDuty float64 `yaml:"max_duty"`
	// SafeDuty is the duty at start, on Safe and on shutdown: within
	// min_duty..max_duty, or 0 (off) whatever min_duty is. Default
	// min_duty.
	SafeDuty *float64 `yaml:"safe_duty"`
}

// Frequency is a frequency in an options block: "25kHz", "50Hz", "1.5kHz"
// or a plain number of hertz.
type Frequency physic.Frequency

// UnmarshalText parses a frequency, hertz when no unit is given.
func (f *Frequency) UnmarshalText(b []byte) error {
	s := strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "")
	var p physic.Frequency
	if err := p.Set(s); err != nil || p < 0 {
		return fmt.Errorf("%q is not a frequency, use e.g. 25kHz, 50Hz or 1000", string(b))
	}
	*f = Frequency(p)
	return nil
}

// String formats f like "25kHz".
func (f Frequency) String() string { return physic.Frequency(f).String() }

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	if c.Frequency <= 0 {
		return fmt.Errorf("options.frequency: required, e.g. 25kHz for a fan, 50Hz for a servo, 1kHz for an LED")
	}
	lo, hi := c.frequencies()
	if lo <= 0 || lo > c.Frequency {
		return fmt.Errorf("options.min_frequency: %s must be above 0 and at most frequency (%s)", lo, c.Frequency)
	}
	if hi < c.Frequency {
		return fmt.Errorf("options.max_frequency: %s is below frequency (%s)", hi, c.Frequency)
	}
	minD, maxD := c.duties()
	if !(minD >= 0 && minD <= 1) { // NaN fails too
		return fmt.Errorf("options.min_duty: %g is not a duty, use a fraction from 0 to 1", c.MinDuty)
	}
	if !(maxD >= 0 && maxD <= 1) {
		return fmt.Errorf("options.max_duty: %g is not a duty, use a fraction from 0 to 1", c.MaxDuty)
	}
	if maxD < minD {
		return fmt.Errorf("options.max_duty: %g is below min_duty (%g)", maxD, minD)
	}
	if s := c.safeDuty(); s != 0 && !(s >= minD && s <= maxD) {
		return fmt.Errorf("options.safe_duty: %g is outside min_duty..max_duty (%g..%g) and not 0 (off)", s, minD, maxD)
	}
	return nil
}

func (c Config) frequencies() (lo, hi Frequency) {
	lo, hi = c.MinFrequency, c.MaxFrequency
	if lo == 0 {
		lo = c.Frequency
	}
	if hi == 0 {
		hi = c.Frequency
	}
	return lo, hi
}

func (c Config) duties() (lo, hi float64) {
	hi = c.MaxDuty
	if hi == 0 {
		hi = 1
	}
	return c.MinDuty, hi
}

func (c Config) safeDuty() float64 {
	if c.SafeDuty == nil {
		return c.MinDuty
	}
	return *c.SafeDuty
}
