package sim

import (
	"errors"
	"testing"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// mcpConn connects to an MCP3008 on spi0.0 with inputs 0, 1.65, 3.3, 1.0,
// 2.0, 0.5, 3.0 and 4.0 V and reference vref (0: default).
func mcpConn(t *testing.T, vref float64) (spi.Conn, *Board) {
	t.Helper()
	sig := map[string]Signal{}
	for i, v := range []float64{0, 1.65, 3.3, 1.0, 2.0, 0.5, 3.0, 4.0} {
		sig[adcChannel(i)] = constant(v)
	}
	b, _ := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindMCP3008, Bus: "spi0.0", Vref: vref, Signals: sig}}})
	port, err := b.SPI("spi0.0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := port.Connect(physic.MegaHertz, spi.Mode0, 8)
	if err != nil {
		t.Fatal(err)
	}
	return c, b
}

func TestMCP3008Channels(t *testing.T) {
	tests := []struct {
		name string
		cfg  byte // SGL/DIFF and D2–D0
		vref float64
		want uint16
	}{
		{"ch0 at 0 V", 0x8, 0, 0},
		{"ch1 at half Vref", 0x9, 0, 512},
		{"ch2 at Vref clamps", 0xA, 0, 1023},
		{"ch3", 0xB, 0, 310},
		{"ch4", 0xC, 0, 620},
		{"ch5", 0xD, 0, 155},
		{"ch6", 0xE, 0, 930},
		{"ch7 above Vref clamps", 0xF, 0, 1023},
		{"ch1 with Vref 5", 0x9, 5, 337},
		{"ch0+ ch1- negative reads 0", 0x0, 0, 0},
		{"ch0- ch1+", 0x1, 0, 512},
		{"ch2+ ch3-", 0x2, 0, 713},
		{"ch2- ch3+ negative", 0x3, 0, 0},
		{"ch4+ ch5-", 0x4, 0, 465},
		{"ch6+ ch7-", 0x6, 0, 0},
		{"ch6- ch7+", 0x7, 0, 310},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mcpConn(t, tt.vref)
			r := make([]byte, 3)
			if err := c.Tx([]byte{0x01, tt.cfg << 4, 0x00}, r); err != nil {
				t.Fatal(err)
			}
			want := []byte{0x00, byte(tt.want >> 8), byte(tt.want)}
			if string(r) != string(want) {
				t.Fatalf("read % x, want % x (code %d)", r, want, tt.want)
			}
		})
	}
}

func TestMCP3008Framing(t *testing.T) {
	tests := []struct {
		name string
		w    []byte
		want []byte
	}{
		// Start bit at clock 5: 0000 0 1 SGL D2 | D1 D0 ...; the result
		// straddles bytes 1 and 2, then B1 and B2 LSB first.
		{"start bit early", []byte{0x06, 0xC0, 0x00}, []byte{0x00, 0x04, 0xDB}},
		// Clocks past B0 give B1…B9 LSB first, then zeros.
		{"LSB-first tail", []byte{0x01, 0xB0, 0x00, 0x00, 0x00}, []byte{0x00, 0x01, 0x36, 0xD9, 0x00}},
		{"no start bit", []byte{0x00, 0x00, 0x00}, []byte{0x00, 0x00, 0x00}},
		{"start bit last", []byte{0x00, 0x00, 0x01}, []byte{0x00, 0x00, 0x00}},
		{"start at once: ch7, B9 in the last clock", []byte{0xFF}, []byte{0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := mcpConn(t, 0)
			r := make([]byte, len(tt.w))
			if err := c.Tx(tt.w, r); err != nil {
				t.Fatal(err)
			}
			if string(r) != string(tt.want) {
				t.Fatalf("Tx(% x) read % x, want % x", tt.w, r, tt.want)
			}
		})
	}
}

func TestMCP3008Faults(t *testing.T) {
	c, b := mcpConn(t, 0)
	chip, err := b.Chip("spi0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	if chip.(*MCP3008).Vref() != 3.3 {
		t.Fatalf("default Vref %g", chip.(*MCP3008).Vref())
	}
	r := make([]byte, 3)
	chip.FailNext(1)
	if err := c.Tx([]byte{0x01, 0x90, 0x00}, r); !errors.Is(err, ErrInjected) {
		t.Fatalf("Tx with a fault pending: %v, want ErrInjected", err)
	}
	chip.SetAbsent(true)
	r[2] = 0xAA
	if err := c.Tx([]byte{0x01, 0x90, 0x00}, r); err != nil || string(r) != "\x00\x00\x00" {
		t.Fatalf("absent chip read % x, %v; want zeros and no error", r, err)
	}
	chip.SetAbsent(false)
	if err := c.Tx([]byte{0x01, 0x90, 0x00}, r); err != nil || r[1] != 0x02 {
		t.Fatalf("replugged chip read % x, %v", r, err)
	}
}
