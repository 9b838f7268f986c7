package modbus

import (
	"math"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzConfig feeds register maps to the decoder: it must never panic, and
// a map it accepts must plan into reads within the limits, with every field
// inside its block.
func FuzzConfig(f *testing.F) {
	f.Add(`{url: "tcp://h", registers: [{metric: v, table: input, address: 0, type: float32, byte_order: CDAB}]}`)
	f.Add(`{url: "rtu:///dev/x", unit: 3, max_gap: 0, registers: [{metric: a, table: holding, address: 5, bit: 3}, {metric: b, table: holding, address: 5, bit: 4}]}`)
	f.Add(`{url: "tcp://h", registers: [{metric: s, table: holding, address: 65530, type: string, length: 6}]}`)
	f.Fuzz(func(t *testing.T, src string) {
		var c Config
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		if dec.Decode(&c) != nil {
			return
		}
		s, err := c.compile()
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "options.") {
					t.Fatalf("error line %q names no option", line)
				}
			}
			return
		}
		for _, batch := range []bool{true, false} {
			for _, b := range plan(s.fields, all(s.fields), batch, s.maxRegs, s.maxBits, s.maxGap) {
				limit := s.maxRegs
				if b.table.bits() {
					limit = s.maxBits
				}
				if b.count > limit && len(b.fields) > 1 || b.end() > 65535 {
					t.Fatalf("block %+v past the limits", b)
				}
				for _, i := range b.fields {
					if fs := s.fields[i]; fs.table != b.table || fs.addr < b.addr || fs.end() > b.end() {
						t.Fatalf("field %+v outside block %+v", fs, b)
					}
				}
			}
		}
	})
}

// FuzzValue decodes any registers as every type in every order: never a
// panic, and whole numbers encode back to the same registers.
func FuzzValue(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0}, uint8(0))
	f.Add([]byte{0x7f, 0xc0, 0, 0, 0, 0, 0, 1}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, sel uint8) {
		orders := []Order{{}, {ByteSwap: true}, {WordSwap: true}, {ByteSwap: true, WordSwap: true}}
		o := orders[int(sel)%len(orders)]
		regs := make([]uint16, len(data)/2)
		for i := range regs {
			regs[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		}
		_ = DecodeString(o, regs)
		for _, typ := range types {
			n := typ.registers()
			if typ == String || typ == Bool || len(regs) < n {
				continue
			}
			v, err := DecodeValue(typ, o, regs[:n])
			if err != nil {
				t.Fatalf("DecodeValue(%s, %04x): %v", typ, regs[:n], err)
			}
			if _, _, isInt := typ.integer(); !isInt && math.IsNaN(v) {
				continue
			}
			if (typ == Int64 || typ == Uint64) && math.Abs(v) >= 1<<53 {
				continue // float64 cannot carry it exactly
			}
			back, err := EncodeValue(typ, o, v)
			if err != nil {
				t.Fatalf("EncodeValue(%s, %v): %v", typ, v, err)
			}
			for i := range back {
				if back[i] != regs[i] && !(typ == Float32 || typ == Float64) {
					t.Fatalf("%s %v: %04x encodes back to %04x", typ, v, regs[:n], back)
				}
			}
		}
	})
}
