package routes_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/routes"
	"github.com/edged-gateway/edged/sync/outbox"
)

// TestCloudRoutePassesOverLocalReadingsWhileAServiceStillHoldsThem: with
// the real log, a route whose policy keeps raw readings local reads only
// the others and passes over the rest, acking them on its cursor; the log
// keeps them as long as another consumer (a service's cursor) has not
// passed them, and deletes them once it has.
func TestCloudRoutePassesOverLocalReadingsWhileAServiceStillHoldsThem(t *testing.T) {
	ob, err := outbox.Open(outbox.Config{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	ctx := context.Background()
	if err := ob.SetCursors(ctx, []outbox.CursorSpec{{Name: "route:cloud"}, {Name: "service:stats"}}); err != nil {
		t.Fatal(err)
	}
	var rs []reading.Reading
	for i := range 3000 {
		dev := "raw"
		if i%100 == 99 {
			dev = "agg"
		}
		rs = append(rs, reading.Reading{Device: dev, Metric: "m", Value: float64(i), Time: time.Now()})
	}
	if err := ob.Append(ctx, rs); err != nil {
		t.Fatal(err)
	}
	cloud, err := ob.Cursor("route:cloud")
	if err != nil {
		t.Fatal(err)
	}
	policy := &routes.Policy{Only: []string{"agg/#"}}
	s := routes.NewStore(cloud, func(r *reading.Reading) bool { return !policy.Keeps(r) })
	var got []reading.Reading
	var after uint64
	for {
		page, err := s.Peek(after, 64, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].Seq
		seqs := make([]uint64, len(page))
		for i := range page {
			seqs[i] = page[i].Seq
		}
		if err := s.Ack(ctx, seqs); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 30 || got[0].Device != "agg" {
		t.Fatalf("the cloud route read %d readings, want the 30 agg ones", len(got))
	}
	if lag := cloud.Lag(); lag != 0 {
		t.Fatalf("the cloud cursor lags by %d after reading everything, want 0 (passed-over readings acked)", lag)
	}
	if st := ob.Stats(); st.Depth != 3000 {
		t.Fatalf("depth %d while the service has read nothing, want 3000 kept", st.Depth)
	}
	svc, err := ob.Cursor("service:stats")
	if err != nil {
		t.Fatal(err)
	}
	all, err := svc.Peek(0, 5000, nil)
	if err != nil || len(all) != 3000 {
		t.Fatalf("the service reads %d readings (%v), want 3000", len(all), err)
	}
	seqs := make([]uint64, len(all))
	for i := range all {
		seqs[i] = all[i].Seq
	}
	if err := svc.Ack(ctx, seqs); err != nil {
		t.Fatal(err)
	}
	if st := ob.Stats(); st.Depth != 0 || st.Dropped != 0 {
		t.Fatalf("after every cursor passed: depth %d dropped %d, want 0 and 0", st.Depth, st.Dropped)
	}
}
