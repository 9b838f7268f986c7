package hardware

import "strconv"

// i2cDevice is the Linux character device of I²C bus n: "/dev/i2c-1".
func i2cDevice(bus int) string { return "/dev/i2c-" + strconv.Itoa(bus) }

// spiDevice is the Linux character device of SPI port bus.cs:
// "/dev/spidev0.0".
func spiDevice(bus, cs int) string {
	return "/dev/spidev" + strconv.Itoa(bus) + "." + strconv.Itoa(cs)
}

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
