package sim

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/physic"
)

func TestI2CBusTx(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(b *Board, bus *I2CBus)
		addr    uint16
		w       []byte
		n       int
		wantErr string // the whole message; "" for success
		is      error
	}{
		{"probe a present chip", nil, 0x76, nil, 0, "", nil},
		{"nothing at the address", nil, 0x50, []byte{0x00}, 1,
			"sim i2c1: tx 0x50: nothing at this address: no acknowledge from device (NACK)", ErrNACK},
		{"absent chip", func(b *Board, _ *I2CBus) { c, _ := b.Chip("i2c1", 0x76); c.SetAbsent(true) }, 0x76, []byte{0xD0}, 1,
			"sim i2c1: tx bme280@0x76: chip is absent: no acknowledge from device (NACK)", ErrNACK},
		{"chip fault", func(b *Board, _ *I2CBus) { c, _ := b.Chip("i2c1", 0x48); c.FailNext(1) }, 0x48, []byte{0x01}, 2,
			"sim i2c1: tx ads1115@0x48: injected bus fault", ErrInjected},
		{"bus fault at any address", func(_ *Board, bus *I2CBus) { bus.FailNext(1) }, 0x50, nil, 0,
			"sim i2c1: tx 0x50: injected bus fault", ErrInjected},
		{"model error is wrapped", nil, 0x44, nil, 6,
			"sim i2c1: tx sht3x@0x44: no data to read, send a measurement or status command first: no acknowledge from device (NACK)", ErrNACK},
		{"general call", nil, 0x00, []byte{0x06}, 0, "", nil},
		{"general call read", nil, 0x00, nil, 1, "sim i2c1: general call: reads are not allowed: no acknowledge from device (NACK)", ErrNACK},
		{"general call with nobody to answer", func(b *Board, _ *I2CBus) {
			for _, a := range []uint16{0x48, 0x44} {
				c, _ := b.Chip("i2c1", a)
				c.SetAbsent(true)
			}
		}, 0x00, []byte{0x06}, 0, "sim i2c1: general call: no acknowledge from device (NACK)", ErrNACK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBoard(t, Config{})
			bus := mustI2C(t, b, "i2c1")
			if tt.setup != nil {
				tt.setup(b, bus)
			}
			err := bus.Tx(tt.addr, tt.w, make([]byte, tt.n))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr || !errors.Is(err, tt.is) {
				t.Fatalf("Tx: %v\nwant %q", err, tt.wantErr)
			}
			// Faults are one-shot: the next transaction is fine unless the
			// chip is absent or never was.
			if errors.Is(err, ErrInjected) {
				if err := bus.Tx(0x76, []byte{0xD0}, make([]byte, 1)); err != nil {
					t.Fatalf("after the fault: %v", err)
				}
			}
		})
	}
}

func TestI2CBusSpeed(t *testing.T) {
	b, _ := newBoard(t, Config{})
	bus := mustI2C(t, b, "i2c1")
	if bus.Speed() != 100*physic.KiloHertz {
		t.Fatalf("default speed %s", bus.Speed())
	}
	if err := bus.SetSpeed(400 * physic.KiloHertz); err != nil || bus.Speed() != 400*physic.KiloHertz {
		t.Fatalf("SetSpeed: %v, speed %s", err, bus.Speed())
	}
	if err := bus.SetSpeed(0); err == nil {
		t.Fatal("SetSpeed(0) accepted")
	}
	if bus.String() != "i2c1" {
		t.Fatalf("String() = %q", bus.String())
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
