package planstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestResetLowersTheWatermark: a store stuck at 2^40 (applied) is reset to
// version 3; Attempted is 3 in both copies, the signature time rises and
// never falls, and both hold across a reopen. Bad arguments are refused.
func TestResetLowersTheWatermark(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.db")
	s := openTest(t, path)
	if err := s.SetApplied(rec(1 << 40)); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	if err := s.RaiseIssued(at); err != nil {
		t.Fatal(err)
	}
	old, err := s.Reset(3, at.Add(time.Minute))
	if err != nil || old != 1<<40 {
		t.Fatalf("Reset: %d %v, want the old watermark %d", old, err, int64(1<<40))
	}
	// An older signature time does not lower the newest one.
	if _, err := s.Reset(3, at); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		if a, err := s.Attempted(); err != nil || a != 3 {
			t.Errorf("%s: Attempted %d %v, want 3", when, a, err)
		}
		if is, err := s.Issued(); err != nil || !is.Equal(at.Add(time.Minute)) {
			t.Errorf("%s: Issued %v %v, want %v", when, is, err, at.Add(time.Minute))
		}
	}
	check("after the reset")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(WatermarkPath(path))
	if !strings.HasPrefix(string(b), watermarkMagic+" 3 ") {
		t.Errorf("watermark file %q, want version 3", b)
	}
	s = openTest(t, path)
	check("after a reopen")
	for _, c := range []struct {
		v  int64
		at time.Time
	}{{0, at}, {3, time.Time{}}} {
		if _, err := s.Reset(c.v, c.at); !errors.Is(err, ErrInvalid) {
			t.Errorf("Reset(%d, %v): %v, want ErrInvalid", c.v, c.at, err)
		}
	}
}
