package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/edged-gateway/edged/reading"
)

var bg = context.Background()

func mustAppend(t *testing.T, o *Outbox, rs []reading.Reading) []reading.Reading {
	t.Helper()
	if err := o.Append(bg, rs); err != nil {
		t.Fatal(err)
	}
	return rs
}

func mustSet(t *testing.T, o *Outbox, specs ...CursorSpec) {
	t.Helper()
	if err := o.SetCursors(bg, specs); err != nil {
		t.Fatal(err)
	}
}

func mustCursor(t *testing.T, o *Outbox, name string) *Cursor {
	t.Helper()
	c, err := o.Cursor(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustAck(t *testing.T, c *Cursor, seqs ...uint64) {
	t.Helper()
	if err := c.Ack(bg, seqs); err != nil {
		t.Fatal(err)
	}
}

// peekCursor returns every reading the cursor would hand out now.
func peekCursor(t *testing.T, c *Cursor) []reading.Reading {
	t.Helper()
	var all, page []reading.Reading
	var after uint64
	for {
		var err error
		page, err = c.Peek(after, 3, page)
		if err != nil {
			t.Fatalf("cursor %s: Peek(%d): %v", c.Name(), after, err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestSetCursorsStartsRemovesAndReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openTest(t, Config{Path: path})
	mustAppend(t, o, mkReadings(5, 0))
	mustSet(t, o, CursorSpec{Name: "route:cloud", Start: FromOldest}, CursorSpec{Name: "service:porch-rules", Start: FromNewest})
	route, svc := mustCursor(t, o, "route:cloud"), mustCursor(t, o, "service:porch-rules")
	if again := mustCursor(t, o, "route:cloud"); again != route {
		t.Error("Cursor returned another *Cursor for the same name")
	}
	if route.Next() != 1 || svc.Next() != 6 || route.Lag() != 5 || svc.Lag() != 0 {
		t.Fatalf("route next %d lag %d, service next %d lag %d; want 1 5, 6 0", route.Next(), route.Lag(), svc.Next(), svc.Lag())
	}
	if got := seqsOf(peekCursor(t, route)); !slices.Equal(got, seqRange(1, 5)) {
		t.Errorf("route (from oldest) peeked %v", got)
	}
	if got := peekCursor(t, svc); len(got) != 0 {
		t.Errorf("service (from newest) peeked %v before anything new", seqsOf(got))
	}
	mustAppend(t, o, mkReadings(3, 10))
	if got := seqsOf(peekCursor(t, svc)); !slices.Equal(got, seqRange(6, 8)) {
		t.Errorf("service peeked %v, want 6..8", got)
	}
	mustAck(t, route, 1, 2, 3)
	mustAck(t, svc, 6)
	if err := o.Ack(bg, []uint64{7}); !errors.Is(err, ErrCursors) {
		t.Errorf("Outbox.Ack with cursors: %v, want ErrCursors", err)
	}
	if _, err := o.Cursor("route:nope"); err == nil || !strings.Contains(err.Error(), "route:cloud, service:porch-rules") {
		t.Errorf("Cursor of an unknown name: %v, want the names there are", err)
	}
	want := []CursorStats{{Name: "route:cloud", Next: 4, Lag: 5, Acked: 3}, {Name: "service:porch-rules", Next: 7, Lag: 2, Acked: 1}}
	if got := o.Cursors(); !slices.Equal(got, want) {
		t.Errorf("Cursors() = %+v, want %+v", got, want)
	}
	// Every cursor passed 1..3: deleted; 4..8 stay.
	if st := o.Stats(); st.Depth != 5 || st.Acked != 3 {
		t.Errorf("depth %d acked %d, want 5 3", st.Depth, st.Acked)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	o = openTest(t, Config{Path: path})
	if got := o.Cursors(); !slices.Equal(got, want) {
		t.Errorf("after reopen Cursors() = %+v, want %+v", got, want)
	}
	route = mustCursor(t, o, "route:cloud")
	if got := seqsOf(peekCursor(t, route)); !slices.Equal(got, seqRange(4, 8)) {
		t.Errorf("route after reopen peeked %v, want 4..8", got)
	}
	// Same set again (another Start is ignored for a known name): nothing moves.
	mustSet(t, o, CursorSpec{Name: "service:porch-rules", Start: FromOldest}, CursorSpec{Name: "route:cloud", Start: FromNewest})
	if got := o.Cursors(); !slices.Equal(got, want) {
		t.Errorf("after setting the same cursors Cursors() = %+v, want %+v", got, want)
	}
	// Remove the route, which holds 4..6 back (the service is at 7): its
	// *Cursor stops working and 4..6 are deleted in that transaction.
	mustAck(t, route, 4)
	if st := o.Stats(); st.Depth != 4 {
		t.Errorf("depth %d with the route at 5, want 4 (5..8)", st.Depth)
	}
	mustSet(t, o, CursorSpec{Name: "service:porch-rules"})
	if st := o.Stats(); st.Depth != 2 {
		t.Errorf("depth %d after removing the route, want 2", st.Depth)
	}
	if _, err := route.Peek(0, 10, nil); !errors.Is(err, ErrCursorRemoved) {
		t.Errorf("Peek of a removed cursor: %v", err)
	}
	if err := route.Ack(bg, []uint64{5}); !errors.Is(err, ErrCursorRemoved) {
		t.Errorf("Ack of a removed cursor: %v", err)
	}
	if _, err := o.Cursor("route:cloud"); err == nil {
		t.Error("Cursor found a removed cursor")
	}
	// Added again, it is new to the file: FromOldest starts at the oldest stored.
	mustSet(t, o, CursorSpec{Name: "route:cloud", Start: FromOldest}, CursorSpec{Name: "service:porch-rules"})
	if c := mustCursor(t, o, "route:cloud"); c == route || c.Next() != 7 || c.Stats().Acked != 0 {
		t.Errorf("re-added cursor: same pointer %v, next %d, acked %d; want a new one at 7", c == route, c.Next(), c.Stats().Acked)
	}
	// No cursors: Outbox.Ack works again, nothing is deleted by itself.
	mustSet(t, o)
	if err := o.Ack(bg, []uint64{7}); err != nil {
		t.Errorf("Outbox.Ack without cursors: %v", err)
	}
	if got := seqsOf(peekAll(t, o)); !slices.Equal(got, []uint64{8}) {
		t.Errorf("stored %v, want [8]", got)
	}
}

func TestSetCursorsRejects(t *testing.T) {
	o := openTest(t, Config{})
	for _, tc := range []struct {
		specs []CursorSpec
		want  string
	}{
		{[]CursorSpec{{Name: ""}}, "want 1..64"},
		{[]CursorSpec{{Name: strings.Repeat("a", 65)}}, "want 1..64"},
		{[]CursorSpec{{Name: "route/cloud"}}, `byte 5 ('/')`},
		{[]CursorSpec{{Name: "a"}, {Name: "a"}}, "named twice"},
		{[]CursorSpec{{Name: "a", Start: 7}}, "neither FromOldest nor FromNewest"},
		{make([]CursorSpec, MaxCursors+1), "at most 256"},
	} {
		err := o.SetCursors(bg, tc.specs)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetCursors(%.60v): %v, want %q", tc.specs, err, tc.want)
		}
	}
	if len(o.Cursors()) != 0 {
		t.Errorf("rejected specs made cursors: %v", o.Cursors())
	}
}

// TestCursorOutOfOrderAcks: the position moves over the longest run of
// done readings only, and the seqs held beyond a gap are released once
// it is passed.
func TestCursorOutOfOrderAcks(t *testing.T) {
	o := openTest(t, Config{})
	mustSet(t, o, CursorSpec{Name: "a"})
	mustAppend(t, o, mkReadings(10, 0))
	c := mustCursor(t, o, "a")
	for _, step := range []struct {
		ack  []uint64
		next uint64
	}{
		{[]uint64{3, 5, 4}, 1},
		{[]uint64{1}, 2},
		{[]uint64{2, 2, 1}, 6},
		{[]uint64{9, 42}, 6}, // 42 was never handed out: ignored
		{[]uint64{7, 6}, 8},
		{[]uint64{8, 10}, 11},
	} {
		mustAck(t, c, step.ack...)
		if c.Next() != step.next {
			t.Fatalf("after acking %v next is %d, want %d", step.ack, c.Next(), step.next)
		}
	}
	if len(c.done) != 0 {
		t.Errorf("%d seqs still held for out-of-order acks: %v", len(c.done), c.done)
	}
	if st := c.Stats(); st.Acked != 10 || st.Lag != 0 {
		t.Errorf("stats %+v, want acked 10 lag 0", st)
	}
	if st := o.Stats(); st.Depth != 0 || st.Bytes != 0 {
		t.Errorf("outbox depth %d bytes %d, want 0 0", st.Depth, st.Bytes)
	}
	// The next reading goes on from 11 and is handed out.
	mustAppend(t, o, mkReadings(1, 0))
	if got := seqsOf(peekCursor(t, c)); !slices.Equal(got, []uint64{11}) {
		t.Errorf("peeked %v, want [11]", got)
	}
}

// TestCursorOverLegacyGaps: a file whose older release acked out of order
// has holes; a cursor treats seqs that are not stored as done.
func TestCursorOverLegacyGaps(t *testing.T) {
	o := openTest(t, Config{})
	mustAppend(t, o, mkReadings(10, 0))
	if err := o.Ack(bg, []uint64{3, 4, 7, 10}); err != nil {
		t.Fatal(err)
	}
	mustSet(t, o, CursorSpec{Name: "a", Start: FromOldest}, CursorSpec{Name: "b", Start: FromOldest})
	a, b := mustCursor(t, o, "a"), mustCursor(t, o, "b")
	if got := seqsOf(peekCursor(t, a)); !slices.Equal(got, []uint64{1, 2, 5, 6, 8, 9}) {
		t.Fatalf("peeked %v", got)
	}
	mustAck(t, a, 1, 2)
	if a.Next() != 5 {
		t.Errorf("after 1,2 next %d, want 5 (3 and 4 are not stored)", a.Next())
	}
	mustAck(t, a, 6, 9)
	if a.Next() != 5 {
		t.Errorf("after 6,9 next %d, want 5", a.Next())
	}
	mustAck(t, a, 5, 8)
	if a.Next() != 11 {
		t.Errorf("after 5,8 next %d, want 11 (10 is not stored)", a.Next())
	}
	if st := o.Stats(); st.Depth != 6 {
		t.Errorf("depth %d while b is at 1, want 6", st.Depth)
	}
	mustAck(t, b, 9, 8, 6, 5, 2, 1)
	if b.Next() != 11 {
		t.Errorf("b next %d, want 11", b.Next())
	}
	if st := o.Stats(); st.Depth != 0 || st.Bytes != 0 {
		t.Errorf("depth %d bytes %d after both passed everything, want 0 0", st.Depth, st.Bytes)
	}
}

// TestDeletionOnlyAfterEveryCursor: a reading stays while one cursor has
// not passed it, and the count and bytes stay exact.
func TestDeletionOnlyAfterEveryCursor(t *testing.T) {
	o := openTest(t, Config{})
	mustSet(t, o, CursorSpec{Name: "fast"}, CursorSpec{Name: "slow"}, CursorSpec{Name: "mid"})
	mustAppend(t, o, mkReadings(20, 0))
	fast, slow, mid := mustCursor(t, o, "fast"), mustCursor(t, o, "slow"), mustCursor(t, o, "mid")
	per := recordLen()
	mustAck(t, fast, seqRange(1, 20)...)
	mustAck(t, mid, seqRange(1, 12)...)
	if st := o.Stats(); st.Depth != 20 || st.Bytes != 20*per {
		t.Fatalf("depth %d bytes %d with slow at 1, want 20 %d", st.Depth, st.Bytes, 20*per)
	}
	mustAck(t, slow, seqRange(1, 5)...)
	if st := o.Stats(); st.Depth != 15 || st.Bytes != 15*per || st.Acked != 5 {
		t.Fatalf("depth %d bytes %d acked %d, want 15 %d 5", st.Depth, st.Bytes, st.Acked, 15*per)
	}
	if got := seqsOf(peekAll(t, o)); got[0] != 6 {
		t.Errorf("first stored %d, want 6", got[0])
	}
	mustAck(t, slow, seqRange(6, 20)...)
	if st := o.Stats(); st.Depth != 8 || st.Bytes != 8*per {
		t.Errorf("depth %d bytes %d with mid at 13, want 8 %d", st.Depth, st.Bytes, 8*per)
	}
	if mid.Lag() != 8 || fast.Lag() != 0 || slow.Lag() != 0 {
		t.Errorf("lags fast %d mid %d slow %d, want 0 8 0", fast.Lag(), mid.Lag(), slow.Lag())
	}
}

// TestCursorCapsDropPerCursor: the byte cap drops from the front; each
// cursor counts the readings it had not passed and moves past them; the
// drop warning names the cursors.
func TestCursorCapsDropPerCursor(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	path := filepath.Join(t.TempDir(), "outbox.db")
	per := recordLen()
	o := openTest(t, Config{Path: path, MaxBytes: 10*per + per/2, Logger: log})
	mustSet(t, o, CursorSpec{Name: "route:cloud"}, CursorSpec{Name: "route:historian"}, CursorSpec{Name: "service:agg"})
	cloud, hist, agg := mustCursor(t, o, "route:cloud"), mustCursor(t, o, "route:historian"), mustCursor(t, o, "service:agg")
	mustAppend(t, o, mkReadings(8, 0))
	mustAck(t, cloud, seqRange(1, 8)...)
	mustAck(t, agg, 1, 2, 3, 5) // 5 beyond the gap at 4
	mustAppend(t, o, mkReadings(8, 100))
	// 16 appended, 10 fit: 1..6 dropped. cloud had passed them all, agg had
	// acked 1..3 and 5 (dropped: 4, 6), the historian none (dropped: 1..6).
	wantStats := []CursorStats{
		{Name: "route:cloud", Next: 9, Lag: 8, Acked: 8, Dropped: 0},
		{Name: "route:historian", Next: 7, Lag: 10, Acked: 0, Dropped: 6},
		{Name: "service:agg", Next: 7, Lag: 10, Acked: 4, Dropped: 2},
	}
	if got := o.Cursors(); !slices.Equal(got, wantStats) {
		t.Errorf("Cursors() = %+v\nwant %+v", got, wantStats)
	}
	if st := o.Stats(); st.Dropped != 6 || st.Depth != 10 || st.Bytes != 10*per {
		t.Errorf("outbox dropped %d depth %d bytes %d, want 6 10 %d", st.Dropped, st.Depth, st.Bytes, 10*per)
	}
	if got := seqsOf(peekCursor(t, hist)); !slices.Equal(got, seqRange(7, 16)) {
		t.Errorf("historian peeks %v, want 7..16", got)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, `cursors="route:historian=6,service:agg=2"`) {
		t.Errorf("the drop warning does not name the cursors and their drops:\n%s", out)
	}
	o = openTest(t, Config{Path: path, MaxBytes: 10*per + per/2})
	if got := o.Cursors(); !slices.Equal(got, wantStats) {
		t.Errorf("after reopen Cursors() = %+v\nwant %+v", got, wantStats)
	}
}

// TestCursorKeepsHopsAndSource: a service's emit comes back through a
// cursor with its lineage, also after a reopen.
func TestCursorKeepsHopsAndSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openTest(t, Config{Path: path})
	mustSet(t, o, CursorSpec{Name: "service:rules"})
	in := []reading.Reading{
		{Device: "porch", Metric: "temperature", Value: 35, Unit: "C", Time: testNow},
		{Device: "porch", Metric: "temperature_mean", Value: 35, Unit: "C", Time: testNow, Source: "agg", Hops: 1},
		{Device: "porch", Metric: "relay", Value: 1, Time: testNow, Source: "rules", Hops: 2, Simulated: true},
	}
	mustAppend(t, o, slices.Clone(in))
	check := func(o *Outbox, when string) {
		got := peekCursor(t, mustCursor(t, o, "service:rules"))
		if len(got) != len(in) {
			t.Fatalf("%s: peeked %d readings, want %d", when, len(got), len(in))
		}
		for i := range in {
			if !sameReading(got[i], in[i]) {
				t.Errorf("%s: reading %d came back as %+v, want %+v", when, i, got[i], in[i])
			}
		}
	}
	check(o, "open")
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, Config{Path: path}), "after reopen")
}

// TestFailedCursorAckDoesNotMoveNext: the commit carrying a cursor's ack
// fails (an fdatasync error): Ack reports it, Next stays where it was
// durable, and Peek still hands the readings out.
func TestFailedCursorAckDoesNotMoveNext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	var fail sync.Mutex
	failing := false
	o := openTest(t, Config{Path: path, afterCommit: func() error {
		fail.Lock()
		defer fail.Unlock()
		if failing {
			return fmt.Errorf("fdatasync %s: input/output error", path)
		}
		return nil
	}})
	mustSet(t, o, CursorSpec{Name: "a"}, CursorSpec{Name: "b"})
	mustAppend(t, o, mkReadings(10, 0))
	a := mustCursor(t, o, "a")
	mustAck(t, a, 1, 2, 3)
	fail.Lock()
	failing = true
	fail.Unlock()
	if err := a.Ack(bg, []uint64{4, 5, 6}); err == nil {
		t.Fatal("Ack in a failing commit returned nil")
	}
	if a.Next() != 4 || a.Stats().Acked != 3 {
		t.Errorf("after the failed commit next %d acked %d, want 4 3", a.Next(), a.Stats().Acked)
	}
	if got := seqsOf(peekCursor(t, a)); !slices.Equal(got, seqRange(4, 10)) {
		t.Errorf("peeked %v after the failed ack, want 4..10", got)
	}
	if err := a.Ack(bg, []uint64{7}); !errors.Is(err, ErrFailed) {
		t.Errorf("Ack after the failure: %v, want ErrFailed", err)
	}
	if err := o.SetCursors(bg, nil); !errors.Is(err, ErrFailed) {
		t.Errorf("SetCursors after the failure: %v, want ErrFailed", err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// bbolt wrote that commit before the injected error: the reopened file
	// may have the cursor at 4 or 7, never behind 4 and never past 7.
	o = openTest(t, Config{Path: path})
	a = mustCursor(t, o, "a")
	if n := a.Next(); n != 4 && n != 7 {
		t.Errorf("after reopen next %d, want 4 or 7", n)
	}
	if b := mustCursor(t, o, "b"); b.Next() != 1 || len(peekCursor(t, b)) != 10 {
		t.Errorf("b after reopen at %d, want 1 with all 10 readings", b.Next())
	}
}

// TestOldFileWithoutCursors: a file of the previous release (no cursors
// bucket) opens, behaves as before, and takes cursors.
func TestOldFileWithoutCursors(t *testing.T) {
	path := writeDB(t, 5)
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(bucketCursors)) != nil {
			return errors.New("the old file has a cursors bucket")
		}
		return nil
	})
	o := openTest(t, Config{Path: path})
	if len(o.Cursors()) != 0 {
		t.Fatalf("cursors in an old file: %v", o.Cursors())
	}
	if err := o.Ack(bg, []uint64{1}); err != nil {
		t.Fatal(err)
	}
	mustSet(t, o, CursorSpec{Name: "a"})
	if got := seqsOf(peekCursor(t, mustCursor(t, o, "a"))); !slices.Equal(got, seqRange(2, 5)) {
		t.Errorf("peeked %v, want 2..5", got)
	}
}

