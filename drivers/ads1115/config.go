package ads1115

import (
	"fmt"

	"github.com/edged-gateway/edged/drivers/scale"
)

// Config is the options block of an ads1115 device. The zero value reads
// the four single-ended inputs in volts at gain 1 (±4.096 V) and 128 SPS.
type Config struct {
	// Gain is the PGA gain of every channel that does not set its own:
	// 2/3, 1 (default), 2, 4, 8 or 16.
	Gain string `yaml:"gain"`
	// DataRate is in samples per second: 8, 16, 32, 64, 128 (default),
	// 250, 475 or 860. Slower is less noisy; a conversion takes 1/DataRate.
	DataRate int `yaml:"data_rate"`
	// Channels are the inputs to read, in order; none means ch0–ch3
	// single-ended, in volts.
	Channels []Channel `yaml:"channels"`
}

// Channel is one input read on every Read.
type Channel struct {
	// Input is ch0–ch3, or a pair ch0-ch1, ch0-ch3, ch1-ch3, ch2-ch3.
	Input string `yaml:"input"`
	// Metric names the reading; default the input, e.g. "ch0".
	Metric string `yaml:"metric"`
	// Gain overrides the device's gain for this channel.
	Gain string `yaml:"gain"`
	// Scale maps volts to engineering units; default volts ("V").
	Scale scale.Linear `yaml:"scale"`
}

// gains maps a gain to its PGA bits (config bits 11:9) and full-scale
// range in volts.
var gains = map[string]struct {
	pga uint16
	fsr float64
}{
	"2/3": {0, 6.144}, "1": {1, 4.096}, "2": {2, 2.048},
	"4": {3, 1.024}, "8": {4, 0.512}, "16": {5, 0.256},
}

const gainHint = "2/3, 1, 2, 4, 8, 16"

// rates maps a data rate to its DR bits (config bits 7:5).
var rates = map[int]uint16{8: 0, 16: 1, 32: 2, 64: 3, 128: 4, 250: 5, 475: 6, 860: 7}

const rateHint = "8, 16, 32, 64, 128, 250, 475, 860"

// muxes maps an input to its MUX bits (config bits 14:12).
var muxes = map[string]uint16{
	"ch0-ch1": 0, "ch0-ch3": 1, "ch1-ch3": 2, "ch2-ch3": 3,
	"ch0": 4, "ch1": 5, "ch2": 6, "ch3": 7,
}

const inputHint = "ch0, ch1, ch2, ch3, ch0-ch1, ch0-ch3, ch1-ch3, ch2-ch3"

// Validate reports the first problem with c, naming the option.
func (c Config) Validate() error {
	if _, ok := gains[c.gain()]; !ok {
		return fmt.Errorf("options.gain: %s is not a gain, use one of %s", c.Gain, gainHint)
	}
	if _, ok := rates[c.dataRate()]; !ok {
		return fmt.Errorf("options.data_rate: %d is not a data rate, use one of %s (samples/s)", c.DataRate, rateHint)
	}
	metrics := map[string]int{}
	for i, ch := range c.channels() {
		p := fmt.Sprintf("options.channels[%d]", i)
		if _, ok := muxes[ch.Input]; !ok {
			return fmt.Errorf("%s.input: %q is not an input, use one of %s", p, ch.Input, inputHint)
		}
		if _, ok := gains[ch.Gain]; ch.Gain != "" && !ok {
			return fmt.Errorf("%s.gain: %s is not a gain, use one of %s", p, ch.Gain, gainHint)
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

func (c Config) gain() string {
	if c.Gain == "" {
		return "1"
	}
	return c.Gain
}

func (c Config) dataRate() int {
	if c.DataRate == 0 {
		return 128
	}
	return c.DataRate
}

func (c Config) channels() []Channel {
	if len(c.Channels) > 0 {
		return c.Channels
	}
	return []Channel{{Input: "ch0"}, {Input: "ch1"}, {Input: "ch2"}, {Input: "ch3"}}
}

func (ch Channel) metric() string {
	if ch.Metric == "" {
		return ch.Input
	}
	return ch.Metric
}

// Config register bits other than MUX, PGA and DR.
const (
	bitOS       = 0x8000 // write: start a conversion; read: 1 when idle
	bitMode     = 0x0100 // single-shot and power-down
	compDisable = 0x0003 // COMP_QUE=11: comparator off, ALERT/RDY high-Z
)

// configWord is the config register value that starts a single-shot
// conversion of input at gain and rate.
func configWord(input, gain string, rate int) uint16 {
	return bitOS | muxes[input]<<12 | gains[gain].pga<<9 | bitMode | rates[rate]<<5 | compDisable
}
