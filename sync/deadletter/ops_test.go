package deadletter

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/sync/outbox"
)

// fill puts n entries with seqs 101.. and returns the store.
func fill(t *testing.T, path string, n int) *Store {
	t.Helper()
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		r := reading.Reading{Device: "porch", Metric: fmt.Sprintf("m%d", i), Value: float64(i), Unit: "C", Source: "svc",
			Time: time.Date(2026, 12, 1, 0, 0, i, 0, time.UTC), Seq: uint64(100 + i), Simulated: true}
		if err := s.Put(context.Background(), Entry{Route: "cloud", Reason: "too large", Attempts: 3, Reading: r}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func openOutbox(t *testing.T, path string) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.Open(outbox.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

// outboxReadings returns every reading the outbox holds.
func outboxReadings(t *testing.T, ob *outbox.Outbox) []reading.Reading {
	t.Helper()
	rs, err := ob.Peek(0, 10000, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestGetPageDrop: Get finds an entry by id, Page pages by id, Drop drops
// by id, by age and all, and names the ids it did not hold.
func TestGetPageDrop(t *testing.T) {
	s := fill(t, filepath.Join(t.TempDir(), "dl.db"), 5)
	defer s.Close()
	e, ok, err := s.Get(2)
	if err != nil || !ok || e.ID != 2 || e.Reading.Seq != 102 || e.Route != "cloud" {
		t.Fatalf("Get(2) = %+v, %v, %v; want entry 2 (seq 102)", e, ok, err)
	}
	if _, ok, err := s.Get(99); ok || err != nil {
		t.Fatalf("Get(99) = %v, %v; want not found", ok, err)
	}
	es, next, err := s.Page(0, 2)
	if err != nil || len(es) != 2 || es[0].ID != 1 || next != 2 {
		t.Fatalf("Page(0, 2) = %d entries, next %d, %v; want 1..2, next 2", len(es), next, err)
	}
	es, next, err = s.Page(next, 10)
	if err != nil || len(es) != 3 || es[0].ID != 3 || next != 0 {
		t.Fatalf("Page(2, 10) = %d entries, next %d, %v; want 3..5, next 0", len(es), next, err)
	}
	es, next, err = s.Newest(0, 2)
	if err != nil || len(es) != 2 || es[0].ID != 5 || es[1].ID != 4 || next != 4 {
		t.Fatalf("Newest(0, 2) = %d entries, next %d, %v; want 5, 4, next 4", len(es), next, err)
	}
	es, next, err = s.Newest(next, 10)
	if err != nil || len(es) != 3 || es[0].ID != 3 || es[2].ID != 1 || next != 0 {
		t.Fatalf("Newest(4, 10) = %d entries, next %d, %v; want 3..1, next 0", len(es), next, err)
	}
	if es, next, err = s.Newest(99, 1); err != nil || len(es) != 1 || es[0].ID != 5 || next != 5 {
		t.Fatalf("Newest(99, 1) = %d entries, next %d, %v; want 5, next 5", len(es), next, err)
	}
	if es, next, err = s.Newest(1, 10); err != nil || len(es) != 0 || next != 0 {
		t.Fatalf("Newest(1, 10) = %d entries, next %d, %v; want none", len(es), next, err)
	}
	res, err := s.Drop(Selection{IDs: []uint64{2, 7}})
	if err != nil || fmt.Sprint(res.Dropped) != "[2]" || fmt.Sprint(res.NotFound) != "[7]" {
		t.Fatalf("Drop(2, 7) = %+v, %v; want dropped [2], not found [7]", res, err)
	}
	// Entries 1, 3, 4, 5 are left; drop those dead-lettered before entry 4.
	e4, _, _ := s.Get(4)
	if res, err = s.Drop(Selection{All: true, Before: e4.At}); err != nil || fmt.Sprint(res.Dropped) != "[1 3]" {
		t.Fatalf("Drop(all before entry 4) = %+v, %v; want [1 3]", res, err)
	}
	if res, err = s.Drop(Selection{All: true}); err != nil || fmt.Sprint(res.Dropped) != "[4 5]" {
		t.Fatalf("Drop(all) = %+v, %v; want [4 5]", res, err)
	}
	if st := s.Stats(); st.Count != 0 || st.Removed != 5 {
		t.Errorf("stats %+v, want count 0, removed 5", st)
	}
	for _, bad := range []Selection{{}, {All: true, IDs: []uint64{1}}, {IDs: []uint64{0}}, {IDs: make([]uint64, MaxIDs+1)}} {
		if _, err := s.Drop(bad); err == nil || !strings.Contains(err.Error(), "ids") {
			t.Errorf("Drop(%+v): err %v, want one naming ids", bad, err)
		}
	}
}

// TestReplayAppendsThenDeletes: a replay puts the readings in the outbox
// with new seqs and every other field kept, pairs each with its original
// seq, and deletes the entries; nothing is appended twice.
func TestReplayAppendsThenDeletes(t *testing.T) {
	dir := t.TempDir()
	s := fill(t, filepath.Join(dir, "dl.db"), 600) // three chunks
	defer s.Close()
	ob := openOutbox(t, filepath.Join(dir, "outbox.db"))
	defer ob.Close()
	if err := ob.Append(context.Background(), []reading.Reading{{Device: "x", Metric: "y", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Replay(context.Background(), Selection{All: true}, ob.Append)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replayed) != 600 || s.Stats().Count != 0 || s.Stats().Replayed != 600 {
		t.Fatalf("replayed %d, left %d; want 600 and 0", len(res.Replayed), s.Stats().Count)
	}
	rs := outboxReadings(t, ob)
	if len(rs) != 601 {
		t.Fatalf("outbox holds %d readings, want 601", len(rs))
	}
	for i, p := range res.Replayed {
		r := rs[i+1]
		want := fmt.Sprintf("m%d", i+1)
		if p.ID != uint64(i+1) || p.OriginalSeq != uint64(101+i) || p.Seq != uint64(i+2) || p.MaybeDuplicate ||
			r.Seq != p.Seq || r.Metric != want || r.Value != float64(i+1) || r.Unit != "C" || r.Source != "svc" || !r.Simulated ||
			!r.Time.Equal(time.Date(2026, 12, 1, 0, 0, i+1, 0, time.UTC)) {
			t.Fatalf("replayed %+v as %+v; want id %d, original seq %d, new seq %d, metric %s with its value, unit, source, time", p, r, i+1, 101+i, i+2, want)
		}
	}
	if res, err := s.Replay(context.Background(), Selection{IDs: []uint64{1}}, ob.Append); err != nil || len(res.Replayed) != 0 || fmt.Sprint(res.NotFound) != "[1]" {
		t.Fatalf("second replay of 1: %+v, %v; want not found", res, err)
	}
}

// TestReplayRefusedKeepsEntries: an append the outbox refuses leaves the
// entries as they were (not marked).
func TestReplayRefusedKeepsEntries(t *testing.T) {
	s := fill(t, filepath.Join(t.TempDir(), "dl.db"), 2)
	defer s.Close()
	refuse := func(context.Context, []reading.Reading) error { return fmt.Errorf("outbox full") }
	if _, err := s.Replay(context.Background(), Selection{IDs: []uint64{1, 2}}, refuse); err == nil || !strings.Contains(err.Error(), "outbox full") {
		t.Fatalf("err %v, want the outbox's", err)
	}
	es, _, _ := s.Page(0, 0)
	if len(es) != 2 || es[0].Replaying || es[1].Replaying {
		t.Fatalf("entries %+v, want both, unmarked", es)
	}
}

// crashEnv names the step the helper process is killed at.
const crashEnv = "EDGED_DEADLETTER_CRASH"

// TestReplayCrashHelper is the process TestReplayCrash kills: it replays
// every entry and SIGKILLs itself before or after the outbox append.
func TestReplayCrashHelper(t *testing.T) {
	at := os.Getenv(crashEnv)
	if at == "" {
		return // run by TestReplayCrash as its child; alone it has nothing to do (not a skip: CI counts skips)
	}
	dir := os.Getenv("EDGED_DEADLETTER_DIR")
	s, err := Open(Config{Path: filepath.Join(dir, "dl.db")})
	if err != nil {
		t.Fatal(err)
	}
	ob := openOutbox(t, filepath.Join(dir, "outbox.db"))
	kill := func() { syscall.Kill(os.Getpid(), syscall.SIGKILL); select {} }
	s.Replay(context.Background(), Selection{All: true}, func(ctx context.Context, rs []reading.Reading) error {
		if at == "before-append" {
			kill()
		}
		if err := ob.Append(ctx, rs); err != nil {
			t.Fatal(err)
		}
		kill()
		return nil
	})
	t.Fatal("not killed")
}

// TestReplayCrash kills a replaying process (SIGKILL, as a crash would)
// after the entries are marked and before or after the outbox append. On
// reopen the entries are all still there, marked, and counted; the
// outbox holds each reading once or not at all; a replay then delivers
// them and says they may be duplicates. Nothing is lost, and a possible
// duplicate is never silent.
func TestReplayCrash(t *testing.T) {
	for _, at := range []string{"before-append", "after-append"} {
		t.Run(at, func(t *testing.T) {
			dir := t.TempDir()
			fill(t, filepath.Join(dir, "dl.db"), 3).Close()
			cmd := exec.Command(os.Args[0], "-test.run=^TestReplayCrashHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashEnv+"="+at, "EDGED_DEADLETTER_DIR="+dir)
			out, err := cmd.CombinedOutput()
			if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
				t.Fatalf("helper was not killed: %v\n%s", err, out)
			}
			s, err := Open(Config{Path: filepath.Join(dir, "dl.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ob := openOutbox(t, filepath.Join(dir, "outbox.db"))
			defer ob.Close()
			es, _, err := s.Page(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(es) != 3 || s.Stats().Unfinished != 3 {
				t.Fatalf("after the crash: %d entries, %d unfinished; want 3 and 3", len(es), s.Stats().Unfinished)
			}
			for _, e := range es {
				if !e.Replaying {
					t.Errorf("entry %d not marked replaying", e.ID)
				}
			}
			wantIn := 0
			if at == "after-append" {
				wantIn = 3
			}
			if n := len(outboxReadings(t, ob)); n != wantIn {
				t.Fatalf("outbox holds %d readings after the crash, want %d", n, wantIn)
			}
			res, err := s.Replay(context.Background(), Selection{All: true}, ob.Append)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Replayed) != 3 || s.Stats().Count != 0 {
				t.Fatalf("replay after the crash: %+v, left %d", res, s.Stats().Count)
			}
			for _, p := range res.Replayed {
				if !p.MaybeDuplicate {
					t.Errorf("replayed %+v without maybe_duplicate", p)
				}
			}
			if n := len(outboxReadings(t, ob)); n != wantIn+3 {
				t.Fatalf("outbox holds %d readings, want %d", n, wantIn+3)
			}
		})
	}
}
