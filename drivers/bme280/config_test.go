package bme280

import (
	"testing"
	"time"

	"periph.io/x/devices/v3/bmxx80"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "zero value", cfg: Config{}},
		{name: "weather monitoring", cfg: Config{Oversampling: Oversampling{Temperature: "1x", Pressure: "1x", Humidity: "1x"}}},
		{name: "indoor navigation", cfg: Config{Oversampling: Oversampling{Temperature: "2x", Pressure: "16x", Humidity: "1x"}, Filter: "16", Standby: 500 * time.Microsecond}},
		{name: "humidity only", cfg: Config{Oversampling: Oversampling{Pressure: "off"}}},
		{name: "bad oversampling", cfg: Config{Oversampling: Oversampling{Pressure: "32x"}}, want: `options.oversampling.pressure: "32x" is not an oversampling, use off, 1x, 2x, 4x, 8x or 16x`},
		{name: "number without x", cfg: Config{Oversampling: Oversampling{Humidity: "4"}}, want: `options.oversampling.humidity: "4" is not an oversampling, use off, 1x, 2x, 4x, 8x or 16x`},
		{name: "temperature off", cfg: Config{Oversampling: Oversampling{Temperature: "off"}}, want: "options.oversampling.temperature: cannot be off: pressure and humidity are compensated with the temperature, use at least 1x"},
		{name: "bad filter", cfg: Config{Filter: "32"}, want: `options.filter: "32" is not a filter coefficient, use off, 2, 4, 8 or 16`},
		{name: "filter without standby", cfg: Config{Filter: "4"}, want: "options.filter: the IIR filter only runs in normal mode: set options.standby too, e.g. standby: 500ms"},
		{name: "standby without filter", cfg: Config{Standby: time.Second}, want: "options.standby: normal mode is only used with a filter: set options.filter (2, 4, 8 or 16) or remove standby"},
		{name: "negative standby", cfg: Config{Filter: "2", Standby: -time.Second}, want: "options.standby: -1s is negative"},
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

func TestOpts(t *testing.T) {
	got := Config{Oversampling: Oversampling{Temperature: "1x", Pressure: "off"}, Filter: "8", Standby: time.Second}.opts()
	want := bmxx80.Opts{Temperature: bmxx80.O1x, Pressure: bmxx80.Off, Humidity: bmxx80.O4x, Filter: bmxx80.F8, Standby: time.Second}
	if got != want {
		t.Fatalf("opts() = %+v, want %+v", got, want)
	}
}
