package modbus

import (
	"encoding/binary"
	"math"
	"testing"
)

// permute lays big-endian bytes out in registers the way a device in each
// order does, written out by hand rather than through Order, so the test
// does not check the code against itself.
func permute(be []byte, order string) []uint16 {
	n := len(be) / 2
	regs := make([]uint16, n)
	for i := range n {
		w := i // which big-endian word goes in register i
		if order == "CDAB" || order == "DCBA" {
			w = n - 1 - i
		}
		hi, lo := be[2*w], be[2*w+1]
		if order == "BADC" || order == "DCBA" {
			hi, lo = lo, hi
		}
		regs[i] = uint16(hi)<<8 | uint16(lo)
	}
	return regs
}

func TestPermuteMatchesTheNotation(t *testing.T) {
	be := []byte{0xA, 0xB, 0xC, 0xD}
	for order, want := range map[string][]uint16{"ABCD": {0x0A0B, 0x0C0D}, "DCBA": {0x0D0C, 0x0B0A}, "BADC": {0x0B0A, 0x0D0C}, "CDAB": {0x0C0D, 0x0A0B}} {
		if got := permute(be, order); got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s: %04x, want %04x", order, got, want)
		}
	}
}

// bigEndian is v of type t as big-endian bytes.
func bigEndian(t Type, v float64) []byte {
	b := make([]byte, 2*t.registers())
	switch t {
	case Int16:
		binary.BigEndian.PutUint16(b, uint16(int16(v)))
	case Uint16:
		binary.BigEndian.PutUint16(b, uint16(v))
	case Int32:
		binary.BigEndian.PutUint32(b, uint32(int32(v)))
	case Uint32:
		binary.BigEndian.PutUint32(b, uint32(v))
	case Float32:
		binary.BigEndian.PutUint32(b, math.Float32bits(float32(v)))
	case Int64:
		binary.BigEndian.PutUint64(b, uint64(int64(v)))
	case Uint64:
		binary.BigEndian.PutUint64(b, uint64(v))
	case Float64:
		binary.BigEndian.PutUint64(b, math.Float64bits(v))
	}
	return b
}

// typeValues are values that tell the orders apart (no two bytes equal).
var typeValues = map[Type]float64{
	Int16: -12345, Uint16: 0xBEEF, Int32: -123456789, Uint32: 0xDEADBEEF, Float32: 123.456,
	Int64: -1234567890123456, Uint64: 0x0102030405060708, Float64: -9876.54321,
}

func TestDecodeAndEncodeEveryTypeInEveryOrder(t *testing.T) {
	for typ, v := range typeValues {
		for name, o := range orderNames {
			t.Run(string(typ)+"/"+name, func(t *testing.T) {
				regs := permute(bigEndian(typ, v), name)
				if typ.registers() == 1 && (name == "CDAB" || name == "DCBA") {
					regs = permute(bigEndian(typ, v), map[string]string{"CDAB": "ABCD", "DCBA": "BADC"}[name])
				}
				got, err := DecodeValue(typ, o, regs)
				want := v
				if typ == Float32 {
					want = 123.456 // the float32 nearest, shown as its shortest decimal
				}
				if err != nil || got != want {
					t.Fatalf("DecodeValue(%04x) = %v, %v; want %v", regs, got, err, want)
				}
				back, err := EncodeValue(typ, o, v)
				if err != nil || len(back) != len(regs) {
					t.Fatalf("EncodeValue = %04x, %v", back, err)
				}
				for i := range back {
					if back[i] != regs[i] {
						t.Fatalf("EncodeValue = %04x, want %04x", back, regs)
					}
				}
			})
		}
	}
}

func TestEncodeRefusesWhatDoesNotFit(t *testing.T) {
	for _, tc := range []struct {
		t Type
		v float64
	}{{Int16, 40000}, {Uint16, -1}, {Uint16, 1.5}, {Int32, math.MaxInt32 + 1}, {Uint64, math.MaxUint64}, {Int64, math.MaxInt64}, {Float32, 1e39}, {String, 1}} {
		if _, err := EncodeValue(tc.t, Order{}, tc.v); err == nil {
			t.Errorf("EncodeValue(%s, %v) = nil error", tc.t, tc.v)
		}
	}
}

func TestDecodeStringCutsAtNULAndTrimsPadding(t *testing.T) {
	regs := []uint16{'E'<<8 | 'M', '-'<<8 | '4', '2'<<8 | ' ', 0, 'x'<<8 | 'y'}
	if got := DecodeString(Order{}, regs); got != "EM-42" {
		t.Fatalf("DecodeString = %q", got)
	}
	swapped := []uint16{'M'<<8 | 'E', '4'<<8 | '-'}
	if got := DecodeString(Order{ByteSwap: true, WordSwap: true}, swapped); got != "EM-4" {
		t.Fatalf("DecodeString(byte-swapped) = %q", got)
	}
}

func TestDecodeValueRefusesWrongLengths(t *testing.T) {
	if _, err := DecodeValue(Float32, Order{}, []uint16{1}); err == nil {
		t.Fatal("float32 from one register decoded")
	}
	if _, err := DecodeValue(String, Order{}, []uint16{1}); err == nil {
		t.Fatal("string decoded as a number")
	}
}
