package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/drivers/sim"
	"github.com/edged-gateway/edged/runtime/poller"
)

// testKinds adds stand-in chip and pin kinds to the built-in table, so the
// connection rules are tested apart from any one driver.
func testKinds() map[string]deviceKind {
	kinds := builtinKinds()
	options := func(DeviceConfig, string) (any, error) { return nil, nil }
	open := func(d DeviceConfig, _ any, _ *board) (poller.Device, error) {
		return sim.New(d.Name, sim.Config{Waveform: "constant"}, nil)
	}
	kinds["i2cchip"] = deviceKind{conn: connI2C, options: options, open: open}
	kinds["spichip"] = deviceKind{conn: connSPI, options: options, open: open}
	kinds["anybus"] = deviceKind{conn: connI2C | connSPI, options: options, open: open}
	kinds["relay"] = deviceKind{conn: connPin, options: options, open: open}
	return kinds
}

func TestDeviceConnections(t *testing.T) {
	tests := []struct {
		name, devices string
		want          []string
	}{
		{"valid mix", `
  - {name: a, kind: i2cchip, bus: i2c1, address: 0x76}
  - {name: b, kind: i2cchip, bus: i2c1, address: 0x77}
  - {name: c, kind: anybus, bus: spi0.0}
  - {name: d, kind: anybus, bus: i2c1, address: 0x44}
  - {name: e, kind: relay, pin: GPIO27}
  - {name: f, kind: sim}`, nil},
		{"two devices on one I2C address", `
  - {name: a, kind: i2cchip, bus: i2c1, address: 0x76}
  - {name: b, kind: anybus, bus: I2C1, address: 118}`,
			[]string{"devices[1].address: i2c1 address 0x76 is already used by devices[0].address: one device per pin, chip select or I2C address"}},
		{"same address on another bus is fine", `
  - {name: a, kind: i2cchip, bus: i2c1, address: 0x76}
  - {name: b, kind: i2cchip, bus: i2c3, address: 0x76}`, nil},
		{"two devices on one pin", `
  - {name: fan, kind: relay, pin: GPIO27}
  - {name: pump, kind: relay, pin: gpio27}`,
			[]string{"devices[1].pin: GPIO27 is already used by devices[0].pin: one device per pin, chip select or I2C address"}},
		{"two devices on one chip select", `
  - {name: a, kind: spichip, bus: spi0.0}
  - {name: b, kind: anybus, bus: spi0.0}`,
			[]string{"devices[1].bus: spi0.0 is already used by devices[0].bus: one device per pin, chip select or I2C address"}},
		{"wrong connections", `
  - {name: a, kind: i2cchip, bus: spi0.0}
  - {name: b, kind: i2cchip, bus: i2c1}
  - {name: c, kind: spichip, bus: spi0.1, address: 0x10}
  - {name: d, kind: relay}
  - {name: e, kind: relay, pin: GPIO5, bus: i2c1}
  - {name: f, kind: sim, bus: i2c1, pin: GPIO4}
  - {name: g, kind: i2cchip, bus: i2c1, address: 0x76, pin: GPIO6}`,
			[]string{
				`devices[0].bus: "spi0.0" is not a bus a i2cchip device can use: use an I2C bus such as i2c1`,
				`devices[1].address: 0x00 is not a 7-bit I2C address: set the chip's address, e.g. address: 0x76`,
				`devices[2].address: SPI devices have no address: the chip select is in the bus name (spi0.1)`,
				`devices[3].pin: "" is not a GPIO pin: use e.g. GPIO17 (BCM numbering)`,
				`devices[4].bus: a relay device uses a pin, not a bus: set pin, e.g. pin: GPIO17`,
				`devices[5].bus: a sim device has no bus: remove it`,
				`devices[5].pin: a sim device has no pin: remove it`,
				`devices[6].pin: a i2cchip device is on a bus, not a pin: use bus (and address)`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(p, []byte("devices:"+tc.devices+"\n"), 0o644)
			_, devs, err := loadConfig(p, testKinds())
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if err == nil && len(devs) == 0 {
				t.Fatal("no devices built")
			}
		})
	}
}

func TestScaleConfigReachesThePoller(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("devices:\n  - {name: a, kind: sim, scale: {offset: 2, unit: bar}}\n  - {name: b, kind: sim}\n"), 0o644)
	_, devs, err := loadConfig(p, builtinKinds())
	if err != nil {
		t.Fatal(err)
	}
	if s := devs[0].scale; s == nil || *s != (poller.Scale{Factor: 1, Offset: 2, Unit: "bar"}) {
		t.Fatalf("scale %+v", devs[0].scale)
	}
	if devs[1].scale != nil {
		t.Fatal("a device without scale got one")
	}
}
