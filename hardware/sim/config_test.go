package sim

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" for valid; else the whole message
	}{
		{"zero", Config{}, ""},
		{"default", DefaultConfig(), ""},
		{"periph-style names", Config{Chips: []ChipConfig{{Kind: "bme280", Bus: "I2C1"}, {Kind: "mcp3008", Bus: "/dev/spidev0.1"}},
			Pins: []PinConfig{{Name: "gpio5"}}}, ""},
		{"unknown kind", Config{Chips: []ChipConfig{{Kind: "bme680"}}},
			`chips[0].kind: "bme680" is not a chip kind, use one of bme280, ads1115, mcp3008, sht3x`},
		{"bad address", Config{Chips: []ChipConfig{{Kind: "bme280"}, {Kind: "ads1115", Address: 0x99}}},
			"chips[1].address: 0x99 is not a valid address for ads1115, use 0x48–0x4B"},
		{"sht3x address", Config{Chips: []ChipConfig{{Kind: "sht3x", Address: 0x76}}},
			"chips[0].address: 0x76 is not a valid address for sht3x, use 0x44 or 0x45"},
		{"spi chip on i2c", Config{Chips: []ChipConfig{{Kind: "mcp3008", Bus: "i2c1"}}},
			"chips[0].bus: mcp3008 is an SPI chip, put it on an SPI port such as spi0.0"},
		{"i2c chip on spi", Config{Chips: []ChipConfig{{Kind: "sht3x", Bus: "spi0.0"}}},
			"chips[0].bus: sht3x is an I²C chip, put it on an I²C bus such as i2c1"},
		{"address on spi", Config{Chips: []ChipConfig{{Kind: "bme280", Bus: "spi0.0", Address: 0x76}}},
			"chips[0].address: bme280 on SPI has no address (0x76 given), remove it"},
		{"bad bus", Config{Chips: []ChipConfig{{Kind: "bme280", Bus: "usb0"}}},
			`chips[0].bus: "usb0" is not a bus name, use i2c<n> such as i2c1 or spi<bus>.<cs> such as spi0.0`},
		{"bare number bus", Config{Chips: []ChipConfig{{Kind: "bme280", Bus: "1"}}},
			`chips[0].bus: "1" is not a bus name, use i2c<n> such as i2c1 or spi<bus>.<cs> such as spi0.0`},
		{"duplicate address", Config{Chips: []ChipConfig{{Kind: "bme280"}, {Kind: "sht3x"}, {Kind: "bme280", Bus: "I2C1", Address: 0x76}}},
			"chips[2]: i2c1 address 0x76 is already taken by chips[0] (bme280)"},
		{"duplicate port", Config{Chips: []ChipConfig{{Kind: "mcp3008"}, {Kind: "bme280", Bus: "spi0.0"}}},
			"chips[1]: spi0.0 is already taken by chips[0] (mcp3008)"},
		{"vref elsewhere", Config{Chips: []ChipConfig{{Kind: "ads1115", Vref: 5}}},
			"chips[0].vref: only an mcp3008 takes a reference voltage, remove it"},
		{"negative vref", Config{Chips: []ChipConfig{{Kind: "mcp3008", Vref: -1}}},
			"chips[0].vref: -1 is not a reference voltage, use a positive number of volts such as 3.3"},
		{"unknown signal", Config{Chips: []ChipConfig{{Kind: "sht3x", Signals: map[string]Signal{"temp": {}}}}},
			"chips[0].signals.temp: sht3x has no such signal, use temperature, humidity"},
		{"bad waveform", Config{Chips: []ChipConfig{{Kind: "ads1115", Signals: map[string]Signal{"ch2": {Waveform: "triangle"}}}}},
			`chips[0].signals.ch2: waveform: "triangle" is not a waveform, use one of sine, square, random_walk, constant`},
		{"bad pin name", Config{Pins: []PinConfig{{Name: "P1_11"}}},
			`pins[0].name: "P1_11" is not a pin name, use GPIO<n> such as GPIO17`},
		{"bare pin number", Config{Pins: []PinConfig{{Name: "17"}}},
			`pins[0].name: "17" is not a pin name, use GPIO<n> such as GPIO17`},
		{"duplicate pin", Config{Pins: []PinConfig{{Name: "GPIO17"}, {Name: "gpio17"}}},
			"pins[1].name: GPIO17 is already declared by pins[0]"},
		{"bad pin signal", Config{Pins: []PinConfig{{Name: "GPIO17", Signal: &Signal{Min: 1, Max: 0}}}},
			"pins[0].signal: max (0) is below min (1): swap them"},
		{"every problem", Config{Chips: []ChipConfig{{Kind: "x"}, {Kind: "ads1115", Address: 1}}, Pins: []PinConfig{{Name: "x"}}},
			`chips[0].kind: "x" is not a chip kind, use one of bme280, ads1115, mcp3008, sht3x` + "\n" +
				"chips[1].address: 0x01 is not a valid address for ads1115, use 0x48–0x4B\n" +
				`pins[0].name: "x" is not a pin name, use GPIO<n> such as GPIO17`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("Validate() = %q\nwant          %q", got, tt.want)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	cfg, err := Config{
		Chips: []ChipConfig{{Kind: "bme280"}, {Kind: "mcp3008"}, {Kind: "ads1115", Bus: "I2C3"}, {Kind: "sht3x", Bus: "/dev/i2c-1"}},
		Pins:  []PinConfig{{Name: "gpio22"}},
	}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		bus  string
		addr uint16
	}{{"i2c1", 0x76}, {"spi0.0", 0}, {"i2c3", 0x48}, {"i2c1", 0x44}}
	for i, w := range want {
		if c := cfg.Chips[i]; c.Bus != w.bus || c.Address != w.addr {
			t.Errorf("chips[%d] on %s at %#x, want %s at %#x", i, c.Bus, c.Address, w.bus, w.addr)
		}
	}
	if cfg.Pins[0].Name != "GPIO22" {
		t.Errorf("pin name %q, want GPIO22", cfg.Pins[0].Name)
	}
}