// TestMalformedCursorState: a cursor entry of the wrong length restarts at
// the oldest stored reading (nothing skipped); one with an invalid name is
// ignored and holds nothing back.
func TestMalformedCursorState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openTest(t, Config{Path: path})
	mustSet(t, o, CursorSpec{Name: "a"}, CursorSpec{Name: "b"})
	mustAppend(t, o, mkReadings(5, 0))
	mustAck(t, mustCursor(t, o, "a"), 1, 2, 3)
	mustAck(t, mustCursor(t, o, "b"), 1, 2, 3, 4)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		cb := tx.Bucket([]byte(bucketCursors))
		if err := cb.Put([]byte("b"), []byte{1, 2, 3}); err != nil {
			return err
		}
		return cb.Put([]byte("bad/name"), cursorState{next: 1}.encode())
	})
	o = openTest(t, Config{Path: path})
	want := []CursorStats{{Name: "a", Next: 4, Lag: 2, Acked: 3}, {Name: "b", Next: 0, Lag: 2}}
	if got := o.Cursors(); !slices.Equal(got, want) {
		t.Errorf("Cursors() = %+v, want %+v", got, want)
	}
	if got := seqsOf(peekCursor(t, mustCursor(t, o, "b"))); !slices.Equal(got, []uint64{4, 5}) {
		t.Errorf("b peeked %v, want [4 5]", got)
	}
}

