package sim

import (
	"math"
	"sync"
	"time"
)

// MCP3008 models a Microchip MCP3008 8-channel 10-bit ADC on SPI, bit by
// bit as the datasheet's figure 6-1 draws it: leading zeros, a start bit,
// SGL/DIFF and D2–D0, one sample clock, a null bit, the result B9–B0 MSB
// first, then B1–B9 LSB first and zeros while chip select stays low. With
// the usual three bytes (0x01, SGL<<7|channel<<4, 0x00) the reply is
// (0x00, 0b00000_0_B9B8, B7–B0). DOUT is high-impedance before the null bit
// and reads 0, as MISO does on a Raspberry Pi.
//
// The code is floor(1024 × V / Vref) clamped to 0…1023, sampled at the
// instant D0 is clocked in; in differential mode V is IN+ − IN−, and a
// negative difference reads 0.
type MCP3008 struct {
	Faults
	Inputs

	mu   sync.Mutex
	vref float64
}

func newMCP3008(in Inputs, vref float64) *MCP3008 {
	if vref == 0 {
		vref = 3.3
	}
	return &MCP3008{Inputs: in, vref: vref}
}

// Kind returns "mcp3008".
func (d *MCP3008) Kind() string { return KindMCP3008 }

// Vref returns the reference voltage.
func (d *MCP3008) Vref() float64 { return d.vref }

func (d *MCP3008) spiTx(w, r []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	start := -1 // clock of the start bit
	var cfg byte
	var code uint16
	for k := 0; k < 8*len(w); k++ {
		in := w[k/8]>>(7-k%8)&1 != 0
		if start < 0 {
			if in {
				start = k
			}
			continue
		}
		var out bool
		switch n := k - start; {
		case n <= 4: // SGL/DIFF, D2, D1, D0
			cfg = cfg<<1 | b2u(in)
			if n == 4 {
				code = d.convert(cfg, d.now())
			}
		case n >= 7 && n <= 16: // B9…B0
			out = code>>(16-n)&1 != 0
		case n >= 17 && n <= 25: // B1…B9
			out = code>>(n-16)&1 != 0
		}
		if out {
			r[k/8] |= 0x80 >> (k % 8)
		}
	}
	return nil
}

// convert samples the input cfg (SGL/DIFF, D2, D1, D0) selects at t.
func (d *MCP3008) convert(cfg byte, t time.Time) uint16 {
	ch := int(cfg & 7)
	v := d.at(adcChannel(ch), t)
	if cfg&8 == 0 { // differential: pairs 0/1, 2/3, 4/5, 6/7, D0 swaps them
		pair := ch &^ 1
		plus, minus := d.at(adcChannel(pair), t), d.at(adcChannel(pair+1), t)
		if ch&1 != 0 {
			plus, minus = minus, plus
		}
		v = plus - minus
	}
	code := math.Floor(v*1024/d.vref + 1e-9)
	return uint16(min(max(code, 0), 1023))
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}
