package planstore

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWatermarkSurvivesADamagedStore: plan 25 was applied; plans.db is then
// damaged, moved aside (as the daemon does) and started afresh. Attempted
// must still be 25, so a replayed plan 1 stays refused.
func TestWatermarkSurvivesADamagedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.db")
	s := openTest(t, path)
	if err := s.SetApplied(rec(25)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Overwrite the middle of the file, past the meta pages.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xEE}, 4*os.Getpagesize()), 2*int64(os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := Open(path, Config{}); err == nil {
		t.Fatal("the damaged store opened")
	}
	if err := os.Rename(path, path+".corrupt-1"); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	if _, ok, _ := s.Applied(); ok {
		t.Fatal("a fresh store has an applied plan")
	}
	if n, err := s.Attempted(); err != nil || n != 25 {
		t.Fatalf("Attempted after the store was started afresh = %d, %v; want 25 from the watermark", n, err)
	}
	// Raising goes on from there.
	if err := s.SetAttempted(26); err != nil {
		t.Fatal(err)
	}
	if m, err := readWatermark(WatermarkPath(path)); err != nil || m.version != 26 {
		t.Fatalf("watermark %+v, %v; want 26", m, err)
	}
}

// TestWatermarkDamagedOrMissing: a store from before the watermark gets one
// at open; a damaged watermark is logged and rewritten from the store.
func TestWatermarkDamagedOrMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.db")
	s := openTest(t, path)
	if err := s.SetAttempted(7); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, tc := range []struct {
		name   string
		damage func()
		logs   string
	}{
		{"missing", func() { os.Remove(WatermarkPath(path)) }, ""},
		{"damaged", func() { os.WriteFile(WatermarkPath(path), []byte("edged-plan-watermark 1 9 00000000\n"), 0o600) }, "unreadable"},
		{"garbage", func() { os.WriteFile(WatermarkPath(path), []byte{0, 1, 2}, 0o600) }, "unreadable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage()
			var logs bytes.Buffer
			s, err := Open(path, Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n, _ := s.Attempted(); n != 7 {
				t.Errorf("Attempted = %d, want 7", n)
			}
			if m, err := readWatermark(WatermarkPath(path)); err != nil || m.version != 7 {
				t.Errorf("watermark not rewritten: %+v, %v", m, err)
			}
			if tc.logs != "" && !strings.Contains(logs.String(), tc.logs) {
				t.Errorf("log does not say %q:\n%s", tc.logs, logs.String())
			}
		})
	}
}

// TestIssuedSurvivesADamagedStore: the newest signature time is kept in
// both copies and only rises; a version 1 watermark line is still read.
func TestIssuedSurvivesADamagedStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.db")
	s := openTest(t, path)
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	if err := s.RaiseIssued(at); err != nil {
		t.Fatal(err)
	}
	if err := s.RaiseIssued(at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Issued(); err != nil || !got.Equal(at) {
		t.Fatalf("Issued = %v, %v; want %v", got, err, at)
	}
	s.Close()
	if err := os.Rename(path, path+".corrupt-1"); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path)
	if got, _ := s.Issued(); !got.Equal(at) {
		t.Fatalf("Issued after the store was started afresh = %v, want %v", got, at)
	}
	s.Close()

	os.WriteFile(WatermarkPath(path), []byte("edged-plan-watermark 1 12 "+crcOf("edged-plan-watermark 1 12")+"\n"), 0o600)
	if m, err := readWatermark(WatermarkPath(path)); err != nil || m.version != 12 || m.issued != 0 {
		t.Fatalf("version 1 line: %+v, %v", m, err)
	}
}
