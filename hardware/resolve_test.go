package hardware

import (
	"errors"
	"testing"

	"github.com/edged-gateway/edged/hardware/sim"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
)

// These tests use periph's process-wide registries and host drivers: none
// runs in parallel, and each leaves the registries as it found them.

// requireNoBuses initialises periph's host drivers for real and skips the
// test on a host that has buses of its own.
func requireNoBuses(t *testing.T) {
	t.Helper()
	rep, err := Init()
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.I2C)+len(rep.SPI)+len(rep.GPIO) > 0 {
		t.Skipf("this host has buses: %s", rep.Summary())
	}
}

// TestMissingBuses runs for real on a host without I²C, SPI or GPIO, as
// the build machine is: every name fails with the fix for it.
func TestMissingBuses(t *testing.T) {
	requireNoBuses(t)
	const i2c1Fix = "enable I2C (raspi-config → Interface Options, or dtparam=i2c_arm=on in /boot/firmware/config.txt) and check /dev/i2c-1"
	const spi0Fix = "enable SPI (raspi-config → Interface Options, or dtparam=spi=on in /boot/firmware/config.txt) and check /dev/spidev0."
	const gpioFix = "no GPIO driver is loaded: check that /dev/gpiochip0 exists and that the user may open it (the gpio group)"
	tests := []struct {
		name     string
		open     func() error
		want     string
		notFound bool
	}{
		{"i2c1", i2cOpener("i2c1"), "i2c1 not found: " + i2c1Fix, true},
		{"periph alias", i2cOpener("I2C1"), "I2C1 not found: " + i2c1Fix, true},
		{"device path", i2cOpener("/dev/i2c-1"), "/dev/i2c-1 not found: " + i2c1Fix, true},
		{"bus number", i2cOpener("1"), "1 not found: " + i2c1Fix, true},
		{"i2c0", i2cOpener("i2c0"), "i2c0 not found: enable it with dtparam=i2c_vc=on in /boot/firmware/config.txt and check /dev/i2c-0", true},
		{"i2c3", i2cOpener(" i2c3 "), "i2c3 not found: enable it with dtoverlay=i2c3 in /boot/firmware/config.txt and check /dev/i2c-3", true},
		{"not an i2c name", i2cOpener("usb0"), `hardware: "usb0" is not an I²C bus name: use i2c<n> such as i2c1 (periph's I2C1 and /dev/i2c-1 work too)`, false},
		{"spi0.0", spiOpener("spi0.0"), "spi0.0 not found: " + spi0Fix + "0", true},
		{"SPI0.1", spiOpener("SPI0.1"), "SPI0.1 not found: " + spi0Fix + "1", true},
		{"spi1.2", spiOpener("spi1.2"), "spi1.2 not found: enable it with dtoverlay=spi1-3cs in /boot/firmware/config.txt and check /dev/spidev1.2", true},
		{"not an spi name", spiOpener("spi0"), `hardware: "spi0" is not an SPI port name: use spi<bus>.<cs> such as spi0.0 (periph's SPI0.0 and /dev/spidev0.0 work too)`, false},
		{"GPIO17", pinOpener("GPIO17"), "GPIO17 not found: " + gpioFix, true},
		{"pin number", pinOpener("17"), "17 not found: " + gpioFix, true},
		{"header name", pinOpener("P1_11"), "P1_11 not found: " + gpioFix, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.open()
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v\nwant  %s", err, tt.want)
			}
			var nf *NotFoundError
			if errors.Is(err, ErrNotFound) != tt.notFound || errors.As(err, &nf) != tt.notFound {
				t.Fatalf("errors.Is(err, ErrNotFound) = %t, want %t", errors.Is(err, ErrNotFound), tt.notFound)
			}
		})
	}
}

func i2cOpener(name string) func() error {
	return func() error { _, err := I2C(name); return err }
}

func spiOpener(name string) func() error {
	return func() error { _, err := SPI(name); return err }
}

func pinOpener(name string) func() error {
	return func() error { _, err := Pin(name); return err }
}

// TestResolveSim resolves names through the registries to a registered
// simulated board.
func TestResolveSim(t *testing.T) {
	requireNoBuses(t)
	board, err := sim.New(sim.Config{
		Chips: []sim.ChipConfig{{Kind: sim.KindBME280, Bus: "i2c1"}, {Kind: sim.KindMCP3008, Bus: "spi0.0"}},
		Pins:  []sim.PinConfig{{Name: "GPIO17"}, {Name: "GPIO27"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := board.Register(); err != nil {
		t.Fatal(err)
	}
	defer board.Unregister()
	tests := []struct {
		name string
		open func() (string, error)
		want string
	}{
		{"i2c1", func() (string, error) { return name(I2C("i2c1")) }, "i2c1"},
		{"I2C1", func() (string, error) { return name(I2C("I2C1")) }, "i2c1"},
		{"/dev/i2c-1", func() (string, error) { return name(I2C("/dev/i2c-1")) }, "i2c1"},
		{"i2c bus number", func() (string, error) { return name(I2C("1")) }, "i2c1"},
		{"spi0.0", func() (string, error) { return name(SPI("spi0.0")) }, "spi0.0"},
		{"SPI0.0", func() (string, error) { return name(SPI("SPI0.0")) }, "spi0.0"},
		{"/dev/spidev0.0", func() (string, error) { return name(SPI("/dev/spidev0.0")) }, "spi0.0"},
		{"GPIO17", func() (string, error) { return simPin(Pin("GPIO17")) }, "GPIO17"},
		{"pin number", func() (string, error) { return simPin(Pin("27")) }, "GPIO27"},
		{"lower case", func() (string, error) { return simPin(Pin("gpio17")) }, "GPIO17"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.open()
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := I2C("i2c2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("i2c2 on the simulated board: %v", err)
	}
	_, err = Pin("GPIO4")
	want := "GPIO4 not found: none of the 2 registered pins has this name or number: use the GPIO number of the board's pinout, such as GPIO17"
	if err == nil || err.Error() != want {
		t.Fatalf("GPIO4: %v\nwant %s", err, want)
	}
}

func name[T interface{ String() string }](h T, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func simPin(p interface{ Name() string }, err error) (string, error) {
	if err != nil {
		return "", err
	}
	if _, ok := p.(*sim.Pin); !ok {
		return "", errors.New("not the *sim.Pin itself")
	}
	return p.Name(), nil
}

func TestOpenFailure(t *testing.T) {
	requireNoBuses(t)
	denied := func() (i2c.BusCloser, error) { return nil, errors.New("sysfs-i2c: open /dev/i2c-7: permission denied") }
	if err := i2creg.Register("/dev/i2c-7", []string{"I2C7"}, 7, denied); err != nil {
		t.Fatal(err)
	}
	defer i2creg.Unregister("/dev/i2c-7")
	_, err := I2C("i2c7")
	want := "hardware: open i2c7 (/dev/i2c-7): sysfs-i2c: open /dev/i2c-7: permission denied" +
		" (add the user to the i2c group: sudo usermod -aG i2c $USER, then log in again)"
	if err == nil || err.Error() != want {
		t.Fatalf("error %v\nwant  %s", err, want)
	}
	if errors.Is(err, ErrNotFound) {
		t.Fatal("a bus that failed to open is reported as not found")
	}
}
