package sim

import (
	"fmt"
	"strings"
	"testing"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi/spireg"
)

// These tests use periph's process-wide registries: none of them runs in
// parallel, and each leaves the registries as it found them.

func TestRegister(t *testing.T) {
	b, _ := newBoard(t, Config{})
	if err := b.Register(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Unregister() })
	if err := b.Register(); err != nil || !b.Registered() {
		t.Fatalf("second Register: %v", err)
	}
	tests := []struct {
		name string
		open func() (string, error)
		want string
	}{
		{"i2creg name", func() (string, error) { h, err := i2creg.Open("i2c1"); return str(h, err) }, "i2c1"},
		{"i2creg alias", func() (string, error) { h, err := i2creg.Open("I2C1"); return str(h, err) }, "i2c1"},
		{"i2creg number", func() (string, error) { h, err := i2creg.Open("1"); return str(h, err) }, "i2c1"},
		{"spireg name", func() (string, error) { h, err := spireg.Open("spi0.1"); return str(h, err) }, "spi0.1"},
		{"spireg alias", func() (string, error) { h, err := spireg.Open("SPI0.0"); return str(h, err) }, "spi0.0"},
		{"spireg number is cs 0", func() (string, error) { h, err := spireg.Open("0"); return str(h, err) }, "spi0.0"},
		{"gpioreg name", func() (string, error) { return realName(gpioreg.ByName("GPIO17")) }, "GPIO17"},
		{"gpioreg number", func() (string, error) { return realName(gpioreg.ByName("27")) }, "GPIO27"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.open()
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	// What the registry opens is the board's: a fault shows through it.
	c, _ := b.Chip("i2c1", 0x76)
	c.SetAbsent(true)
	bus, _ := i2creg.Open("i2c1")
	if err := bus.Tx(0x76, []byte{0xD0}, make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("Tx through the registry to an absent chip: %v", err)
	}
}

// realName returns the name of the *Pin behind what gpioreg returned.
func realName(p gpio.PinIO) (string, error) {
	if r, ok := p.(gpio.RealPin); ok {
		p = r.Real()
	}
	sp, ok := p.(*Pin)
	if !ok {
		return "", fmt.Errorf("gpioreg returned %T", p)
	}
	return sp.Name(), nil
}

func TestUnregister(t *testing.T) {
	for round := range 3 { // registration is repeatable
		b, _ := newBoard(t, Config{})
		if err := b.Register(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := b.Unregister(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := b.Unregister(); err != nil || b.Registered() {
			t.Fatalf("round %d: second Unregister: %v", round, err)
		}
		if _, err := i2creg.Open("i2c1"); err == nil {
			t.Fatalf("round %d: i2c1 still registered", round)
		}
		if _, err := spireg.Open("spi0.0"); err == nil {
			t.Fatalf("round %d: spi0.0 still registered", round)
		}
		if p := gpioreg.ByName("GPIO17"); p != nil {
			t.Fatalf("round %d: GPIO17 still registered", round)
		}
		if p := gpioreg.ByName("17"); p != nil {
			t.Fatalf("round %d: alias 17 still registered", round)
		}
	}
}

func TestRegisterConflicts(t *testing.T) {
	t.Run("two boards", func(t *testing.T) {
		first, _ := newBoard(t, Config{})
		if err := first.Register(); err != nil {
			t.Fatal(err)
		}
		defer first.Unregister()
		second, _ := newBoard(t, Config{})
		err := second.Register()
		if err == nil || !strings.Contains(err.Error(), `sim: register i2c1 in i2creg: i2creg: can't register bus "i2c1" twice`) {
			t.Fatalf("second board: %v", err)
		}
		if second.Registered() {
			t.Fatal("second board says it is registered")
		}
		// The first board's registrations are intact.
		if _, err := i2creg.Open("i2c1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a real pin of the same name", func(t *testing.T) {
		other, _ := newBoard(t, Config{Pins: []PinConfig{{Name: "GPIO27"}}})
		real, _ := other.Pin("GPIO27")
		if err := gpioreg.Register(real); err != nil {
			t.Fatal(err)
		}
		defer gpioreg.Unregister("GPIO27")
		b, _ := newBoard(t, Config{})
		err := b.Register()
		if err == nil || !strings.Contains(err.Error(), `sim: register GPIO27 in gpioreg: gpioreg: can't register pin "GPIO27" twice`) {
			t.Fatalf("Register: %v", err)
		}
		// Everything the board registered before the conflict is undone.
		if _, err := i2creg.Open("i2c1"); err == nil {
			t.Fatal("i2c1 left registered")
		}
		if p := gpioreg.ByName("GPIO17"); p != nil {
			t.Fatal("GPIO17 left registered")
		}
	})
	t.Run("a host bus keeps its alias and number", func(t *testing.T) {
		host, _ := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindSHT3x, Bus: "i2c1"}}})
		open := func() (i2c.BusCloser, error) { return host.I2C("i2c1") }
		if err := i2creg.Register("/dev/i2c-1", []string{"I2C1"}, 1, open); err != nil {
			t.Fatal(err)
		}
		defer i2creg.Unregister("/dev/i2c-1")
		b, _ := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindBME280}}})
		if err := b.Register(); err != nil {
			t.Fatal(err)
		}
		defer b.Unregister()
		for _, r := range i2creg.All() {
			if r.Name == "i2c1" && (len(r.Aliases) != 0 || r.Number != -1) {
				t.Fatalf("sim bus registered with aliases %v number %d", r.Aliases, r.Number)
			}
		}
	})
}
