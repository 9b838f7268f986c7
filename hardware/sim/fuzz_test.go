package sim

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// The fuzz targets drive the default board with arbitrary transactions.
// Their input is a sequence of records: a selector byte, a read length, a
// write length and the bytes to write. Seeds are in testdata/fuzz.

// record cuts the next transaction off data.
func record(data []byte) (sel, rn byte, w, rest []byte, ok bool) {
	if len(data) < 3 {
		return 0, 0, nil, nil, false
	}
	wn := min(int(data[2])%24, len(data)-3)
	return data[0], data[1] % 24, data[3 : 3+wn], data[3+wn:], true
}

// FuzzI2CTx checks that no sequence of I²C transactions panics, that the
// only errors are NACKs, and that the BME280's chip id survives.
func FuzzI2CTx(f *testing.F) {
	f.Add([]byte{0, 1, 1, 0xD0})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, _ := newBoard(t, Config{})
		bus := mustI2C(t, b, "i2c1")
		addrs := []uint16{0x76, 0x48, 0x44, 0x00, 0x50}
		for {
			sel, rn, w, rest, ok := record(data)
			if !ok {
				break
			}
			data = rest
			err := bus.Tx(addrs[int(sel)%len(addrs)], w, make([]byte, rn))
			if err != nil && !errors.Is(err, ErrNACK) {
				t.Fatalf("Tx: %v", err)
			}
		}
		if id := tx(t, bus, 0x76, []byte{0xD0}, 1); id[0] != 0x60 {
			t.Fatalf("chip id %#x after the sequence", id[0])
		}
	})
}

// FuzzSPITx checks that no sequence of SPI frames to the MCP3008 and the
// BME280 panics or fails, and that the BME280's chip id survives.
func FuzzSPITx(f *testing.F) {
	f.Add([]byte{0, 3, 3, 0x01, 0x80, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, _ := newBoard(t, Config{})
		var conns [2]spi.Conn
		for i, name := range []string{"spi0.0", "spi0.1"} {
			port, _ := b.SPI(name)
			c, err := port.Connect(physic.MegaHertz, spi.Mode0, 8)
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
		}
		for {
			sel, rn, w, rest, ok := record(data)
			if !ok {
				break
			}
			data = rest
			if len(w) == 0 && rn == 0 {
				continue
			}
			r := make([]byte, len(w))
			if len(w) == 0 {
				r = make([]byte, rn)
			}
			if err := conns[sel%2].Tx(w, r); err != nil {
				t.Fatalf("Tx(% x): %v", w, err)
			}
		}
		r := make([]byte, 2)
		if err := conns[1].Tx([]byte{0xD0, 0}, r); err != nil || r[1] != 0x60 {
			t.Fatalf("chip id % x, %v after the sequence", r, err)
		}
	})
}
