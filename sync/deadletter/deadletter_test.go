package deadletter

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/edged-gateway/edged/reading"
)

// TestPutListCapReopen: entries survive a reopen, oldest first; past the
// cap the oldest are dropped and counted.
func TestPutListCapReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.db")
	s, err := Open(Config{Path: path, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		e := Entry{Route: "cloud", Reason: "refused", Attempts: 3, Reading: reading.Reading{Device: "d", Metric: "m", Seq: uint64(i)}}
		if err := s.Put(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Count != 3 || st.Added != 5 || st.Dropped != 2 {
		t.Errorf("stats %+v, want count 3, added 5, dropped 2", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Config{Path: path, MaxEntries: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	es, err := s.List(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 3 || es[0].Reading.Seq != 3 || es[2].Reading.Seq != 5 || es[0].Reason != "refused" || es[0].Attempts != 3 || es[0].Route != "cloud" {
		t.Errorf("after reopen: %+v, want seqs 3..5 with route, reason and attempts", es)
	}
	if s.Stats().Count != 3 {
		t.Errorf("count after reopen %d, want 3", s.Stats().Count)
	}
}
