package planstore

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

func TestEmptyStore(t *testing.T) {
	s := openTest(t, tempPath(t))
	if r, ok, err := s.Applied(); err != nil || ok || r.Version != 0 || r.Envelope != nil {
		t.Errorf("Applied = %+v, %v, %v; want zero, false, nil", r, ok, err)
	}
	if h, err := s.History(); err != nil || len(h) != 0 {
		t.Errorf("History = %v, %v; want empty, nil", h, err)
	}
	if n, err := s.Attempted(); err != nil || n != 0 {
		t.Errorf("Attempted = %d, %v; want 0, nil", n, err)
	}
	if doc, err := s.Status(); err != nil || doc != nil {
		t.Errorf("Status = %q, %v; want nil, nil", doc, err)
	}
}

func TestSetAppliedRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Record
	}{
		{"typical", rec(7)},
		{"binary envelope", Record{Version: 1, Envelope: []byte{0, 1, 2, 0xff, 0xfe, '"', '\\'}, Artifacts: []string{"x"}}},
		{"no artifacts", Record{Version: 3, Envelope: []byte("e")}},
		{"empty artifacts", Record{Version: 3, Envelope: []byte("e"), Artifacts: []string{}}},
		{"zero time", Record{Version: 4, Envelope: []byte("e"), Artifacts: []string{"a"}}},
		{"time with zone", Record{Version: 5, Envelope: []byte("e"), AppliedAt: time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600))}},
		{"big envelope", Record{Version: 1 << 62, Envelope: bytes.Repeat([]byte("0123456789abcdef"), 1<<16)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, tempPath(t))
			if err := s.SetApplied(tc.r); err != nil {
				t.Fatal(err)
			}
			got, ok, err := s.Applied()
			if err != nil || !ok || !equal(got, tc.r) {
				t.Fatalf("Applied = %+v, %v, %v; want %+v", got, ok, err, tc.r)
			}
			if h, err := s.History(); err != nil || len(h) != 1 || !equal(h[0], tc.r) {
				t.Fatalf("History = %v, %v; want just the record", versions(h), err)
			}
		})
	}
}

func TestAppliedReturnsCopies(t *testing.T) {
	s := openTest(t, tempPath(t))
	in := rec(1)
	if err := s.SetApplied(in); err != nil {
		t.Fatal(err)
	}
	in.Envelope[0] = 'X' // the store must have kept its own copy
	in.Artifacts[0] = "changed"
	got, _, err := s.Applied()
	if err != nil {
		t.Fatal(err)
	}
	got.Envelope[0] = 'Y'
	again, _, err := s.Applied()
	if err != nil {
		t.Fatal(err)
	}
	if !equal(again, rec(1)) {
		t.Errorf("stored record changed through a caller's slice: %+v", again)
	}
}

func TestHistoryKeepsLastTwo(t *testing.T) {
	path := tempPath(t)
	s := openTest(t, path)
	for v := int64(1); v <= 6; v++ {
		if err := s.SetApplied(rec(v)); err != nil {
			t.Fatal(err)
		}
		h, err := s.History()
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{v, v - 1}
		if v == 1 {
			want = []int64{1}
		}
		if !slices.Equal(versions(h), want) {
			t.Fatalf("after applying %d: History = %v, want %v", v, versions(h), want)
		}
		for i, r := range h {
			if !equal(r, rec(want[i])) {
				t.Errorf("after applying %d: History[%d] = %+v, want %+v", v, i, r, rec(want[i]))
			}
		}
		if n := countPlans(t, s); n != len(want) {
			t.Fatalf("after applying %d: %d plans in the file, want %d", v, n, len(want))
		}
	}
}

func TestSetAppliedSameVersionKeepsHistory(t *testing.T) {
	s := openTest(t, tempPath(t))
	for _, r := range []Record{rec(1), rec(2)} {
		if err := s.SetApplied(r); err != nil {
			t.Fatal(err)
		}
	}
	again := rec(2)
	again.AppliedAt = testTime.Add(time.Hour)
	if err := s.SetApplied(again); err != nil {
		t.Fatal(err)
	}
	h, err := s.History()
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || !equal(h[0], again) || !equal(h[1], rec(1)) {
		t.Errorf("History = %+v, want version 2 (re-applied) then version 1", h)
	}
}

