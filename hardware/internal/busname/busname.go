package busname

// The names edged accepts for I²C buses, SPI ports and GPIO pins.
// Configuration names are short and lower-case: i2c1, spi0.0, GPIO17.
// periph's own are accepted too: I2C1 and /dev/i2c-1 (sysfs-i2c), SPI0.0 and
// /dev/spidev0.0 (sysfs-spi), a bare I²C bus number (i2creg) and a bare GPIO
// number (gpioreg's aliases). Both hardware and hardware/sim use it, so a
// name means the same bus on the host and on the simulated board.

import (
	"strconv"
	"strings"
)

// ParseI2C parses an I²C bus name: i2c1, I2C1, i2c-1, /dev/i2c-1 or a bare bus
// number such as 1. It returns the bus number and whether name was one.
func ParseI2C(name string) (bus int, ok bool) {
	s := strings.ToLower(strings.TrimSpace(name))
	s = strings.TrimPrefix(s, "/dev/")
	switch {
	case strings.HasPrefix(s, "i2c-"):
		s = s[len("i2c-"):]
	case strings.HasPrefix(s, "i2c"):
		s = s[len("i2c"):]
	}
	return number(s)
}

// ParseSPI parses an SPI port name: spi0.0, SPI0.0, spidev0.0 or /dev/spidev0.0.
// It returns the bus and chip-select numbers and whether name was one.
func ParseSPI(name string) (bus, cs int, ok bool) {
	s := strings.ToLower(strings.TrimSpace(name))
	s = strings.TrimPrefix(s, "/dev/")
	switch {
	case strings.HasPrefix(s, "spidev"):
		s = s[len("spidev"):]
	case strings.HasPrefix(s, "spi"):
		s = s[len("spi"):]
	default:
		return 0, 0, false
	}
	b, c, found := strings.Cut(s, ".")
	if !found {
		return 0, 0, false
	}
	if bus, ok = number(b); !ok {
		return 0, 0, false
	}
	if cs, ok = number(c); !ok {
		return 0, 0, false
	}
	return bus, cs, true
}

// ParseGPIO parses a GPIO pin name: GPIO17, gpio17 or the bare number 17 that
// gpioreg registers as an alias. It returns the pin number and whether name
// was one.
func ParseGPIO(name string) (n int, ok bool) {
	s := strings.ToUpper(strings.TrimSpace(name))
	s = strings.TrimPrefix(s, "GPIO")
	return number(s)
}

// I2CName is the canonical name of I²C bus n: "i2c1".
func I2CName(bus int) string { return "i2c" + strconv.Itoa(bus) }

// SPIName is the canonical name of SPI port bus.cs: "spi0.0".
func SPIName(bus, cs int) string { return "spi" + strconv.Itoa(bus) + "." + strconv.Itoa(cs) }

// GPIOName is the canonical name of GPIO pin n: "GPIO17".
func GPIOName(n int) string { return "GPIO" + strconv.Itoa(n) }

// number parses a small non-negative decimal with no sign, spaces or
// leading zeros beyond a lone "0".
func number(s string) (int, bool) {
	if s == "" || len(s) > 4 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
