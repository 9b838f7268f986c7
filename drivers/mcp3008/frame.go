package mcp3008

import "fmt"

// frameLen is the size of one conversion's SPI frame.
const frameLen = 3

// request returns the frame that starts a conversion of input cfg: bit 3
// is SGL/DIFF (1: single-ended), bits 2–0 are D2–D0.
func request(cfg byte) [frameLen]byte {
	return [frameLen]byte{0x01, cfg << 4, 0x00}
}

// parseFrame returns the 10-bit code of a reply, checking the null bit
// that the chip drives low just before B9.
func parseFrame(r []byte) (uint16, error) {
	if len(r) != frameLen {
		return 0, fmt.Errorf("reply is %d bytes, want %d", len(r), frameLen)
	}
	if r[1]&0x04 != 0 {
		return 0, fmt.Errorf("reply % x has its null bit set: no chip is driving MISO", r)
	}
	return uint16(r[1]&0x03)<<8 | uint16(r[2]), nil
}