func TestSetAppliedLowerVersion(t *testing.T) {
	// A rollback or an operator may apply an older plan; the store keeps
	// what it is told, and Attempted does not go down.
	s := openTest(t, tempPath(t))
	for _, v := range []int64{5, 3} {
		if err := s.SetApplied(rec(v)); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := s.History(); err != nil || !slices.Equal(versions(h), []int64{3, 5}) {
		t.Errorf("History = %v, %v; want [3 5]", versions(h), err)
	}
	if n, err := s.Attempted(); err != nil || n != 5 {
		t.Errorf("Attempted = %d, %v; want 5", n, err)
	}
}

func TestSetAppliedRaisesAttempted(t *testing.T) {
	s := openTest(t, tempPath(t))
	if err := s.SetAttempted(2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetApplied(rec(4)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Attempted(); err != nil || n != 4 {
		t.Errorf("Attempted = %d, %v; want 4", n, err)
	}
	if err := s.SetAttempted(9); err != nil {
		t.Fatal(err)
	}
	if err := s.SetApplied(rec(5)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Attempted(); err != nil || n != 9 {
		t.Errorf("Attempted = %d, %v; want 9", n, err)
	}
}

func TestSetAppliedRejectsInvalid(t *testing.T) {
	s := openTest(t, tempPath(t))
	if err := s.SetApplied(rec(1)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    Record
		want string
	}{
		{"zero version", Record{Envelope: []byte("e")}, "version 0, must be >= 1"},
		{"negative version", Record{Version: -3, Envelope: []byte("e")}, "version -3, must be >= 1"},
		{"nil envelope", Record{Version: 2}, "empty envelope"},
		{"empty envelope", Record{Version: 2, Envelope: []byte{}}, "empty envelope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.SetApplied(tc.r)
			checkErr(t, err, "planstore: set applied version", s.path, tc.want)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%v does not wrap ErrInvalid", err)
			}
			if got, ok, err := s.Applied(); err != nil || !ok || !equal(got, rec(1)) {
				t.Errorf("after refused SetApplied: Applied = %+v, %v, %v; want version 1", got, ok, err)
			}
		})
	}
}

func TestSetAttemptedOnlyRises(t *testing.T) {
	s := openTest(t, tempPath(t))
	for _, step := range []struct{ set, want int64 }{
		{3, 3}, {3, 3}, {2, 3}, {1, 3}, {10, 10}, {4, 10}, {11, 11}, {1 << 62, 1 << 62}, {12, 1 << 62},
	} {
		if err := s.SetAttempted(step.set); err != nil {
			t.Fatalf("SetAttempted(%d) = %v", step.set, err)
		}
		if n, err := s.Attempted(); err != nil || n != step.want {
			t.Fatalf("after SetAttempted(%d): Attempted = %d, %v; want %d", step.set, n, err, step.want)
		}
	}
}

func TestSetAttemptedRejectsBelowOne(t *testing.T) {
	s := openTest(t, tempPath(t))
	for _, v := range []int64{0, -1, -1 << 63} {
		err := s.SetAttempted(v)
		checkErr(t, err, fmt.Sprintf("set attempted version %d", v), "must be >= 1")
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("SetAttempted(%d) = %v, want ErrInvalid", v, err)
		}
	}
}

func TestStatusRoundTrip(t *testing.T) {
	s := openTest(t, tempPath(t))
	for _, tc := range []struct {
		name string
		set  []byte
		want []byte
	}{
		{"first", []byte(`{"version":1,"state":"applied"}`), []byte(`{"version":1,"state":"applied"}`)},
		{"replaced", []byte(`{"version":2,"state":"rejected","reason":"bad signature"}`), []byte(`{"version":2,"state":"rejected","reason":"bad signature"}`)},
		{"empty removes", []byte{}, nil},
		{"set again", []byte(`{}`), []byte(`{}`)},
		{"nil removes", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetStatus(tc.set); err != nil {
				t.Fatal(err)
			}
			got, err := s.Status()
			if err != nil || !bytes.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Fatalf("Status = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestStatusIsCopied(t *testing.T) {
	s := openTest(t, tempPath(t))
	doc := []byte(`{"a":1}`)
	if err := s.SetStatus(doc); err != nil {
		t.Fatal(err)
	}
	doc[2] = 'X'
	got, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	got[2] = 'Y'
	if again, err := s.Status(); err != nil || string(again) != `{"a":1}` {
		t.Errorf("Status = %q, %v; want the stored copy unchanged", again, err)
	}
}

func TestReopenSeesEverything(t *testing.T) {
	path := tempPath(t)
	s, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{1, 2, 3} {
		if err := s.SetApplied(rec(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetAttempted(4); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus([]byte(`{"version":4,"state":"failed"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openTest(t, path)
	if r, ok, err := s.Applied(); err != nil || !ok || !equal(r, rec(3)) {
		t.Errorf("Applied = %+v, %v, %v; want version 3", r, ok, err)
	}
	if h, err := s.History(); err != nil || len(h) != 2 || !equal(h[0], rec(3)) || !equal(h[1], rec(2)) {
		t.Errorf("History = %v, %v; want [3 2]", versions(h), err)
	}
	if n, err := s.Attempted(); err != nil || n != 4 {
		t.Errorf("Attempted = %d, %v; want 4", n, err)
	}
	if doc, err := s.Status(); err != nil || string(doc) != `{"version":4,"state":"failed"}` {
		t.Errorf("Status = %q, %v", doc, err)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	path := tempPath(t)
	s, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d = %v", i+1, err)
		}
	}
	for name, op := range map[string]func() error{
		"Applied":      func() error { _, _, err := s.Applied(); return err },
		"History":      func() error { _, err := s.History(); return err },
		"SetApplied":   func() error { return s.SetApplied(rec(1)) },
		"Attempted":    func() error { _, err := s.Attempted(); return err },
		"SetAttempted": func() error { return s.SetAttempted(1) },
		"Status":       func() error { _, err := s.Status(); return err },
		"SetStatus":    func() error { return s.SetStatus([]byte(`{}`)) },
	} {
		t.Run(name, func(t *testing.T) {
			err := op()
			checkErr(t, err, path, "plan store closed")
			if !errors.Is(err, ErrClosed) {
				t.Errorf("%s after Close = %v, want ErrClosed", name, err)
			}
		})
	}
	// The lock is released: the file opens again.
	openTest(t, path)
}

func TestConcurrentUse(t *testing.T) {
	s := openTest(t, tempPath(t))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				v := int64(g*100 + i + 1)
				if err := s.SetApplied(rec(v)); err != nil {
					t.Error(err)
					return
				}
				if err := s.SetAttempted(v + 1); err != nil {
					t.Error(err)
					return
				}
				if err := s.SetStatus(fmt.Appendf(nil, `{"v":%d}`, v)); err != nil {
					t.Error(err)
					return
				}
				if h, err := s.History(); err != nil || len(h) == 0 || len(h) > 2 {
					t.Errorf("History = %v, %v", versions(h), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := s.Attempted(); err != nil || n != 321 {
		t.Errorf("Attempted = %d, %v; want 321", n, err)
	}
	if n := countPlans(t, s); n != 2 {
		t.Errorf("%d plans in the file, want 2", n)
	}
}

func TestHideKeepsBboltOut(t *testing.T) {
	s := openTest(t, tempPath(t))
	// A bbolt error from inside a transaction comes out as text only.
	err := s.update("probe", func(tx *bbolt.Tx) error {
		return tx.DeleteBucket([]byte("no such bucket"))
	})
	checkErr(t, err, "planstore: probe in "+s.path, berrors.ErrBucketNotFound.Error())
}

// countPlans counts the records in the plans bucket of an open store.
func countPlans(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketPlans)).ForEach(func(_, _ []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkErr fails unless err starts with "planstore: ", contains every one
// of want and reaches none of bbolt's error values.
func checkErr(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want an error containing %q", want)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "planstore: ") {
		t.Errorf("error %q does not start with %q", msg, "planstore: ")
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
	for _, b := range []error{
		berrors.ErrDatabaseNotOpen, berrors.ErrInvalid, berrors.ErrInvalidMapping,
		berrors.ErrVersionMismatch, berrors.ErrChecksum, berrors.ErrTimeout,
		berrors.ErrTxNotWritable, berrors.ErrTxClosed, berrors.ErrDatabaseReadOnly,
		berrors.ErrBucketNotFound, berrors.ErrBucketExists, berrors.ErrKeyRequired,
		berrors.ErrValueTooLarge, berrors.ErrIncompatibleValue,
	} {
		if errors.Is(err, b) {
			t.Errorf("error %q leaks bbolt's %q", msg, b)
		}
	}
}

// tempPath is a plans.db path in a fresh temporary directory.
func tempPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "plans.db")
}

// openTest opens path and closes it when the test ends.
func openTest(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Config{})
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

var testTime = time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)

// rec returns a valid record of version v, different for each v.
func rec(v int64) Record {
	return Record{
		Version:   v,
		Envelope:  fmt.Appendf(nil, "signed\x00\xff envelope of plan %d", v),
		Artifacts: []string{fmt.Sprintf("%064x", v), strings.Repeat("ab", 32)},
		AppliedAt: testTime.Add(time.Duration(v) * time.Minute),
	}
}

// equal compares records, times by instant.
func equal(a, b Record) bool {
	return a.Version == b.Version && bytes.Equal(a.Envelope, b.Envelope) &&
		slices.Equal(a.Artifacts, b.Artifacts) && a.AppliedAt.Equal(b.AppliedAt)
}

// versions lists the versions of rs.
func versions(rs []Record) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Version
	}
	return out
}
