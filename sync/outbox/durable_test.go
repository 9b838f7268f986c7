package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
)

// TestFailedCommitHandsOutNothing: a commit fails after bbolt wrote it (as
// when fdatasync returns EIO). Its readings are never handed out, Append
// and Ack are refused from then on, the failure is reported, and a reopened
// file goes on without giving a handed-out seq to another reading.
func TestFailedCommitHandsOutNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	var commits, failAt atomic.Int64
	failAt.Store(-1)
	o := openTest(t, Config{Path: path, afterCommit: func() error {
		if commits.Add(1) == failAt.Load() {
			return fmt.Errorf("fdatasync %s: %w", path, syscall.EIO)
		}
		return nil
	}})
	good := mkReadings(10, 0)
	if err := o.Append(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	failAt.Store(commits.Load() + 1)
	bad := mkReadings(5, 100)
	err := o.Append(context.Background(), bad)
	if err == nil || !errors.Is(err, syscall.EIO) {
		t.Fatalf("append in the failing commit: %v, want the EIO", err)
	}
	select {
	case <-o.Failed():
	default:
		t.Fatal("Failed() not closed after a failed commit")
	}
	// bbolt shows the failed commit to readers; Peek must not.
	all := peekAll(t, o)
	if len(all) != 10 || all[9].Seq != 10 {
		t.Fatalf("after the failed commit Peek returned %d readings (last %v), want the 10 durable ones", len(all), all[len(all)-1])
	}
	st := o.Stats()
	if st.Durable != 10 || st.Failed == "" {
		t.Errorf("stats after failure: durable %d, failed %q", st.Durable, st.Failed)
	}
	if err := o.Append(context.Background(), mkReadings(1, 200)); !errors.Is(err, ErrFailed) {
		t.Errorf("append after the failure: %v, want ErrFailed", err)
	}
	if err := o.Ack(context.Background(), []uint64{1}); !errors.Is(err, ErrFailed) {
		t.Errorf("ack after the failure: %v, want ErrFailed", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened: whatever the file holds now is durable; seqs 1..10 keep
	// their readings and no new reading gets a seq Peek handed out.
	o = openTest(t, Config{Path: path})
	if o.Epoch() != st.Epoch {
		t.Errorf("reopen changed the epoch")
	}
	rs := mkReadings(3, 300)
	if err := o.Append(context.Background(), rs); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
	if rs[0].Seq <= 10 {
		t.Fatalf("seq %d reused after reopen", rs[0].Seq)
	}
	for _, r := range peekAll(t, o) {
		if r.Seq <= 10 && r.Value != float64(r.Seq-1) {
			t.Fatalf("seq %d now holds value %g, was %g", r.Seq, r.Value, float64(r.Seq-1))
		}
	}
}

// TestFullDiskIsNotFatal: ENOSPC while bbolt writes pages refuses that
// commit only (nothing of it is visible); checked by classification since
// TestFullDisk needs a tmpfs.
func TestFullDiskIsNotFatal(t *testing.T) {
	for _, tc := range []struct {
		err   error
		fatal bool
	}{
		{fmt.Errorf("write x: %w", syscall.ENOSPC), false},
		{fmt.Errorf("write x: %w", syscall.EDQUOT), false},
		{syscall.EIO, true},
		{errors.New("fdatasync: something"), true},
	} {
		if got := fatalCommitErr(tc.err); got != tc.fatal {
			t.Errorf("fatalCommitErr(%v) = %v, want %v", tc.err, got, tc.fatal)
		}
	}
}
