package outbox

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// testNow is the fixed clock of most tests; readings are stamped near it.
var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// openTest opens an outbox in a fresh directory with a fixed clock unless
// cfg says otherwise, and closes it at the end of the test.
func openTest(t *testing.T, cfg Config) *Outbox {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "outbox.db")
	}
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	o, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

// mkReadings returns n readings whose Value is from, from+1, ...
func mkReadings(n int, from float64) []reading.Reading {
	rs := make([]reading.Reading, n)
	for i := range rs {
		rs[i] = reading.Reading{Device: "dev", Metric: "temp", Unit: "C", Value: from + float64(i),
			Time: testNow.Add(time.Duration(i) * time.Millisecond)}
	}
	return rs
}

// peekAll returns every stored reading.
func peekAll(t *testing.T, o *Outbox) []reading.Reading {
	t.Helper()
	var all, page []reading.Reading
	var after uint64
	for {
		var err error
		page, err = o.Peek(after, 100, page)
		if err != nil {
			t.Fatalf("Peek(%d): %v", after, err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
		after = page[len(page)-1].Seq
	}
}

func seqsOf(rs []reading.Reading) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

func TestConcurrentAppendOrderAndSeqs(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		appenders, calls, per int
		maxBatch              int
	}{
		{"one appender", 1, 50, 3, 0},
		{"16 appenders", 16, 40, 1, 0},
		{"64 appenders small batches", 64, 10, 2, 8},
		{"calls larger than MaxBatch", 8, 10, 20, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := openTest(t, Config{MaxBatch: tc.maxBatch})
			var mu sync.Mutex
			got := map[uint64]float64{} // seq -> value the appender sent
			var wg sync.WaitGroup
			for a := range tc.appenders {
				wg.Go(func() {
					for c := range tc.calls {
						rs := mkReadings(tc.per, float64((a*tc.calls+c)*tc.per))
						if err := o.Append(context.Background(), rs); err != nil {
							t.Error(err)
							return
						}
						for i := range rs {
							if i > 0 && rs[i].Seq != rs[i-1].Seq+1 {
								t.Errorf("seqs within one call not contiguous: %v", seqsOf(rs))
							}
							mu.Lock()
							if _, dup := got[rs[i].Seq]; dup {
								t.Errorf("seq %d assigned twice", rs[i].Seq)
							}
							got[rs[i].Seq] = rs[i].Value
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			n := tc.appenders * tc.calls * tc.per
			all := peekAll(t, o)
			if len(all) != n || len(got) != n {
				t.Fatalf("stored %d, assigned %d, want %d", len(all), len(got), n)
			}
			for i, r := range all {
				if r.Seq != uint64(i+1) {
					t.Fatalf("reading %d has seq %d, want %d (contiguous from 1, ascending)", i, r.Seq, i+1)
				}
				if got[r.Seq] != r.Value {
					t.Fatalf("seq %d: stored value %g, appender got %g", r.Seq, r.Value, got[r.Seq])
				}
			}
			if st := o.Stats(); st.Depth != int64(n) || st.NextSeq != uint64(n+1) || st.Appended != uint64(n) {
				t.Errorf("Stats = %+v, want depth %d next %d appended %d", st, n, n+1, n)
			}
		})
	}
}

func TestGroupCommitSharesTransactions(t *testing.T) {
	o := openTest(t, Config{})
	const appenders, calls = 32, 20
	var wg sync.WaitGroup
	for range appenders {
		wg.Go(func() {
			for range calls {
				if err := o.Append(context.Background(), mkReadings(1, 0)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if c := o.Stats().Commits; c > appenders*calls/2 {
		t.Errorf("%d commits for %d concurrent appends: callers are not sharing transactions", c, appenders*calls)
	}
}

func TestAckPeekStats(t *testing.T) {
	o := openTest(t, Config{})
	rs := mkReadings(10, 0)
	if err := o.Append(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	per := int64(keyLen + encodedLen(&rs[0]))
	steps := []struct {
		name      string
		ack       []uint64
		wantSeqs  []uint64
		wantAcked uint64
	}{
		{"ack front", []uint64{1, 2, 3}, []uint64{4, 5, 6, 7, 8, 9, 10}, 3},
		{"ack again is a no-op", []uint64{1, 2, 3}, []uint64{4, 5, 6, 7, 8, 9, 10}, 3},
		{"ack middle, unsorted, duplicated", []uint64{7, 5, 7}, []uint64{4, 6, 8, 9, 10}, 5},
		{"unknown seqs are ignored", []uint64{99, 1 << 62}, []uint64{4, 6, 8, 9, 10}, 5},
		{"ack the rest", []uint64{4, 6, 8, 9, 10}, nil, 10},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := o.Ack(context.Background(), s.ack); err != nil {
				t.Fatal(err)
			}
			if got := seqsOf(peekAll(t, o)); !slices.Equal(got, s.wantSeqs) && len(got)+len(s.wantSeqs) > 0 {
				t.Errorf("stored seqs %v, want %v", got, s.wantSeqs)
			}
			st := o.Stats()
			if st.Depth != int64(len(s.wantSeqs)) || st.Bytes != per*int64(len(s.wantSeqs)) || st.Acked != s.wantAcked {
				t.Errorf("Stats depth %d bytes %d acked %d, want %d %d %d", st.Depth, st.Bytes, st.Acked,
					len(s.wantSeqs), per*int64(len(s.wantSeqs)), s.wantAcked)
			}
			if len(s.wantSeqs) > 0 && !st.Oldest.Equal(rs[s.wantSeqs[0]-1].Time) {
				t.Errorf("Oldest %v, want %v", st.Oldest, rs[s.wantSeqs[0]-1].Time)
			}
			if len(s.wantSeqs) == 0 && !st.Oldest.IsZero() {
				t.Errorf("Oldest %v on an empty outbox, want zero", st.Oldest)
			}
		})
	}
}

func TestPeekWindow(t *testing.T) {
	o := openTest(t, Config{})
	if err := o.Append(context.Background(), mkReadings(20, 0)); err != nil {
		t.Fatal(err)
	}
	dst := make([]reading.Reading, 3, 50) // Peek must reuse it from [:0]
	for _, tc := range []struct {
		after uint64
		n     int
		want  []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{3, 2, []uint64{4, 5}},
		{18, 10, []uint64{19, 20}},
		{20, 10, nil},
		{5, 0, nil},
		{^uint64(0), 5, nil},
	} {
		t.Run(fmt.Sprintf("after=%d,n=%d", tc.after, tc.n), func(t *testing.T) {
			got, err := o.Peek(tc.after, tc.n, dst)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(seqsOf(got), tc.want) && len(got)+len(tc.want) > 0 {
				t.Errorf("got %v, want %v", seqsOf(got), tc.want)
			}
			for _, r := range got {
				if r.Device != "dev" || r.Metric != "temp" || r.Unit != "C" || r.Value != float64(r.Seq-1) {
					t.Errorf("reading %v does not match what was appended", r)
				}
			}
		})
	}
}

func TestAppendStampsAndRejects(t *testing.T) {
	o := openTest(t, Config{})
	rs := []reading.Reading{{Device: "d", Metric: "m", Value: 1}}
	if err := o.Append(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	if !rs[0].Time.Equal(testNow) {
		t.Errorf("zero Time stamped as %v, want Config.Now() %v", rs[0].Time, testNow)
	}
	long := string(make([]byte, MaxNameLen+1))
	for _, r := range []reading.Reading{
		{Device: long, Time: testNow},
		{Unit: long, Time: testNow},
		{Time: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		err := o.Append(context.Background(), []reading.Reading{mkReadings(1, 0)[0], r})
		if !errors.Is(err, ErrInvalidReading) {
			t.Errorf("Append(%v) = %v, want ErrInvalidReading", r, err)
		}
	}
	if st := o.Stats(); st.Depth != 1 || st.AppendErrors != 3 {
		t.Errorf("depth %d append errors %d: a rejected call must store nothing and be counted", st.Depth, st.AppendErrors)
	}
	if err := o.Append(context.Background(), nil); err != nil {
		t.Errorf("Append(nil) = %v", err)
	}
}

func TestChanged(t *testing.T) {
	o := openTest(t, Config{})
	ch := o.Changed()
	if err := o.Ack(context.Background(), []uint64{1}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("Changed fired on a commit that added nothing")
	default:
	}
	if err := o.Append(context.Background(), mkReadings(1, 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Changed not closed after an append")
	}
	if o.Changed() == ch {
		t.Error("Changed returned the closed channel again")
	}
	ch = o.Changed()
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	<-ch // closed by Close; hangs (and times out) if not
}

func TestContextAndClose(t *testing.T) {
	o := openTest(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Append(ctx, mkReadings(1, 0)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled ctx = %v", err)
	}
	if err := o.Append(context.Background(), mkReadings(2, 0)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := o.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	for name, err := range map[string]error{
		"Append": o.Append(context.Background(), mkReadings(1, 0)),
		"Ack":    o.Ack(context.Background(), []uint64{1}),
		"Peek":   func() error { _, err := o.Peek(0, 1, nil); return err }(),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestCloseWhileAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openTest(t, Config{Path: path, MaxBatch: 16})
	var mu sync.Mutex
	var durable []uint64
	var wg sync.WaitGroup
	started := make(chan struct{}, 32)
	for range 32 {
		wg.Go(func() {
			for i := 0; ; i++ {
				rs := mkReadings(3, 0)
				err := o.Append(context.Background(), rs)
				if i == 0 {
					started <- struct{}{}
				}
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				durable = append(durable, seqsOf(rs)...)
				mu.Unlock()
			}
		})
	}
	for range 32 {
		<-started
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	o = openTest(t, Config{Path: path})
	stored := map[uint64]bool{}
	for _, r := range peekAll(t, o) {
		stored[r.Seq] = true
	}
	for _, s := range durable {
		if !stored[s] {
			t.Fatalf("seq %d: Append returned nil before Close, but it is not stored", s)
		}
	}
	if len(durable) == 0 {
		t.Error("no append finished before Close")
	}
}

func TestSetLimitsDropsOldestAtNextCommit(t *testing.T) {
	o := openTest(t, Config{})
	ctx := context.Background()
	if err := o.Append(ctx, mkReadings(1000, 0)); err != nil {
		t.Fatal(err)
	}
	before := o.Stats()
	o.SetLimits(before.Bytes/4, 0)
	if err := o.Append(ctx, mkReadings(1, 1000)); err != nil {
		t.Fatal(err)
	}
	after := o.Stats()
	if after.Bytes > before.Bytes/4 || after.Dropped == 0 {
		t.Fatalf("after SetLimits(%d): %d bytes, %d dropped; want at most the cap and drops counted", before.Bytes/4, after.Bytes, after.Dropped)
	}
	rs, err := o.Peek(0, 1, nil)
	if err != nil || len(rs) != 1 || rs[0].Seq <= 1 {
		t.Fatalf("oldest left %+v (%v): the oldest readings must go first", rs, err)
	}
	if b, a := o.Limits(); b != before.Bytes/4 || a != DefaultMaxAge {
		t.Errorf("Limits() = %d, %s", b, a)
	}
}
