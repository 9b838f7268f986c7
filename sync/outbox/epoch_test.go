package outbox

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// TestEpochIsKeptAndRenewed: a file keeps its epoch across reopens; a new
// file (a wiped data directory) gets a new one and starts at seq 1.
func TestEpochIsKeptAndRenewed(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.db")
	o := openTest(t, Config{Path: path})
	first := o.Epoch()
	if len(first) != epochLen || o.Stats().Epoch != first || o.Recovery() != nil {
		t.Fatalf("new file: epoch %q (stats %q), recovery %+v", first, o.Stats().Epoch, o.Recovery())
	}
	if err := o.Append(context.Background(), mkReadings(5, 0)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openTest(t, Config{Path: path})
	if o.Epoch() != first {
		t.Fatalf("reopen: epoch %q, want %q", o.Epoch(), first)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	// The data directory is wiped: a new stream.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	o = openTest(t, Config{Path: path})
	rs := mkReadings(1, 0)
	if err := o.Append(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	if o.Epoch() == first || rs[0].Seq != 1 {
		t.Fatalf("after wipe: epoch %q (old %q), seq %d; want a new epoch and seq 1", o.Epoch(), first, rs[0].Seq)
	}
}

// TestFileWithoutEpochGetsOne: a file written before epochs existed gets
// an epoch at its first open and keeps its seqs.
func TestFileWithoutEpochGetsOne(t *testing.T) {
	path := writeDB(t, 10)
	rawUpdate(t, path, func(tx *bbolt.Tx) error { return tx.Bucket([]byte(bucketMeta)).Delete([]byte(keyEpoch)) })
	o := openTest(t, Config{Path: path})
	e := o.Epoch()
	if len(e) != epochLen || o.Stats().NextSeq != 11 {
		t.Fatalf("epoch %q next seq %d", e, o.Stats().NextSeq)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if o = openTest(t, Config{Path: path}); o.Epoch() != e {
		t.Fatalf("epoch not persisted: %q then %q", e, o.Epoch())
	}
}

// TestCorruptFileStartsNewEpoch: bytes overwritten in the middle of the
// file; Open moves it aside, starts a new epoch at seq 1 and reports the old
// epoch, its last seq and its reading count.
func TestCorruptFileStartsNewEpoch(t *testing.T) {
	path := writeDB(t, 3000)
	old := openTest(t, Config{Path: path})
	oldEpoch := old.Epoch()
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	corruptMiddle(t, path)

	var logs bytes.Buffer
	o := openTest(t, Config{Path: path, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rec := o.Recovery()
	if rec == nil {
		t.Fatalf("no recovery reported; log:\n%s", logs.String())
	}
	if o.Epoch() == oldEpoch || rec.NewEpoch != o.Epoch() || rec.OldEpoch != oldEpoch {
		t.Errorf("epochs: now %q, recovery %+v, old %q", o.Epoch(), rec, oldEpoch)
	}
	if rec.LastSeq != 3000 || rec.Readings != 3000 || rec.Reason == "" || !strings.HasPrefix(rec.MovedTo, path+".corrupt-") {
		t.Errorf("recovery %+v: want old last seq 3000, 3000 readings, a reason and the moved-to path", rec)
	}
	for _, want := range []string{"old_epoch=" + oldEpoch, "old_last_seq=3000", "new_epoch=" + o.Epoch()} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
	rs := mkReadings(2, 0)
	if err := o.Append(context.Background(), rs); err != nil || rs[0].Seq != 1 {
		t.Fatalf("append to the new epoch: %v, seqs %v", err, seqsOf(rs))
	}
}

// corruptMiddle overwrites the pages of the readings bucket's root (a
// branch page in the middle of the file) with garbage, the damage Open
// finds when it reads both ends of the bucket.
func corruptMiddle(t *testing.T, path string) {
	t.Helper()
	var root uint64
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.View(func(tx *bbolt.Tx) error {
		root = uint64(tx.Bucket([]byte(bucketReadings)).Root())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ps := int64(os.Getpagesize())
	junk := bytes.Repeat([]byte{0xA5, 0x5A, 0xFF, 0x00}, int(ps)/4)
	if _, err := f.WriteAt(junk, int64(root)*ps); err != nil {
		t.Fatal(err)
	}
	t.Logf("overwrote page %d of %s", root, path)
}
