package outbox

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// recordLen is the stored size (key + value) of a mkReadings reading.
func recordLen() int64 {
	r := mkReadings(1, 0)[0]
	return int64(keyLen + encodedLen(&r))
}

func TestByteCap(t *testing.T) {
	per := recordLen()
	for _, tc := range []struct {
		name        string
		calls, n    int
		capReadings int64
		wantFirst   uint64
		wantDepth   int64
	}{
		{"under the cap", 1, 10, 10, 1, 10},
		{"one call over the cap", 1, 15, 10, 6, 10},
		{"many calls over the cap", 5, 7, 10, 26, 10},
		{"cap below one reading drops everything", 1, 3, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			maxBytes := tc.capReadings*per + per/2
			o := openTest(t, Config{Path: path, MaxBytes: maxBytes})
			for c := range tc.calls {
				if err := o.Append(context.Background(), mkReadings(tc.n, float64(c*tc.n))); err != nil {
					t.Fatal(err)
				}
			}
			total := uint64(tc.calls * tc.n)
			wantDropped := total - uint64(tc.wantDepth)
			check := func(o *Outbox, when string) {
				st := o.Stats()
				if st.Depth != tc.wantDepth || st.Bytes != tc.wantDepth*per || st.Dropped != wantDropped || st.Bytes > maxBytes {
					t.Errorf("%s: depth %d bytes %d dropped %d, want %d %d %d", when, st.Depth, st.Bytes, st.Dropped,
						tc.wantDepth, tc.wantDepth*per, wantDropped)
				}
				all := peekAll(t, o)
				if tc.wantDepth > 0 && (len(all) == 0 || all[0].Seq != tc.wantFirst || all[len(all)-1].Seq != total) {
					t.Errorf("%s: stored seqs %v, want %d..%d (the oldest are dropped)", when, seqsOf(all), tc.wantFirst, total)
				}
			}
			check(o, "open")
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			check(openTest(t, Config{Path: path, MaxBytes: maxBytes}), "after reopen")
		})
	}
}

func TestAgeCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	var now atomic.Int64
	now.Store(testNow.UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	cfg := Config{Path: path, MaxAge: time.Hour, Now: clock}
	o := openTest(t, cfg)

	old := mkReadings(5, 0) // at testNow+0..4ms
	if err := o.Append(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	now.Store(testNow.Add(time.Hour + 2*time.Millisecond + time.Microsecond).UnixNano())
	fresh := mkReadings(2, 100)
	for i := range fresh {
		fresh[i].Time = clock()
	}
	if err := o.Append(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
	// Readings at +0, +1 and +2ms are now older than an hour; +3 and +4 are not.
	if st := o.Stats(); st.Depth != 4 || st.Dropped != 3 || !st.Oldest.Equal(old[3].Time) {
		t.Errorf("after append: depth %d dropped %d oldest %v, want 4 3 %v", st.Depth, st.Dropped, st.Oldest, old[3].Time)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}

	// Open drops by age too, and Dropped survives the reopen.
	now.Store(testNow.Add(2 * time.Hour).UnixNano())
	o = openTest(t, cfg)
	if st := o.Stats(); st.Depth != 2 || st.Dropped != 5 {
		t.Errorf("after reopen: depth %d dropped %d, want 2 5", st.Depth, st.Dropped)
	}
	if got := seqsOf(peekAll(t, o)); len(got) != 2 || got[0] != 6 {
		t.Errorf("stored %v, want [6 7]", got)
	}
}

func TestDropsAreLogged(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	o := openTest(t, Config{MaxBytes: recordLen(), Logger: log})
	for range 3 {
		if err := o.Append(context.Background(), mkReadings(4, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	out := buf.String()
	if n := strings.Count(out, "dropped readings"); n != 2 {
		// The first drop logs at once, the rest is rate-limited and
		// flushed at Close.
		t.Errorf("%d drop warnings, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "dropped_total=11") {
		t.Errorf("last warning does not carry the total:\n%s", out)
	}
	if !strings.Contains(out, "devices=dev ") {
		t.Errorf("the warning does not name the device dropped:\n%s", out)
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestUndecodableRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openTest(t, Config{Path: path})
	if err := o.Append(context.Background(), mkReadings(4, 0)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	// Damage the value of seq 2 behind the outbox's back.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketReadings)).Put([]byte{0, 0, 0, 0, 0, 0, 0, 2}, []byte{codecVersion, 1, 2})
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}

	o = openTest(t, Config{Path: path})
	if got := seqsOf(peekAll(t, o)); len(got) != 3 || got[0] != 1 || got[1] != 3 {
		t.Errorf("Peek returned %v, want [1 3 4]: the damaged record is skipped", got)
	}
	if st := o.Stats(); st.Undecodable != 1 || st.Depth != 4 {
		t.Errorf("undecodable %d depth %d, want 1 4", st.Undecodable, st.Depth)
	}
	// Once it reaches the front, the next commit drops it.
	if err := o.Ack(context.Background(), []uint64{1}); err != nil {
		t.Fatal(err)
	}
	if err := o.Append(context.Background(), mkReadings(1, 10)); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Depth != 3 || st.Dropped != 1 {
		t.Errorf("depth %d dropped %d, want 3 1", st.Depth, st.Dropped)
	}
}

// TestWouldDropCountsWithoutDropping: the count a plan reports before its
// caps apply, and nothing dropped by asking.
func TestWouldDropCountsWithoutDropping(t *testing.T) {
	o := openTest(t, Config{})
	if err := o.Append(context.Background(), mkReadings(1000, 0)); err != nil {
		t.Fatal(err)
	}
	per := o.Stats().Bytes / 1000
	for _, tc := range []struct {
		bytes int64
		age   time.Duration
		want  int64
	}{
		{0, 0, 0},
		{per * 400, 0, 600},
		{0, time.Hour, 0},
	} {
		n, err := o.WouldDrop(tc.bytes, tc.age)
		if err != nil || n != tc.want {
			t.Errorf("WouldDrop(%d, %s) = %d, %v; want %d", tc.bytes, tc.age, n, err, tc.want)
		}
	}
	if st := o.Stats(); st.Depth != 1000 || st.Dropped != 0 {
		t.Fatalf("asking dropped readings: %+v", st)
	}
	o.SetLimits(per*400, 0)
	if err := o.Append(context.Background(), mkReadings(1, 2000)); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Dropped != 601 && st.Dropped != 600 {
		t.Errorf("the cap then dropped %d, WouldDrop said 600 (+1 for the reading appended)", st.Dropped)
	}
}
