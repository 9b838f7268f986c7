package deadletter

import (
	"context"
	"fmt"
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

// TestStatsPerRoute: entries are counted per route as they are put,
// dropped by the cap, dropped by an operator and replayed; the kept count
// per route is read back from the file at Open, the others start at 0;
// past MaxRouteNames routes the rest are summed under OtherRoute.
func TestStatsPerRoute(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.db")
	s, err := Open(Config{Path: path, MaxEntries: 4})
	if err != nil {
		t.Fatal(err)
	}
	put := func(route string) {
		t.Helper()
		if err := s.Put(context.Background(), Entry{Route: route, Reason: "refused", Reading: reading.Reading{Device: "d", Metric: "m"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []string{"cloud", "historian", "cloud", "scada", "cloud"} { // the first cloud entry is dropped by the cap
		put(r)
	}
	st := s.Stats()
	if fmt.Sprint(st.AddedByRoute) != "map[cloud:3 historian:1 scada:1]" || fmt.Sprint(st.CountByRoute) != "map[cloud:2 historian:1 scada:1]" || st.Dropped != 1 {
		t.Fatalf("after 5 puts with a cap of 4: added %v, kept %v, dropped %d", st.AddedByRoute, st.CountByRoute, st.Dropped)
	}
	if _, err := s.Drop(Selection{IDs: []uint64{2}}); err != nil { // historian's
		t.Fatal(err)
	}
	if _, err := s.Replay(context.Background(), Selection{IDs: []uint64{3}}, func(context.Context, []reading.Reading) error { return nil }); err != nil { // a cloud one
		t.Fatal(err)
	}
	if st = s.Stats(); fmt.Sprint(st.CountByRoute) != "map[cloud:1 scada:1]" || st.Removed != 1 || st.Replayed != 1 || st.Count != 2 {
		t.Fatalf("after a drop and a replay: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(Config{Path: path, MaxEntries: 1000}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st = s.Stats(); fmt.Sprint(st.CountByRoute) != "map[cloud:1 scada:1]" || len(st.AddedByRoute) != 0 || st.Count != 2 {
		t.Fatalf("after reopen: %+v, want the kept counts back and nothing added", st)
	}
	for i := range MaxRouteNames + 10 {
		put(fmt.Sprintf("r%03d", i))
	}
	put("r000")
	st = s.Stats()
	if len(st.AddedByRoute) != MaxRouteNames+1 || st.AddedByRoute[OtherRoute] != 10 || st.AddedByRoute["r000"] != 2 {
		t.Errorf("added by route past the bound: %d names, %d under %s, r000 %d", len(st.AddedByRoute), st.AddedByRoute[OtherRoute], OtherRoute, st.AddedByRoute["r000"])
	}
	total := 0
	for _, n := range st.CountByRoute {
		total += n
	}
	if len(st.CountByRoute) != MaxRouteNames+1 || total != st.Count || st.CountByRoute["r000"] != 2 {
		t.Errorf("kept by route past the bound: %d names, total %d, count %d, r000 %d", len(st.CountByRoute), total, st.Count, st.CountByRoute["r000"])
	}
}
