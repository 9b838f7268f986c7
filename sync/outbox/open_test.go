package outbox

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestReopenContinuesSeqs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openTest(t, Config{Path: path})
	if err := o.Append(context.Background(), mkReadings(5, 0)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = openTest(t, Config{Path: path})
	all := peekAll(t, o)
	if len(all) != 5 || all[4].Seq != 5 || all[4].Value != 4 || all[4].Device != "dev" {
		t.Fatalf("after reopen: %v", all)
	}
	// Ack everything: the next seq must still not repeat after a reopen.
	if err := o.Ack(context.Background(), seqsOf(all)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = openTest(t, Config{Path: path})
	if st := o.Stats(); st.Depth != 0 || st.Bytes != 0 || st.NextSeq != 6 {
		t.Errorf("empty reopen: %+v, want depth 0 bytes 0 next seq 6", st)
	}
	rs := mkReadings(1, 0)
	if err := o.Append(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	if rs[0].Seq != 6 {
		t.Errorf("seq after reopen = %d, want 6", rs[0].Seq)
	}
}

// writeDB creates a real outbox file with n readings and returns its path.
func writeDB(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := Open(Config{Path: path, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i += 1000 {
		if err := o.Append(context.Background(), mkReadings(min(1000, n-i), float64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func rawUpdate(t *testing.T, path string, fn func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptFileIsMovedAside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			junk := make([]byte, 1<<20)
			for i := range junk {
				junk[i] = byte(rand.Uint32())
			}
			mustWrite(t, path, junk)
		}},
		{"tiny file", func(t *testing.T, path string) { mustWrite(t, path, []byte("not a database")) }},
		{"truncated to three pages", func(t *testing.T, path string) {
			mustTruncate(t, path, func(int64) int64 { return 3 * int64(os.Getpagesize()) })
		}},
		{"truncated inside the data", func(t *testing.T, path string) {
			// bbolt grows the file ahead of its data; cut where
			// the pages in use end, halved.
			mustTruncate(t, path, func(int64) int64 { return usedBytes(t, path) / 2 })
		}},
		{"meta pages zeroed", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 2*os.Getpagesize()), 0); err != nil {
				t.Fatal(err)
			}
		}},
		{"meta bucket missing", func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte(bucketMeta)) })
		}},
		{"state malformed", func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyState), []byte("short"))
			})
		}},
		{"newer format", func(t *testing.T, path string) {
			rawUpdate(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyFormat), []byte{formatVersion + 1})
			})
		}},
		{"someone else's bbolt file", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			rawUpdate(t, path, func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("plans")); return err })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeDB(t, 3000)
			tc.damage(t, path)
			var logs bytes.Buffer
			o := openTest(t, Config{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})

			aside, _ := filepath.Glob(path + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("moved-aside files %v, want one %s.corrupt-<unix time>", aside, path)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), aside[0]) {
				t.Errorf("no error log naming %s:\n%s", aside[0], logs.String())
			}
			if st := o.Stats(); st.Depth != 0 || st.NextSeq != 1 {
				t.Errorf("fresh file stats %+v", st)
			}
			if rec := o.Recovery(); rec == nil || rec.MovedTo != aside[0] || rec.NewEpoch != o.Epoch() || rec.Reason == "" {
				t.Errorf("recovery %+v, want moved to %s and the new epoch %s", rec, aside[0], o.Epoch())
			}
			rs := mkReadings(3, 0)
			if err := o.Append(context.Background(), rs); err != nil || rs[2].Seq != 3 {
				t.Fatalf("append to the fresh file: %v, seqs %v", err, seqsOf(rs))
			}
		})
	}
}

// usedBytes is the size of the pages a bbolt file uses (its high-water mark).
func usedBytes(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	return int64(tx.Size())
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustTruncate(t *testing.T, path string, size func(int64) int64) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, size(fi.Size())); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrorsAreNotCorruption(t *testing.T) {
	dir := t.TempDir()
	first := openTest(t, Config{Path: filepath.Join(dir, "outbox.db")})
	if err := first.Append(context.Background(), mkReadings(1, 0)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		path string
		want error
		msg  string
	}{
		{"locked by another open", filepath.Join(dir, "outbox.db"), ErrLocked, "locked by another process (is edged already running?)"},
		{"path is a directory", dir, nil, "is a directory"},
		{"directory missing", filepath.Join(dir, "nope", "outbox.db"), os.ErrNotExist, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Open(Config{Path: tc.path, LockTimeout: 100 * time.Millisecond})
			if err == nil {
				_ = o.Close()
				t.Fatal("Open succeeded")
			}
			if (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) ||
				!strings.HasPrefix(err.Error(), "outbox: open "+tc.path+": ") {
				t.Errorf("Open = %q, want %v mentioning %q", err, tc.want, tc.msg)
			}
			if aside, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*")); len(aside) > 0 {
				t.Errorf("%v moved aside, but it is not corrupt", aside)
			}
		})
	}
	if got := peekAll(t, first); len(got) != 1 {
		t.Errorf("the first outbox lost data: %v", got)
	}
}

func TestConfigIsValidatedByOpen(t *testing.T) {
	if _, err := Open(Config{}); err == nil || !strings.Contains(err.Error(), "outbox.path") {
		t.Errorf("Open(Config{}) = %v, want an error naming outbox.path", err)
	}
}

func TestStateRepair(t *testing.T) {
	path := writeDB(t, 10)
	// A state that lags the bucket (as after a bug, or a hand edit) must not
	// make seqs repeat or counters lie.
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		var b [stateLen]byte
		(&state{nextSeq: 3}).encode(b[:])
		return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyState), b[:])
	})
	o := openTest(t, Config{Path: path})
	if st := o.Stats(); st.NextSeq != 11 || st.Depth != 10 || st.Bytes != 10*recordLen() {
		t.Errorf("repaired stats %+v, want next seq 11 depth 10 bytes %d", st, 10*recordLen())
	}
}