func TestDecodeCursor(t *testing.T) {
	st := cursorState{next: 7, acked: 1 << 40, dropped: 3}
	name, got, err := decodeCursor([]byte("route:cloud"), st.encode())
	if err != nil || name != "route:cloud" || got != st {
		t.Fatalf("decodeCursor = %q %+v %v", name, got, err)
	}
	if _, _, err := decodeCursor([]byte("a"), st.encode()[:23]); err == nil || !strings.Contains(err.Error(), "23 bytes") {
		t.Errorf("short state: %v", err)
	}
	if n, _, err := decodeCursor([]byte("a b"), st.encode()); err == nil || n != "" {
		t.Errorf("invalid name: %q %v", n, err)
	}
}

// FuzzDecodeCursor: no entry of the cursors bucket makes decodeCursor
// panic, and what it accepts encodes back to the same bytes.
func FuzzDecodeCursor(f *testing.F) {
	f.Add([]byte("route:cloud"), cursorState{next: 1}.encode())
	f.Add([]byte("service:porch-rules"), cursorState{next: 1 << 62, acked: 5, dropped: 9}.encode())
	f.Add([]byte(""), []byte{})
	f.Add([]byte("a/b"), cursorState{}.encode())
	f.Add([]byte("x"), []byte{0, 0, 0})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		name, st, err := decodeCursor(k, v)
		if name == "" {
			if err == nil {
				t.Fatalf("no name and no error for %q", k)
			}
			return
		}
		if checkCursorName(name) != nil || name != string(k) {
			t.Fatalf("accepted name %q from %q", name, k)
		}
		if err != nil {
			if st != (cursorState{}) {
				t.Fatalf("malformed state decoded as %+v", st)
			}
			return
		}
		if !bytes.Equal(st.encode(), v) {
			t.Fatalf("%x decoded as %+v encodes as %x", v, st, st.encode())
		}
	})
}
