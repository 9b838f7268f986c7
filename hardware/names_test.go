package hardware

import (
	"testing"

	"edged/hardware/sim"
)

func TestParseI2C(t *testing.T) {
	tests := []struct {
		in   string
		bus  int
		isOK bool
	}{
		{"i2c1", 1, true},
		{"I2C1", 1, true},
		{"i2c-1", 1, true},
		{"/dev/i2c-1", 1, true},
		{"1", 1, true},
		{" i2c10 ", 10, true},
		{"i2c0", 0, true},
		{"i2c", 0, false},
		{"i2c01", 0, false},
		{"i2c-x", 0, false},
		{"spi0.0", 0, false},
		{"i2c+1", 0, false},
		{"i2c123456", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			bus, ok := parseI2C(tt.in)
			if ok != tt.isOK || bus != tt.bus {
				t.Fatalf("parseI2C(%q) = %d, %t; want %d, %t", tt.in, bus, ok, tt.bus, tt.isOK)
			}
		})
	}
}

func TestParseSPI(t *testing.T) {
	tests := []struct {
		in      string
		bus, cs int
		isOK    bool
	}{
		{"spi0.0", 0, 0, true},
		{"SPI0.1", 0, 1, true},
		{"spidev1.2", 1, 2, true},
		{"/dev/spidev0.0", 0, 0, true},
		{"spi0", 0, 0, false},
		{"spi0.", 0, 0, false},
		{"spi.0", 0, 0, false},
		{"spi0.0.0", 0, 0, false},
		{"i2c1", 0, 0, false},
		{"0.0", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			bus, cs, ok := parseSPI(tt.in)
			if ok != tt.isOK || bus != tt.bus || cs != tt.cs {
				t.Fatalf("parseSPI(%q) = %d, %d, %t; want %d, %d, %t", tt.in, bus, cs, ok, tt.bus, tt.cs, tt.isOK)
			}
		})
	}
}

func TestParseGPIO(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		isOK bool
	}{
		{"GPIO17", 17, true},
		{"gpio17", 17, true},
		{"17", 17, true},
		{"GPIO0", 0, true},
		{"GPIO", 0, false},
		{"GPIO-1", 0, false},
		{"P1_11", 0, false},
		{"GPIO17a", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, ok := parseGPIO(tt.in)
			if ok != tt.isOK || n != tt.n {
				t.Fatalf("parseGPIO(%q) = %d, %t; want %d, %t", tt.in, n, ok, tt.n, tt.isOK)
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{i2cName(1), "i2c1"},
		{spiName(0, 1), "spi0.1"},
		{gpioName(17), "GPIO17"},
		{i2cDevice(1), "/dev/i2c-1"},
		{spiDevice(0, 1), "/dev/spidev0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// TestNamesAgree checks that package sim reads every name as this package
// does: the simulated board finds a bus or pin exactly when this package
// parses the name to one the board has.
func TestNamesAgree(t *testing.T) {
	board, err := sim.New(sim.Config{
		Chips: []sim.ChipConfig{{Kind: sim.KindSHT3x, Bus: "i2c1"}, {Kind: sim.KindMCP3008, Bus: "spi1.2"}},
		Pins:  []sim.PinConfig{{Name: "GPIO17"}, {Name: "GPIO0"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"i2c1", "I2C1", "i2c-1", "/dev/i2c-1", "1", " i2c1 ", "i2c01", "i2c", "i2c2", "I2C-1",
		"spi1.2", "SPI1.2", "spidev1.2", "/dev/spidev1.2", "spi1", "spi1.02", "spi0.0", "1.2",
		"GPIO17", "gpio17", "17", "GPIO0", "0", "GPIO017", "GPIO", "P1_11", ""}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			bus, ok := parseI2C(n)
			h, err := board.I2C(n)
			if want := ok && i2cName(bus) == "i2c1"; (err == nil) != want || (err == nil && h.String() != i2cName(bus)) {
				t.Errorf("I2C: hardware parses %t (%s), sim finds %v", ok, i2cName(bus), err)
			}
			b, cs, ok := parseSPI(n)
			p, err := board.SPI(n)
			if want := ok && spiName(b, cs) == "spi1.2"; (err == nil) != want || (err == nil && p.String() != spiName(b, cs)) {
				t.Errorf("SPI: hardware parses %t (%s), sim finds %v", ok, spiName(b, cs), err)
			}
			g, ok := parseGPIO(n)
			pin, err := board.Pin(n)
			if want := ok && (g == 17 || g == 0); (err == nil) != want || (err == nil && pin.Name() != gpioName(g)) {
				t.Errorf("GPIO: hardware parses %t (%s), sim finds %v", ok, gpioName(g), err)
			}
		})
	}
}
