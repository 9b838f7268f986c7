package hardware

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"

	"github.com/edged-gateway/edged/hardware/internal/busname"
)

// The file every Raspberry Pi OS since Bookworm reads at boot.
const configTxt = "/boot/firmware/config.txt"

// I2C opens the I²C bus name: i2c1, or periph's I2C1, /dev/i2c-1 or 1.
// The name exactly as registered wins, then i2c<n>, I2C<n>, /dev/i2c-<n> and
// bus number n, so a registered simulated board's i2c1 comes before the
// host's. A bus the host lacks is a *NotFoundError saying how to enable it.
func I2C(name string) (i2c.BusCloser, error) {
	refs := i2creg.All()
	n, ok := busname.ParseI2C(name)
	candidates := []string{strings.TrimSpace(name)}
	if ok {
		candidates = append(candidates, busname.I2CName(n), "I2C"+strconv.Itoa(n), i2cDevice(n))
	}
	for _, c := range candidates {
		for _, r := range refs {
			if r.Name == c || slices.Contains(r.Aliases, c) {
				return openBus(name, r.Name, "i2c", r.Open)
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("hardware: %q is not an I²C bus name: use i2c<n> such as i2c1 (periph's I2C1 and /dev/i2c-1 work too)", name)
	}
	for _, r := range refs {
		if r.Number == n {
			return openBus(name, r.Name, "i2c", r.Open)
		}
	}
	return nil, &NotFoundError{Name: strings.TrimSpace(name), Fix: i2cFix(n)}
}

// SPI opens the SPI port name: spi0.0, or periph's SPI0.0 or
// /dev/spidev0.0, in the same order as I2C. A port the host lacks is a
// *NotFoundError saying how to enable it.
func SPI(name string) (spi.PortCloser, error) {
	refs := spireg.All()
	bus, cs, ok := busname.ParseSPI(name)
	candidates := []string{strings.TrimSpace(name)}
	if ok {
		candidates = append(candidates, busname.SPIName(bus, cs), fmt.Sprintf("SPI%d.%d", bus, cs), spiDevice(bus, cs))
	}
	for _, c := range candidates {
		for _, r := range refs {
			if r.Name == c || slices.Contains(r.Aliases, c) {
				return openBus(name, r.Name, "spi", r.Open)
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("hardware: %q is not an SPI port name: use spi<bus>.<cs> such as spi0.0 (periph's SPI0.0 and /dev/spidev0.0 work too)", name)
	}
	return nil, &NotFoundError{Name: strings.TrimSpace(name), Fix: spiFix(bus, cs)}
}

// Pin returns the GPIO pin name: GPIO17, 17, or any name gpioreg knows
// (P1_11 on a Raspberry Pi). An alias is resolved to the real pin, so the
// result can be type-asserted to the driver's pin type. A pin the host
// lacks is a *NotFoundError.
func Pin(name string) (gpio.PinIO, error) {
	n, ok := busname.ParseGPIO(name)
	candidates := []string{strings.TrimSpace(name)}
	if ok {
		candidates = append(candidates, busname.GPIOName(n), strconv.Itoa(n))
	}
	for _, c := range candidates {
		if p := gpioreg.ByName(c); p != nil {
			if r, ok := p.(gpio.RealPin); ok {
				p = r.Real()
			}
			return p, nil
		}
	}
	return nil, &NotFoundError{Name: strings.TrimSpace(name), Fix: gpioFix(len(gpioreg.All()))}
}

// openBus opens a registered bus, adding the fix for a permission error.
func openBus[T any](asked, registered, group string, open func() (T, error)) (T, error) {
	h, err := open()
	if err == nil {
		return h, nil
	}
	var zero T
	hint := ""
	if errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "permission denied") {
		hint = fmt.Sprintf(" (add the user to the %s group: sudo usermod -aG %s $USER, then log in again)", group, group)
	}
	return zero, fmt.Errorf("hardware: open %s (%s): %w%s", strings.TrimSpace(asked), registered, err, hint)
}

func i2cFix(n int) string {
	dev := i2cDevice(n)
	switch n {
	case 1:
		return "enable I2C (raspi-config → Interface Options, or dtparam=i2c_arm=on in " + configTxt + ") and check " + dev
	case 0:
		return "enable it with dtparam=i2c_vc=on in " + configTxt + " and check " + dev
	}
	return fmt.Sprintf("enable it with dtoverlay=i2c%d in %s and check %s", n, configTxt, dev)
}

func spiFix(bus, cs int) string {
	dev := spiDevice(bus, cs)
	if bus == 0 && cs <= 1 {
		return "enable SPI (raspi-config → Interface Options, or dtparam=spi=on in " + configTxt + ") and check " + dev
	}
	return fmt.Sprintf("enable it with dtoverlay=spi%d-%dcs in %s and check %s", bus, cs+1, configTxt, dev)
}

func gpioFix(pins int) string {
	if pins == 0 {
		return "no GPIO driver is loaded: check that /dev/gpiochip0 exists and that the user may open it (the gpio group)"
	}
	return fmt.Sprintf("none of the %d registered pins has this name or number: use the GPIO number of the board's pinout, such as GPIO17", pins)
}
