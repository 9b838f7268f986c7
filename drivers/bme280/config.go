package bme280

import (
	"fmt"
	"time"

	"periph.io/x/devices/v3/bmxx80"
)

// Config is the options block of a bme280 device. The zero value measures
// all three quantities at 4x oversampling in forced mode.
type Config struct {
	// Oversampling is per quantity: off, 1x, 2x, 4x (default), 8x or 16x.
	// More is less noisy and slower. Temperature cannot be off: pressure
	// and humidity are compensated with it.
	Oversampling Oversampling `yaml:"oversampling"`
	// Filter is the IIR filter coefficient: off (default), 2, 4, 8 or 16.
	// It needs Standby: the chip filters only in normal mode.
	Filter string `yaml:"filter"`
	// Standby, when set with Filter, runs the chip in normal mode with
	// this idle time between measurements, rounded down to one of 0.5 ms,
	// 10 ms, 20 ms, 62.5 ms, 125 ms, 250 ms, 500 ms or 1 s. Zero (default)
	// means forced mode: one measurement per Read.
	Standby time.Duration `yaml:"standby"`
}

// Oversampling sets the oversampling of each quantity.
type Oversampling struct {
	Temperature string `yaml:"temperature"`
	Pressure    string `yaml:"pressure"`
	Humidity    string `yaml:"humidity"`
}

var oversampling = map[string]bmxx80.Oversampling{
	"": bmxx80.O4x, "off": bmxx80.Off, "1x": bmxx80.O1x, "2x": bmxx80.O2x,
	"4x": bmxx80.O4x, "8x": bmxx80.O8x, "16x": bmxx80.O16x,
}

var filters = map[string]bmxx80.Filter{
	"": bmxx80.NoFilter, "off": bmxx80.NoFilter, "2": bmxx80.F2, "4": bmxx80.F4, "8": bmxx80.F8, "16": bmxx80.F16,
}

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	for _, o := range []struct{ key, v string }{
		{"temperature", c.Oversampling.Temperature},
		{"pressure", c.Oversampling.Pressure},
		{"humidity", c.Oversampling.Humidity},
	} {
		if _, ok := oversampling[o.v]; !ok {
			return fmt.Errorf("options.oversampling.%s: %q is not an oversampling, use off, 1x, 2x, 4x, 8x or 16x", o.key, o.v)
		}
	}
	if c.Oversampling.Temperature == "off" {
		return fmt.Errorf("options.oversampling.temperature: cannot be off: pressure and humidity are compensated with the temperature, use at least 1x")
	}
	if _, ok := filters[c.Filter]; !ok {
		return fmt.Errorf("options.filter: %q is not a filter coefficient, use off, 2, 4, 8 or 16", c.Filter)
	}
	switch {
	case c.Standby < 0:
		return fmt.Errorf("options.standby: %s is negative", c.Standby)
	case c.Standby > 0 && filters[c.Filter] == bmxx80.NoFilter:
		return fmt.Errorf("options.standby: normal mode is only used with a filter: set options.filter (2, 4, 8 or 16) or remove standby")
	case c.Standby == 0 && filters[c.Filter] != bmxx80.NoFilter:
		return fmt.Errorf("options.filter: the IIR filter only runs in normal mode: set options.standby too, e.g. standby: 500ms")
	}
	return nil
}

// opts returns the bmxx80 options of a valid c.
func (c Config) opts() bmxx80.Opts {
	return bmxx80.Opts{
		Temperature: oversampling[c.Oversampling.Temperature],
		Pressure:    oversampling[c.Oversampling.Pressure],
		Humidity:    oversampling[c.Oversampling.Humidity],
		Filter:      filters[c.Filter],
		Standby:     c.Standby,
	}
}
