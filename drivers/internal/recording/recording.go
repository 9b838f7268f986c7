// Package recording loads the bus recordings the driver tests replay:
// text files in each driver's testdata, one transaction per line, derived
// from the datasheets:
//
//	addr 44 w 24 00        # I²C: address, then bytes written
//	addr 44 r 66 8a 4f     # and bytes read (hex)
//	w 01 80 00 r 00 02 00  # SPI: one full-duplex frame
//
// "#" starts a comment. It is for tests only.
package recording

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/i2c/i2ctest"
)

// Op is one recorded transaction.
type Op struct {
	Addr uint16
	W, R []byte
}

// Parse reads a recording; name is used in errors.
func Parse(name string, data []byte) ([]Op, error) {
	var ops []Op
	for n, line := range strings.Split(string(data), "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		var op Op
		var dst *[]byte
		for i := 0; i < len(fields); i++ {
			switch f := fields[i]; f {
			case "addr":
				if i++; i == len(fields) {
					return nil, fmt.Errorf("%s:%d: addr needs a hex address", name, n+1)
				}
				a, err := strconv.ParseUint(fields[i], 16, 16)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: %v", name, n+1, err)
				}
				op.Addr = uint16(a)
			case "w":
				dst = &op.W
			case "r":
				dst = &op.R
			default:
				b, err := strconv.ParseUint(f, 16, 8)
				if err != nil || dst == nil {
					return nil, fmt.Errorf("%s:%d: %q is not a hex byte after w or r", name, n+1, f)
				}
				*dst = append(*dst, byte(b))
			}
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func load(t testing.TB, file string) []Op {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// I2C loads file as I²C transactions for i2ctest.Playback.
func I2C(t testing.TB, file string) []i2ctest.IO {
	t.Helper()
	var out []i2ctest.IO
	for _, op := range load(t, file) {
		out = append(out, i2ctest.IO{Addr: op.Addr, W: op.W, R: op.R})
	}
	return out
}

// SPI loads file as SPI frames for spitest.Playback.
func SPI(t testing.TB, file string) []conntest.IO {
	t.Helper()
	var out []conntest.IO
	for _, op := range load(t, file) {
		out = append(out, conntest.IO{W: op.W, R: op.R})
	}
	return out
}