func TestDefaultConfig(t *testing.T) {
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{strings.Join(b.I2CBuses(), " "), strings.Join(b.SPIPorts(), " "), strings.Join(b.Pins(), " ")}
	want := []string{"i2c1", "spi0.0 spi0.1", "GPIO17 GPIO18 GPIO27"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("got %q, want %q", got[i], want[i])
		}
	}
	kinds := []string{}
	for _, c := range b.Chips() {
		kinds = append(kinds, c.Kind())
	}
	if k := strings.Join(kinds, " "); k != "bme280 ads1115 sht3x mcp3008 bme280" {
		t.Errorf("chips %s", k)
	}
	if s := DefaultConfig().Pins[0].Signal; s == nil || s.Period != 2*time.Second {
		t.Errorf("GPIO17 signal %+v", s)
	}
}

func TestKinds(t *testing.T) {
	tests := []struct {
		kind     string
		i2c, spi bool
		signals  int
	}{
		{KindBME280, true, true, 3},
		{KindADS1115, true, false, 4},
		{KindMCP3008, false, true, 8},
		{KindSHT3x, true, false, 2},
	}
	if len(Kinds()) != len(tests) {
		t.Fatalf("Kinds() = %v", Kinds())
	}
	for i, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if Kinds()[i] != tt.kind {
				t.Fatalf("Kinds()[%d] = %s", i, Kinds()[i])
			}
			k, ok := spec(tt.kind)
			if !ok || (k.i2cAddrs != nil) != tt.i2c || k.spi != tt.spi || len(k.signals) != tt.signals {
				t.Fatalf("spec(%s) = %+v, %t", tt.kind, k, ok)
			}
			waves, err := k.waves(nil, 3)
			if err != nil || len(waves) != tt.signals {
				t.Fatalf("default waves: %v, %d", err, len(waves))
			}
		})
	}
	if _, ok := spec("bmp180"); ok {
		t.Fatal("spec of an unknown kind")
	}
}

func TestWavesOverride(t *testing.T) {
	k, _ := spec(KindSHT3x)
	waves, err := k.waves(map[string]Signal{"humidity": {Waveform: "square", Min: 10, Max: 90, Period: time.Minute}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := waves["humidity"].At(t0.Add(30 * time.Second)); got != 10 {
		t.Fatalf("configured humidity at half a period = %g, want 10", got)
	}
	if got := waves["temperature"].At(t0); got != 21 {
		t.Fatalf("default temperature at t0 = %g, want 21", got)
	}
	if _, err := k.waves(map[string]Signal{"humidity": {Min: 2, Max: 1}}, 0); err == nil {
		t.Fatal("waves accepted max below min")
	}
}
