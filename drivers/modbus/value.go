package modbus

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Type is a register value's type.
type Type string

// The types a register map entry may have.
const (
	Bool    Type = "bool"
	Int16   Type = "int16"
	Uint16  Type = "uint16"
	Int32   Type = "int32"
	Uint32  Type = "uint32"
	Int64   Type = "int64"
	Uint64  Type = "uint64"
	Float32 Type = "float32"
	Float64 Type = "float64"
	String  Type = "string"
)

var types = []Type{Bool, Int16, Uint16, Int32, Uint32, Int64, Uint64, Float32, Float64, String}

// registers is how many 16-bit registers a value of t takes; strings take
// their configured length.
func (t Type) registers() int {
	switch t {
	case Bool, Int16, Uint16:
		return 1
	case Int32, Uint32, Float32:
		return 2
	case Int64, Uint64, Float64:
		return 4
	}
	return 0
}

// integer reports whether t holds whole numbers, and their range.
func (t Type) integer() (lo, hi float64, ok bool) {
	switch t {
	case Int16:
		return math.MinInt16, math.MaxInt16, true
	case Uint16:
		return 0, math.MaxUint16, true
	case Int32:
		return math.MinInt32, math.MaxInt32, true
	case Uint32:
		return 0, math.MaxUint32, true
	case Int64:
		return math.MinInt64, math.MaxInt64, true
	case Uint64:
		return 0, math.MaxUint64, true
	}
	return 0, 0, false
}

// Order is how a value's bytes lie in its registers: ByteSwap puts the low
// byte of each register first (BA instead of AB), WordSwap puts the low
// register first (CDAB instead of ABCD).
type Order struct {
	ByteSwap bool
	WordSwap bool
}

// orderNames are the four orders in the usual notation for a 32-bit value
// whose big-endian bytes are A B C D.
var orderNames = map[string]Order{
	"ABCD": {},
	"DCBA": {ByteSwap: true, WordSwap: true},
	"BADC": {ByteSwap: true},
	"CDAB": {WordSwap: true},
}

// String is the order's ABCD notation.
func (o Order) String() string {
	for name, v := range orderNames {
		if v == o {
			return name
		}
	}
	return "ABCD"
}

// bytes lays regs out as the big-endian bytes of the value they hold.
func (o Order) bytes(regs []uint16) []byte {
	b := make([]byte, 2*len(regs))
	n := len(regs)
	for i, r := range regs {
		j := i
		if o.WordSwap {
			j = n - 1 - i
		}
		if o.ByteSwap {
			r = r<<8 | r>>8
		}
		binary.BigEndian.PutUint16(b[2*j:], r)
	}
	return b
}

// registers is the inverse of bytes.
func (o Order) registers(b []byte) []uint16 {
	n := len(b) / 2
	regs := make([]uint16, n)
	for i := range regs {
		j := i
		if o.WordSwap {
			j = n - 1 - i
		}
		r := binary.BigEndian.Uint16(b[2*j:])
		if o.ByteSwap {
			r = r<<8 | r>>8
		}
		regs[i] = r
	}
	return regs
}

// DecodeValue turns the registers of one numeric value into a float64.
// int64 and uint64 beyond 2^53 lose precision, as every float64 does.
func DecodeValue(t Type, o Order, regs []uint16) (float64, error) {
	if t == String || t == Bool || len(regs) != t.registers() {
		return 0, fmt.Errorf("decode %s: %d registers, want %d", t, len(regs), t.registers())
	}
	b := o.bytes(regs)
	switch t {
	case Int16:
		return float64(int16(binary.BigEndian.Uint16(b))), nil
	case Uint16:
		return float64(binary.BigEndian.Uint16(b)), nil
	case Int32:
		return float64(int32(binary.BigEndian.Uint32(b))), nil
	case Uint32:
		return float64(binary.BigEndian.Uint32(b)), nil
	case Float32:
		// The shortest decimal that is this float32 (230.1, not
		// 230.10000610351562), as the device meant it.
		f := math.Float32frombits(binary.BigEndian.Uint32(b))
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return float64(f), nil
		}
		v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
		return v, nil
	case Int64:
		return float64(int64(binary.BigEndian.Uint64(b))), nil
	case Uint64:
		return float64(binary.BigEndian.Uint64(b)), nil
	case Float64:
		return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
	}
	return 0, fmt.Errorf("decode %s: not a numeric type", t)
}

// EncodeValue turns v into the registers of type t. v must already be in
// the type's range and, for integer types, whole.
func EncodeValue(t Type, o Order, v float64) ([]uint16, error) {
	if lo, hi, ok := t.integer(); ok {
		if v != math.Trunc(v) || v < lo || v > hi || math.IsNaN(v) {
			return nil, fmt.Errorf("encode %s: %v is not a whole number in [%.0f, %.0f]", t, v, lo, hi)
		}
	}
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
		if math.Abs(v) > math.MaxFloat32 && !math.IsInf(v, 0) {
			return nil, fmt.Errorf("encode float32: %v is out of range", v)
		}
		binary.BigEndian.PutUint32(b, math.Float32bits(float32(v)))
	case Int64:
		if v >= math.MaxInt64 { // 2^63 does not fit
			return nil, fmt.Errorf("encode int64: %v is out of range", v)
		}
		binary.BigEndian.PutUint64(b, uint64(int64(v)))
	case Uint64:
		if v >= math.MaxUint64 { // 2^64 does not fit
			return nil, fmt.Errorf("encode uint64: %v is out of range", v)
		}
		binary.BigEndian.PutUint64(b, uint64(v))
	case Float64:
		binary.BigEndian.PutUint64(b, math.Float64bits(v))
	default:
		return nil, fmt.Errorf("encode %s: not a numeric type", t)
	}
	return o.registers(b), nil
}

// DecodeString turns registers into text: the bytes in order o, cut at the
// first NUL, trailing spaces trimmed (how devices pad names and serials).
func DecodeString(o Order, regs []uint16) string {
	// Word order makes no sense across a whole string: only bytes swap.
	b := Order{ByteSwap: o.ByteSwap}.bytes(regs)
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimRight(string(b), " ")
}
