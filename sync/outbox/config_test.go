package outbox

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none means valid
	}{
		{"path only", Config{Path: "/data/outbox.db"}, nil},
		{"everything set", Config{Path: "x", MaxBytes: 1, MaxAge: time.Second, Fsync: new(false), MaxBatch: 1, LockTimeout: time.Millisecond}, nil},
		{"missing path", Config{}, []string{"outbox.path: required"}},
		{"negative max_bytes", Config{Path: "x", MaxBytes: -1}, []string{"outbox.max_bytes: must be > 0"}},
		{"negative max_age", Config{Path: "x", MaxAge: -time.Second}, []string{"outbox.max_age: must be > 0"}},
		{"negative max_batch", Config{Path: "x", MaxBatch: -5}, []string{"outbox.max_batch: must be > 0"}},
		{"negative lock_timeout", Config{Path: "x", LockTimeout: -1}, []string{"outbox.lock_timeout: must be > 0"}},
		{"every problem is reported", Config{MaxBytes: -1, MaxBatch: -1}, []string{"outbox.path", "outbox.max_bytes", "outbox.max_batch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	d := Config{Path: "x"}.withDefaults()
	if d.MaxBytes != DefaultMaxBytes || d.MaxAge != DefaultMaxAge || d.MaxBatch != DefaultMaxBatch ||
		d.LockTimeout != DefaultLockTimeout || d.Fsync == nil || !*d.Fsync || d.Logger == nil || d.Now == nil {
		t.Errorf("defaults not applied: %+v", d)
	}
	kept := Config{Path: "x", MaxBytes: 7, MaxAge: time.Minute, MaxBatch: 3, Fsync: new(false)}.withDefaults()
	if kept.MaxBytes != 7 || kept.MaxAge != time.Minute || kept.MaxBatch != 3 || *kept.Fsync {
		t.Errorf("set fields overwritten: %+v", kept)
	}
	for _, tc := range []struct {
		maxBytes int64
		want     int
	}{
		{1, minMmap},
		{DefaultMaxBytes, 2 * int(DefaultMaxBytes)},
		{4 << 30, maxMmap},
	} {
		if got := (Config{MaxBytes: tc.maxBytes}).mmapSize(); got != tc.want {
			t.Errorf("mmapSize for MaxBytes %d = %d, want %d", tc.maxBytes, got, tc.want)
		}
	}
}

func TestFsyncOffStillWorks(t *testing.T) {
	o := openTest(t, Config{Fsync: new(false)})
	if err := o.Append(t.Context(), mkReadings(3, 0)); err != nil {
		t.Fatal(err)
	}
	if got := peekAll(t, o); len(got) != 3 {
		t.Errorf("stored %d readings, want 3", len(got))
	}
}
