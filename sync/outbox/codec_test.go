package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"go.etcd.io/bbolt"

	"github.com/edged-gateway/edged/reading"
)

// sameReading compares everything but Seq, NaN-safe and location-blind.
func sameReading(a, b reading.Reading) bool {
	return a.Device == b.Device && a.Metric == b.Metric && a.Unit == b.Unit && a.Source == b.Source &&
		math.Float64bits(a.Value) == math.Float64bits(b.Value) && a.Time.Equal(b.Time) &&
		a.Time.IsZero() == b.Time.IsZero() && a.Simulated == b.Simulated && a.Hops == b.Hops
}

// appendEncodedV1 is the record encoder of the releases before
// Reading.Source, frozen: version 1, no source. Do not change it; it stands
// for files already on gateways. TestFrozenV1EncoderMatchesGolden pins it.
func appendEncodedV1(dst []byte, r *reading.Reading) []byte {
	t := int64(zeroTime)
	if !r.Time.IsZero() {
		t = r.Time.UnixNano()
	}
	dst = append(dst, 1)
	dst = binary.BigEndian.AppendUint64(dst, uint64(t))
	dst = binary.BigEndian.AppendUint64(dst, math.Float64bits(r.Value))
	for _, s := range [...]string{r.Device, r.Metric, r.Unit} {
		dst = binary.AppendUvarint(dst, uint64(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// goldenV1 is a record written by the previous release (the "typical" fuzz
// seed): bme280-1/temperature=21.5C at testNow.
const goldenV1 = "\x01\x18\x98\xb5\xd9\xb3\xd6\x80\x00@5\x80\x00\x00\x00\x00\x00\x08bme280-1\x0btemperature\x01C"

func TestFrozenV1EncoderMatchesGolden(t *testing.T) {
	r := reading.Reading{Device: "bme280-1", Metric: "temperature", Value: 21.5, Unit: "C", Time: testNow}
	if got := appendEncodedV1(nil, &r); string(got) != goldenV1 {
		t.Fatalf("frozen v1 encoder wrote %q, golden is %q", got, goldenV1)
	}
	var got reading.Reading
	if err := decode([]byte(goldenV1), &got, nil); err != nil {
		t.Fatalf("decode golden v1: %v", err)
	}
	if !sameReading(got, r) {
		t.Errorf("golden v1 decoded as %+v, want %+v", got, r)
	}
}

// TestCodecKeepsTheSimulatedFlag: a simulated reading is written as
// version 3 (version 2 plus a flags byte) and reads back simulated; a real
// one is still written as version 2, byte for byte.
func TestCodecKeepsTheSimulatedFlag(t *testing.T) {
	r := reading.Reading{Device: "env", Metric: "humidity", Value: 57.4775, Unit: "%RH", Time: testNow, Simulated: true}
	v := appendEncoded(nil, &r)
	real := r
	real.Simulated = false
	if want := append(appendEncoded(nil, &real), flagSim); v[0] != codecFlags || !bytes.Equal(v[1:], want[1:]) {
		t.Fatalf("simulated reading encoded %q, want version 3 and %q", v, want)
	}
	if len(v) != encodedLen(&r) {
		t.Errorf("encoded %d bytes, encodedLen says %d", len(v), encodedLen(&r))
	}
	var got reading.Reading
	if err := decode(v, &got, nil); err != nil || !got.Simulated || !sameReading(got, r) {
		t.Fatalf("decoded %+v (%v), want %+v", got, err, r)
	}
	if err := decode(v[:len(v)-1], &got, nil); err == nil {
		t.Error("a version 3 record without its flags byte decoded")
	}
	if err := decode(appendEncoded(nil, &real), &got, nil); err != nil || got.Simulated {
		t.Fatalf("real reading decoded %+v (%v)", got, err)
	}
}

// TestCodecKeepsHops: a service's emit keeps its chain depth and its source
// (version 3, flags bit 1 and a hops byte); a record without the hops byte
// decodes with Hops 0; a flags byte announcing hops without the byte is
// refused.
func TestCodecKeepsHops(t *testing.T) {
	for _, r := range []reading.Reading{
		{Device: "porch", Metric: "temperature_mean", Value: 35, Unit: "C", Time: testNow, Source: "agg", Hops: 1},
		{Device: "porch", Metric: "relay", Value: 1, Time: testNow, Source: "rules", Hops: 255, Simulated: true},
	} {
		v := appendEncoded(nil, &r)
		if v[0] != codecFlags || len(v) != encodedLen(&r) {
			t.Fatalf("encoded %q (version %d, %d bytes, encodedLen %d)", v, v[0], len(v), encodedLen(&r))
		}
		if v[len(v)-1] != r.Hops || v[len(v)-2]&flagHops == 0 {
			t.Fatalf("encoded %q: no hops byte %d after the flags", v, r.Hops)
		}
		got := reading.Reading{Hops: 9}
		if err := decode(v, &got, nil); err != nil || !sameReading(got, r) {
			t.Fatalf("decoded %+v (%v), want %+v", got, err, r)
		}
		if err := decode(v[:len(v)-1], &got, nil); err == nil {
			t.Errorf("a record whose hops byte is missing decoded: %+v", got)
		}
	}
	plain := reading.Reading{Device: "d", Metric: "m", Time: testNow, Source: "svc"}
	got := reading.Reading{Hops: 3}
	if err := decode(appendEncoded(nil, &plain), &got, nil); err != nil || got.Hops != 0 {
		t.Fatalf("a record without hops decoded with Hops %d (%v)", got.Hops, err)
	}
}

func TestCodecWritesV2WithSource(t *testing.T) {
	r := reading.Reading{Device: "d", Metric: "m", Value: 1, Unit: "u", Time: testNow, Source: "agg-1"}
	v := appendEncoded(nil, &r)
	if v[0] != codecVersion || codecVersion != 2 {
		t.Fatalf("version byte %d, want 2", v[0])
	}
	// The v2 layout is the v1 layout with the source string appended.
	want := append(appendEncodedV1(nil, &r), 5)
	want = append(want, "agg-1"...)
	want[0] = 2
	if !bytes.Equal(v, want) {
		t.Errorf("encoded %q, want %q", v, want)
	}
	if len(v) != encodedLen(&r) {
		t.Errorf("encoded %d bytes, encodedLen says %d", len(v), encodedLen(&r))
	}
}

func TestDecodeV1(t *testing.T) {
	for _, r := range []reading.Reading{
		{Device: "bme280-1", Metric: "temperature", Value: 21.5, Unit: "C", Time: testNow},
		{Value: math.NaN()},
		{Device: strings.Repeat("é", MaxNameLen/2), Metric: "m", Unit: "µg/m³", Time: time.Unix(0, 1)},
	} {
		v := appendEncodedV1(nil, &r)
		if tm, err := decodeTime(v); err != nil || (!r.Time.IsZero() && tm != r.Time.UnixNano()) {
			t.Errorf("decodeTime(v1 %q) = %d, %v", v, tm, err)
		}
		got := reading.Reading{Source: "stale"} // decode must clear it
		if err := decode(v, &got, &interner{}); err != nil {
			t.Fatalf("decode(v1 %q): %v", v, err)
		}
		if !sameReading(got, r) || got.Source != "" {
			t.Errorf("v1 decoded as %+v, want %+v with Source \"\"", got, r)
		}
	}
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
		{"source", reading.Reading{Device: "d", Metric: "m", Unit: "u", Time: testNow, Source: "rules-hvac"}},
		{"source only", reading.Reading{Source: "s", Time: testNow}},
		{"longest source", reading.Reading{Device: "d", Source: strings.Repeat("s", MaxNameLen), Time: testNow}},
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
	good := appendEncoded(nil, &reading.Reading{Device: "dev", Metric: "m", Unit: "u", Time: testNow, Source: "svc"})
	goodV1 := appendEncodedV1(nil, &reading.Reading{Device: "dev", Metric: "m", Unit: "u", Time: testNow})
	for _, tc := range []struct {
		name string
		v    []byte
		want error
	}{
		{"empty", nil, errShort},
		{"header only, strings missing", good[:headerLen], errShort},
		{"string cut", good[:len(good)-1], errShort},
		{"trailing byte", append(append([]byte{}, good...), 0), errTrail},
		{"future version", append([]byte{codecFlags + 1}, good[1:]...), errVersion},
		{"version 0", append([]byte{0}, good[1:]...), errVersion},
		{"v2 without source", append([]byte{codecVersion}, goodV1[1:]...), errShort},
		{"v2 source cut", good[:len(good)-2], errShort},
		{"v1 with a source", append([]byte{codecV1}, good[1:]...), errTrail},
		{"v1 string cut", goodV1[:len(goodV1)-1], errShort},
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
		{"longest source", reading.Reading{Source: strings.Repeat("x", MaxNameLen)}, true},
		{"source too long", reading.Reading{Source: long}, false},
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
	f.Add(appendEncoded(nil, &reading.Reading{Device: "gw", Metric: "hvac_on", Value: 1, Time: testNow, Source: "rules-1"}))
	f.Add(appendEncodedV1(nil, &reading.Reading{Device: "bme280-1", Metric: "temperature", Value: 21.5, Unit: "C", Time: testNow}))
	f.Add(appendEncodedV1(nil, &reading.Reading{}))
	f.Add([]byte{codecVersion})
	f.Add([]byte{codecV1})
	f.Add(appendEncoded(nil, &reading.Reading{Device: "env", Metric: "humidity", Value: 57.5, Unit: "%RH", Time: testNow, Simulated: true}))
	f.Add(appendEncoded(nil, &reading.Reading{Device: "porch", Metric: "temperature_mean", Value: 35, Time: testNow, Source: "agg", Hops: 2}))
	f.Add(appendEncoded(nil, &reading.Reading{Device: "porch", Metric: "relay", Value: 1, Time: testNow, Source: "rules", Hops: 255, Simulated: true}))
	f.Add(appendEncoded(nil, &reading.Reading{Device: "d", Hops: 1})[:headerLen+6]) // flags announce hops, byte missing
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
		if v[0] == codecV1 && r.Source != "" {
			t.Fatalf("v1 record %x decoded with Source %q", v, r.Source)
		}
		// Whatever version came in, the encoder writes the current one
		// (with the flags byte only for a flagged reading).
		again := appendEncoded(nil, &r)
		if want := map[bool]byte{false: codecVersion, true: codecFlags}[r.Simulated || r.Hops > 0]; again[0] != want {
			t.Fatalf("re-encoded as version %d", again[0])
		}
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
		if v[0] == codecV1 {
			// A v1 record re-encodes as v2: same bytes plus an empty source.
			if v1 := appendEncodedV1(nil, &r); len(again) != len(v1)+1 {
				t.Fatalf("v2 of a v1 record is %d bytes, v1 %d", len(again), len(v1))
			}
		}
	})
}

// writeV1DB creates an outbox file the way the previous release left it
// (format 1, v1 records, its state) and returns its path and stored bytes.
func writeV1DB(t *testing.T, rs []reading.Reading) (string, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	err = db.Update(func(tx *bbolt.Tx) error {
		rb, err := tx.CreateBucket([]byte("readings"))
		if err != nil {
			return err
		}
		mb, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		for i := range rs {
			k := binary.BigEndian.AppendUint64(nil, uint64(i+1))
			v := appendEncodedV1(nil, &rs[i])
			size += int64(len(k) + len(v))
			if err := rb.Put(k, v); err != nil {
				return err
			}
		}
		if err := mb.Put([]byte("format"), []byte{1}); err != nil {
			return err
		}
		st := state{nextSeq: uint64(len(rs) + 1), count: int64(len(rs)), bytes: size}
		var b [stateLen]byte
		st.encode(b[:])
		return mb.Put([]byte("state"), b[:])
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	return path, size
}

// TestV1FileDrainsAfterUpgrade opens a file of v1 records with this build,
// appends v2 readings behind the old ones, and drains it all.
func TestV1FileDrainsAfterUpgrade(t *testing.T) {
	old := mkReadings(5, 0)
	old[2].Unit, old[3].Device = "", "bme280-2"
	path, oldBytes := writeV1DB(t, old)

	o := openTest(t, Config{Path: path})
	if st := o.Stats(); st.Depth != 5 || st.Bytes != oldBytes || !st.Oldest.Equal(old[0].Time) {
		t.Fatalf("after upgrade: depth %d bytes %d oldest %v, want 5 %d %v", st.Depth, st.Bytes, st.Oldest, oldBytes, old[0].Time)
	}
	fresh := mkReadings(2, 100)
	fresh[0].Source = "aggregate-1"
	if err := o.Append(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
	got := peekAll(t, o)
	want := append(append([]reading.Reading{}, old...), fresh...)
	if len(got) != len(want) || o.Stats().Undecodable != 0 {
		t.Fatalf("peeked %d readings (%d undecodable), want %d", len(got), o.Stats().Undecodable, len(want))
	}
	for i := range want {
		if !sameReading(got[i], want[i]) || got[i].Seq != uint64(i+1) {
			t.Errorf("reading %d: got %+v, want %+v with seq %d", i, got[i], want[i], i+1)
		}
	}
	if got[0].Source != "" || got[5].Source != "aggregate-1" {
		t.Errorf("sources %q and %q, want \"\" and aggregate-1", got[0].Source, got[5].Source)
	}
	wantBytes := oldBytes + int64(2*keyLen+encodedLen(&fresh[0])+encodedLen(&fresh[1]))
	if st := o.Stats(); st.Bytes != wantBytes {
		t.Errorf("bytes %d, want %d (v1 records as stored, v2 by encodedLen)", st.Bytes, wantBytes)
	}
	if err := o.Ack(context.Background(), seqsOf(got)); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Depth != 0 || st.Bytes != 0 || st.Dropped != 0 {
		t.Errorf("after acking all: depth %d bytes %d dropped %d, want 0 0 0", st.Depth, st.Bytes, st.Dropped)
	}
}

// TestV1RecordsObeyCaps checks that the byte and age caps trim v1 records
// (they read the time at the same offset as in v2).
func TestV1RecordsObeyCaps(t *testing.T) {
	old := mkReadings(3, 0) // at testNow + 0, 1, 2 ms
	per := int64(keyLen + len(appendEncodedV1(nil, &old[0])))
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"max bytes", Config{MaxBytes: per}},
		{"max age", Config{MaxAge: time.Minute, Now: func() time.Time { return testNow.Add(time.Minute + 1500*time.Microsecond) }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Path, _ = writeV1DB(t, old)
			o := openTest(t, tc.cfg)
			st := o.Stats()
			if st.Depth != 1 || st.Dropped != 2 || st.Bytes != per || !st.Oldest.Equal(old[2].Time) {
				t.Errorf("depth %d dropped %d bytes %d oldest %v, want 1 2 %d %v", st.Depth, st.Dropped, st.Bytes, st.Oldest, per, old[2].Time)
			}
			if got := peekAll(t, o); len(got) != 1 || got[0].Seq != 3 || !sameReading(got[0], old[2]) {
				t.Errorf("left %+v, want seq 3 %+v", got, old[2])
			}
		})
	}
}
