package outbox

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unsafe"

	"edged/reading"
)

// sameReading compares everything but Seq, NaN-safe and location-blind.
func sameReading(a, b reading.Reading) bool {
	return a.Device == b.Device && a.Metric == b.Metric && a.Unit == b.Unit &&
		math.Float64bits(a.Value) == math.Float64bits(b.Value) && a.Time.Equal(b.Time) &&
		a.Time.IsZero() == b.Time.IsZero()
}

func TestCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    reading.Reading
	}{
		{"typical", reading.Reading{Device: "bme280-1", Metric: "temperature", Value: 21.5, Unit: "C", Time: testNow}},
		{"empty strings", reading.Reading{Value: -1, Time: testNow}},
		{"zero time", reading.Reading{Device: "d", Metric: "m"}},
		{"epoch", reading.Reading{Device: "d", Time: time.Unix(0, 0)}},
		{"before epoch", reading.Reading{Device: "d", Time: time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC)}},
		{"nanoseconds and a zone", reading.Reading{Time: time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))}},
		{"NaN", reading.Reading{Value: math.NaN(), Time: testNow}},
		{"-Inf", reading.Reading{Value: math.Inf(-1), Time: testNow}},
		{"negative zero", reading.Reading{Value: math.Copysign(0, -1), Time: testNow}},
		{"long names, unicode", reading.Reading{Device: strings.Repeat("é", MaxNameLen/2), Metric: strings.Repeat("m", 200), Unit: "µg/m³", Time: testNow}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkReading(&tc.r); err != nil {
				t.Fatalf("checkReading: %v", err)
			}
			v := appendEncoded([]byte("prefix"), &tc.r)[len("prefix"):]
			if len(v) != encodedLen(&tc.r) {
				t.Errorf("encoded %d bytes, encodedLen says %d", len(v), encodedLen(&tc.r))
			}
			var got reading.Reading
			if err := decode(v, &got, &interner{}); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !sameReading(got, tc.r) {
				t.Errorf("round trip: got %+v, want %+v", got, tc.r)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	good := appendEncoded(nil, &reading.Reading{Device: "dev", Metric: "m", Unit: "u", Time: testNow})
	for _, tc := range []struct {
		name string
		v    []byte
		want error
	}{
		{"empty", nil, errShort},
		{"header only, strings missing", good[:headerLen], errShort},
		{"string cut", good[:len(good)-1], errShort},
		{"trailing byte", append(append([]byte{}, good...), 0), errTrail},
		{"future version", append([]byte{codecVersion + 1}, good[1:]...), errVersion},
		{"huge length", append(append([]byte{}, good[:headerLen]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), errShort},
		{"overlong varint", append(append([]byte{}, good[:headerLen]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), errShort},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r reading.Reading
			if err := decode(tc.v, &r, nil); !errors.Is(err, tc.want) {
				t.Errorf("decode = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCheckReading(t *testing.T) {
	long := strings.Repeat("x", MaxNameLen+1)
	for _, tc := range []struct {
		name string
		r    reading.Reading
		ok   bool
	}{
		{"fine", reading.Reading{Device: strings.Repeat("x", MaxNameLen), Time: testNow}, true},
		{"device too long", reading.Reading{Device: long}, false},
		{"metric too long", reading.Reading{Metric: long}, false},
		{"unit too long", reading.Reading{Unit: long}, false},
		{"year 1600", reading.Reading{Time: time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
		{"year 2300", reading.Reading{Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkReading(&tc.r); (err == nil) != tc.ok {
				t.Errorf("checkReading = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestInternerSharesAndBounds(t *testing.T) {
	in := &interner{}
	a := in.str([]byte("bme280"))
	b := in.str([]byte("bme280"))
	if a != b || unsafe.StringData(a) != unsafe.StringData(b) || len(in.m) != 1 {
		t.Fatalf("interned %q %q, map %v", a, b, in.m)
	}
	for i := range maxInterned + 10 {
		in.str([]byte{byte(i), byte(i >> 8), 'x'})
	}
	if len(in.m) > maxInterned {
		t.Errorf("interner holds %d strings, bound is %d", len(in.m), maxInterned)
	}
}

// FuzzDecode checks that no input makes decode panic, and that whatever it
// accepts survives encode and decode unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(appendEncoded(nil, &reading.Reading{Device: "bme280-1", Metric: "temperature", Value: 21.5, Unit: "C", Time: testNow}))
	f.Add(appendEncoded(nil, &reading.Reading{}))
	f.Add([]byte{codecVersion})
	f.Fuzz(func(t *testing.T, v []byte) {
		var r reading.Reading
		if err := decode(v, &r, &interner{}); err != nil {
			if _, terr := decodeTime(v); terr == nil && len(v) < headerLen {
				t.Errorf("decodeTime accepted %d bytes", len(v))
			}
			return
		}
		if err := checkReading(&r); err != nil {
			// Decoded names may exceed what Append accepts; that
			// is fine for a decoder.
			if !strings.Contains(err.Error(), "bytes, at most") {
				t.Fatalf("decoded a reading the encoder cannot store: %v", err)
			}
		}
		again := appendEncoded(nil, &r)
		var r2 reading.Reading
		if err := decode(again, &r2, nil); err != nil {
			t.Fatalf("re-decoding %x: %v", again, err)
		}
		if !sameReading(r, r2) {
			t.Fatalf("round trip changed %+v into %+v", r, r2)
		}
		if len(again) != encodedLen(&r) {
			t.Fatalf("encodedLen %d, encoded %d", encodedLen(&r), len(again))
		}
	})
}
