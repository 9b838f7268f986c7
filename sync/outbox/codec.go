package outbox

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// The record format. A key is the seq as 8 bytes big-endian, so bbolt's byte
// order is seq order. A value is
//
//	version  1 byte  (codecVersion)
//	time     8 bytes big-endian int64 unix nanoseconds; MinInt64 = zero time
//	value    8 bytes big-endian IEEE-754 bits
//	device   uvarint length, bytes
//	metric   uvarint length, bytes
//	unit     uvarint length, bytes
//	source   uvarint length, bytes (versions 2 and 3)
//	flags    1 byte (version 3 only): bit 0 Reading.Simulated,
//	         bit 1 a hops byte follows; other bits are ignored
//	hops     1 byte, Reading.Hops (version 3 with flags bit 1 only)
//
// Version 1, written by releases before Reading.Source existed, ends after
// unit; it still decodes (with Source "") so a file written by an older
// release drains after an upgrade. New records are version 2, or version 3
// when they carry a flag (a simulated reading, or a service's emit with
// Hops > 0), so a device's real reading is written as it was before flags
// existed. A record without the hops byte decodes with Hops 0.
//
// The time sits at a fixed offset in every version so the age cap reads it
// without decoding the rest. The seq is not repeated in the value.
const (
	codecV1      byte = 1 // device, metric, unit
	codecVersion byte = 2 // device, metric, unit, source; what appendEncoded writes for a plain reading
	codecFlags   byte = 3 // version 2 plus a flags byte; what appendEncoded writes for a flagged reading
	flagSim      byte = 1 // flags bit: Reading.Simulated
	flagHops     byte = 2 // flags bit: a Reading.Hops byte follows the flags
	keyLen            = 8
	headerLen         = 1 + 8 + 8
	// zeroTime encodes time.Time{}, whose UnixNano is undefined.
	zeroTime = math.MinInt64
	// maxInterned bounds the string cache used while decoding.
	maxInterned = 4096
)

// MaxNameLen is the longest Device, Metric, Unit or Source, in bytes, that
// Append accepts.
const MaxNameLen = 1024

// encodedLen is the size of r's value as appendEncoded writes it.
func encodedLen(r *reading.Reading) int {
	n := headerLen + strLen(r.Device) + strLen(r.Metric) + strLen(r.Unit) + strLen(r.Source)
	if flagged(r) {
		n++
	}
	if r.Hops > 0 {
		n++
	}
	return n
}

// flagged reports whether r needs the version 3 flags byte.
func flagged(r *reading.Reading) bool { return r.Simulated || r.Hops > 0 }

func strLen(s string) int {
	n := 1
	for x := uint64(len(s)); x >= 0x80; x >>= 7 {
		n++
	}
	return n + len(s)
}

// checkReading reports why r cannot be encoded faithfully, or nil.
func checkReading(r *reading.Reading) error {
	for _, f := range [...]struct{ name, s string }{
		{"device", r.Device}, {"metric", r.Metric}, {"unit", r.Unit}, {"source", r.Source},
	} {
		if len(f.s) > MaxNameLen {
			return fmt.Errorf("%s is %d bytes, at most %d allowed", f.name, len(f.s), MaxNameLen)
		}
	}
	if !r.Time.IsZero() {
		if r.Time.Before(time.Unix(0, math.MinInt64+1)) || r.Time.After(time.Unix(0, math.MaxInt64)) {
			return fmt.Errorf("time %s is outside the years 1678–2262", r.Time.Format(time.RFC3339))
		}
	}
	return nil
}

// appendEncoded appends r's value to dst, in the current version. r must
// pass checkReading.
func appendEncoded(dst []byte, r *reading.Reading) []byte {
	t := int64(zeroTime)
	if !r.Time.IsZero() {
		t = r.Time.UnixNano()
	}
	version := codecVersion
	if flagged(r) {
		version = codecFlags
	}
	dst = append(dst, version)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t))
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(r.Value))
	dst = appendStr(dst, r.Device)
	dst = appendStr(dst, r.Metric)
	dst = appendStr(dst, r.Unit)
	dst = appendStr(dst, r.Source)
	if flagged(r) {
		var flags byte
		if r.Simulated {
			flags |= flagSim
		}
		if r.Hops > 0 {
			flags |= flagHops
		}
		dst = append(dst, flags)
		if r.Hops > 0 {
			dst = append(dst, r.Hops)
		}
	}
	return dst
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decodeTime returns the unix-nano time of an encoded value of any known
// version.
func decodeTime(v []byte) (int64, error) {
	if len(v) < headerLen {
		return 0, errShort
	}
	if v[0] != codecV1 && v[0] != codecVersion && v[0] != codecFlags {
		return 0, fmt.Errorf("%w %d", errVersion, v[0])
	}
	return int64(binary.BigEndian.Uint64(v[1:9])), nil
}

// decode fills r (all fields but Seq) from v, a record of any known version;
// a version 1 record has Source "", a record without a hops byte Hops 0. Strings are copied out of v (which may
// be bbolt's mmap) and, when in is not nil, shared with earlier identical
// strings.
func decode(v []byte, r *reading.Reading, in *interner) error {
	t, err := decodeTime(v)
	if err != nil {
		return err
	}
	value := math.Float64frombits(binary.BigEndian.Uint64(v[9:17]))
	rest := v[headerLen:]
	var strs [4]string
	nstrs := len(strs)
	if v[0] == codecV1 {
		nstrs = 3 // no source
	}
	for i := range nstrs {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return errShort
		}
		strs[i] = in.str(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	r.Simulated, r.Hops = false, 0
	if v[0] == codecFlags {
		if len(rest) == 0 {
			return errShort
		}
		flags := rest[0]
		rest = rest[1:]
		r.Simulated = flags&flagSim != 0
		if flags&flagHops != 0 {
			if len(rest) == 0 {
				return errShort
			}
			r.Hops = rest[0]
			rest = rest[1:]
		}
	}
	if len(rest) != 0 {
		return errTrail
	}
	r.Device, r.Metric, r.Unit, r.Source = strs[0], strs[1], strs[2], strs[3]
	r.Value = value
	r.Time = time.Time{}
	if t != zeroTime {
		r.Time = time.Unix(0, t).UTC()
	}
	return nil
}

// interner shares the few distinct device, metric, unit and source names
// across the readings of a Peek, so a forwarder's loop does not allocate per
// reading. It is not safe for concurrent use; a nil *interner copies every
// string.
type interner struct {
	m map[string]string
}

func (in *interner) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if in == nil {
		return string(b)
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	if in.m == nil || len(in.m) >= maxInterned {
		in.m = make(map[string]string, 64)
	}
	s := string(b)
	in.m[s] = s
	return s
}
