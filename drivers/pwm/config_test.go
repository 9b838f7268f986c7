package pwm

import (
	"math"
	"testing"

	"periph.io/x/conn/v3/physic"
)

func TestValidate(t *testing.T) {
	f25k := Frequency(25 * physic.KiloHertz)
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "frequency only", cfg: Config{Frequency: f25k}},
		{name: "servo", cfg: Config{Frequency: Frequency(50 * physic.Hertz), MinDuty: 0.025, MaxDuty: 0.125, SafeDuty: ptr(0.075)}},
		{name: "range", cfg: Config{Frequency: f25k, MinFrequency: Frequency(physic.KiloHertz), MaxFrequency: Frequency(100 * physic.KiloHertz)}},
		{name: "no frequency", cfg: Config{}, want: "options.frequency: required, e.g. 25kHz for a fan, 50Hz for a servo, 1kHz for an LED"},
		{name: "min frequency above", cfg: Config{Frequency: f25k, MinFrequency: Frequency(30 * physic.KiloHertz)}, want: "options.min_frequency: 30kHz must be above 0 and at most frequency (25kHz)"},
		{name: "max frequency below", cfg: Config{Frequency: f25k, MaxFrequency: Frequency(physic.KiloHertz)}, want: "options.max_frequency: 1kHz is below frequency (25kHz)"},
		{name: "min duty above 1", cfg: Config{Frequency: f25k, MinDuty: 1.5}, want: "options.min_duty: 1.5 is not a duty, use a fraction from 0 to 1"},
		{name: "max duty NaN", cfg: Config{Frequency: f25k, MaxDuty: math.NaN()}, want: "options.max_duty: NaN is not a duty, use a fraction from 0 to 1"},
		{name: "max below min", cfg: Config{Frequency: f25k, MinDuty: 0.6, MaxDuty: 0.5}, want: "options.max_duty: 0.5 is below min_duty (0.6)"},
		{name: "safe above max", cfg: Config{Frequency: f25k, MaxDuty: 0.8, SafeDuty: ptr(0.9)}, want: "options.safe_duty: 0.9 is outside min_duty..max_duty (0..0.8) and not 0 (off)"},
		{name: "safe below min", cfg: Config{Frequency: f25k, MinDuty: 0.3, SafeDuty: ptr(0.1)}, want: "options.safe_duty: 0.1 is outside min_duty..max_duty (0.3..1) and not 0 (off)"},
		{name: "safe off below min", cfg: Config{Frequency: f25k, MinDuty: 0.3, SafeDuty: ptr(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && err.Error() != tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestFrequencyUnmarshalText(t *testing.T) {
	tests := []struct {
		in   string
		want physic.Frequency
		err  bool
	}{
		{in: "25kHz", want: 25 * physic.KiloHertz},
		{in: "50Hz", want: 50 * physic.Hertz},
		{in: "1000", want: physic.KiloHertz},
		{in: "1.5kHz", want: 1500 * physic.Hertz},
		{in: "25 kHz", want: 25 * physic.KiloHertz},
		{in: "fast", err: true},
		{in: "-5Hz", err: true},
		{in: "25kV", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var f Frequency
			err := f.UnmarshalText([]byte(tt.in))
			if tt.err {
				if err == nil || err.Error() != `"`+tt.in+`" is not a frequency, use e.g. 25kHz, 50Hz or 1000` {
					t.Fatalf("UnmarshalText(%q) = %v, %v", tt.in, f, err)
				}
				return
			}
			if err != nil || physic.Frequency(f) != tt.want {
				t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", tt.in, f, err, tt.want)
			}
		})
	}
}
