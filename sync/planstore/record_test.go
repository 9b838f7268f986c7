package planstore

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRecordValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Record
		want string // "" means valid
	}{
		{"minimal", Record{Version: 1, Envelope: []byte{0}}, ""},
		{"full", rec(9), ""},
		{"zero", Record{}, "invalid record: version 0, must be >= 1"},
		{"negative version", Record{Version: -1, Envelope: []byte("e")}, "version -1, must be >= 1"},
		{"nil envelope", Record{Version: 1}, "invalid record: version 1 has an empty envelope"},
		{"empty envelope", Record{Version: 1, Envelope: []byte{}}, "empty envelope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate = %v, want ErrInvalid with %q", err, tc.want)
			}
		})
	}
}

func TestRecordCodec(t *testing.T) {
	for _, r := range []Record{rec(1), rec(1 << 40), {Version: 2, Envelope: []byte{0xff}}} {
		b, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(keyCurrent, b)
		if err != nil || !equal(got, r) {
			t.Errorf("round trip of %+v = %+v, %v", r, got, err)
		}
		if !strings.Contains(string(b), `"applied_at":`) || !strings.Contains(string(b), `"envelope":`) {
			t.Errorf("encoded %s lacks the documented JSON names", b)
		}
	}
	if _, err := encodeRecord(Record{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("encodeRecord(zero) = %v, want ErrInvalid", err)
	}
	farFuture := Record{Version: 1, Envelope: []byte("e"), AppliedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := encodeRecord(farFuture); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "year outside of range") {
		t.Errorf("encodeRecord(year 10000) = %v, want ErrInvalid naming the year", err)
	}
	for _, bad := range []string{"", "null", "{", `{"version":"1"}`, `{"version":1,"envelope":"!!"}`, `{"version":1}`, `[]`} {
		if _, err := decodeRecord(keyPrevious, []byte(bad)); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrInvalid) ||
			!strings.Contains(err.Error(), `record "previous"`) {
			t.Errorf("decodeRecord(%q) = %v, want ErrCorrupt naming the record", bad, err)
		}
	}
}

// FuzzDecodeRecord checks that decoding never panics, that what decodes is
// valid, and that it encodes back to something that decodes the same.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []Record{rec(1), rec(77), {Version: 1, Envelope: []byte{0}}} {
		b, err := encodeRecord(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"envelope":"AA==","artifacts":null,"applied_at":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"version":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(keyCurrent, b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v is not ErrCorrupt", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("decoded an invalid record: %v", err)
		}
		enc, err := encodeRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeRecord(keyCurrent, enc)
		if err != nil || !equal(again, r) {
			t.Fatalf("re-decode = %+v, %v; want %+v", again, err, r)
		}
	})
}
