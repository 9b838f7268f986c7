package hardware

import "strconv"

// i2cDevice is the Linux character device of I²C bus n: "/dev/i2c-1".
func i2cDevice(bus int) string { return "/dev/i2c-" + strconv.Itoa(bus) }

// spiDevice is the Linux character device of SPI port bus.cs:
// "/dev/spidev0.0".
func spiDevice(bus, cs int) string {
	return "/dev/spidev" + strconv.Itoa(bus) + "." + strconv.Itoa(cs)
}
