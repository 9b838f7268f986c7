package busname

import "testing"

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
			bus, ok := ParseI2C(tt.in)
			if ok != tt.isOK || bus != tt.bus {
				t.Fatalf("ParseI2C(%q) = %d, %t; want %d, %t", tt.in, bus, ok, tt.bus, tt.isOK)
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
			bus, cs, ok := ParseSPI(tt.in)
			if ok != tt.isOK || bus != tt.bus || cs != tt.cs {
				t.Fatalf("ParseSPI(%q) = %d, %d, %t; want %d, %d, %t", tt.in, bus, cs, ok, tt.bus, tt.cs, tt.isOK)
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
			n, ok := ParseGPIO(tt.in)
			if ok != tt.isOK || n != tt.n {
				t.Fatalf("ParseGPIO(%q) = %d, %t; want %d, %t", tt.in, n, ok, tt.n, tt.isOK)
			}
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{I2CName(1), "i2c1"},
		{SPIName(0, 1), "spi0.1"},
		{GPIOName(17), "GPIO17"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}
