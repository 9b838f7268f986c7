package sht3x

import "fmt"

// frameLen is the size of a measurement result: temperature MSB, LSB, CRC,
// humidity MSB, LSB, CRC.
const frameLen = 6

// crc8 is the SHT3x checksum over a 2-byte word: CRC-8 with polynomial
// 0x31 (x^8+x^5+x^4+1), initial value 0xFF, no reflection, no final XOR.
// crc8([]byte{0xBE, 0xEF}) is 0x92 (the datasheet's example).
func crc8(b []byte) byte {
	c := byte(0xFF)
	for _, x := range b {
		c ^= x
		for range 8 {
			if c&0x80 != 0 {
				c = c<<1 ^ 0x31
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// measurement is one decoded frame.
type measurement struct {
	celsius float64 // -45 .. 130
	rh      float64 // 0 .. 100
}

// decodeFrame checks both CRCs of a 6-byte result and converts the raw
// words with the datasheet's formulas: T = -45 + 175*St/65535 °C and
// RH = 100*Srh/65535 %.
func decodeFrame(b []byte) (measurement, error) {
	if len(b) != frameLen {
		return measurement{}, fmt.Errorf("frame is %d bytes, want %d", len(b), frameLen)
	}
	words := [2]uint16{}
	for i, what := range [2]string{"temperature", "humidity"} {
		w := b[3*i : 3*i+2]
		if got, want := b[3*i+2], crc8(w); got != want {
			return measurement{}, fmt.Errorf("%s word 0x%04x has CRC 0x%02x, want 0x%02x", what, uint16(w[0])<<8|uint16(w[1]), got, want)
		}
		words[i] = uint16(w[0])<<8 | uint16(w[1])
	}
	return measurement{
		celsius: -45 + 175*float64(words[0])/65535,
		rh:      100 * float64(words[1]) / 65535,
	}, nil
}
