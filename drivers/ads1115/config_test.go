package ads1115

import (
	"math"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/drivers/scale"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "zero value", cfg: Config{}},
		{name: "every gain and rate", cfg: Config{Gain: "2/3", DataRate: 860, Channels: []Channel{
			{Input: "ch0", Gain: "1"}, {Input: "ch1", Gain: "2"}, {Input: "ch2", Gain: "4"}, {Input: "ch3", Gain: "8"},
			{Input: "ch0-ch1", Gain: "16"}, {Input: "ch0-ch3"}, {Input: "ch1-ch3"}, {Input: "ch2-ch3"},
		}}},
		{name: "gain 3", cfg: Config{Gain: "3"}, want: "options.gain: 3 is not a gain, use one of 2/3, 1, 2, 4, 8, 16"},
		{name: "gain as a fraction", cfg: Config{Gain: "0.666"}, want: "options.gain: 0.666 is not a gain"},
		{name: "data rate", cfg: Config{DataRate: 100}, want: "options.data_rate: 100 is not a data rate, use one of 8, 16, 32, 64, 128, 250, 475, 860 (samples/s)"},
		{name: "unknown input", cfg: Config{Channels: []Channel{{Input: "ch4"}}}, want: `options.channels[0].input: "ch4" is not an input, use one of ch0, ch1, ch2, ch3, ch0-ch1, ch0-ch3, ch1-ch3, ch2-ch3`},
		{name: "pair the mux lacks", cfg: Config{Channels: []Channel{{Input: "ch0"}, {Input: "ch1-ch2"}}}, want: `options.channels[1].input: "ch1-ch2" is not an input`},
		{name: "channel gain", cfg: Config{Channels: []Channel{{Input: "ch0", Gain: "32"}}}, want: "options.channels[0].gain: 32 is not a gain, use one of 2/3, 1, 2, 4, 8, 16"},
		{name: "duplicate metric", cfg: Config{Channels: []Channel{{Input: "ch0"}, {Input: "ch0"}}}, want: `options.channels[1].metric: "ch0" is already the metric of channels[0]`},
		{name: "bad scale", cfg: Config{Channels: []Channel{{Input: "ch0", Scale: scale.Linear{Offset: math.NaN()}}}}, want: "options.channels[0].scale.offset NaN is not a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestConfigWord(t *testing.T) {
	tests := []struct {
		input, gain string
		rate        int
		want        uint16
	}{
		{"ch0", "1", 128, 0xC383}, // the datasheet's default-like single-shot word
		{"ch3", "2", 8, 0xF503},
		{"ch0-ch1", "16", 860, 0x8BE3},
		{"ch2-ch3", "2/3", 860, 0xB1E3},
		{"ch1-ch3", "4", 250, 0xA7A3},
	}
	for _, tt := range tests {
		t.Run(tt.input+"/"+tt.gain, func(t *testing.T) {
			if got := configWord(tt.input, tt.gain, tt.rate); got != tt.want {
				t.Fatalf("configWord = %#04x, want %#04x", got, tt.want)
			}
		})
	}
}
