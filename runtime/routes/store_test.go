package routes

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/edged-gateway/edged/reading"
)

// memCursor is a cursor over an in-memory log (the real one is
// sync/outbox's, tested there and end to end in cmd/edged).
type memCursor struct {
	mu    sync.Mutex
	log   []reading.Reading
	acked map[uint64]bool
	ch    chan struct{}
}

func newMemCursor(rs []reading.Reading) *memCursor {
	return &memCursor{log: rs, acked: map[uint64]bool{}, ch: make(chan struct{})}
}

func (c *memCursor) Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.log {
		if r.Seq > after && !c.acked[r.Seq] && len(dst) < n {
			dst = append(dst, r)
		}
	}
	return dst, nil
}

func (c *memCursor) Ack(_ context.Context, seqs []uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range seqs {
		c.acked[s] = true
	}
	return nil
}

func (c *memCursor) Changed() <-chan struct{} { return c.ch }

func (c *memCursor) ackedSeqs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint64
	for s := range c.acked {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func TestStorePassesOverAndAcksWhatTheRouteDoesNotWant(t *testing.T) {
	var rs []reading.Reading
	for i := range 10000 {
		dev := "raw"
		if i%1000 == 999 {
			dev = "agg"
		}
		rs = append(rs, reading.Reading{Seq: uint64(i + 1), Device: dev, Metric: "m"})
	}
	c := newMemCursor(rs)
	f := Filter{Match: []string{"agg/#"}}
	s := NewStore(c, func(r *reading.Reading) bool { return f.Wants(r) })
	var got []uint64
	var after uint64
	for {
		page, err := s.Peek(after, 64, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if r.Device != "agg" {
				t.Fatalf("the route was handed %+v", r)
			}
			got = append(got, r.Seq)
		}
		after = page[len(page)-1].Seq
		if err := s.Ack(context.Background(), seqsOf(page)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 10 {
		t.Fatalf("the route read %d readings, want the 10 agg ones", len(got))
	}
	// Every reading is done for this cursor: the delivered ones and the
	// passed-over ones, so the log need not keep them for this route.
	if a := c.ackedSeqs(); len(a) != 10000 {
		t.Fatalf("%d readings acked on the cursor, want all 10000", len(a))
	}
	if s.Passed() != 9990 {
		t.Errorf("passed %d, want 9990", s.Passed())
	}
}

func seqsOf(rs []reading.Reading) []uint64 {
	out := make([]uint64, len(rs))
	for i := range rs {
		out[i] = rs[i].Seq
	}
	return out
}

func TestFilter(t *testing.T) {
	sim := reading.Reading{Device: "porch", Metric: "temperature", Simulated: true}
	real := reading.Reading{Device: "porch", Metric: "temperature"}
	emit := reading.Reading{Device: "porch", Metric: "temperature_mean", Source: "stats"}
	cases := []struct {
		f    Filter
		r    reading.Reading
		want bool
	}{
		{Filter{}, sim, true},
		{Filter{Simulated: "exclude"}, sim, false},
		{Filter{Simulated: "exclude"}, real, true},
		{Filter{Simulated: "only"}, real, false},
		{Filter{Sources: []string{"devices"}}, real, true},
		{Filter{Sources: []string{"devices"}}, emit, false},
		{Filter{Sources: []string{"stats"}}, emit, true},
		{Filter{Match: []string{"porch/+"}, Exclude: []string{"+/temperature_mean"}}, emit, false},
		{Filter{Match: []string{"porch/+"}, Exclude: []string{"+/temperature_mean"}}, real, true},
		{Filter{Match: []string{"boiler/#"}}, real, false},
	}
	for i, c := range cases {
		if got := c.f.Wants(&c.r); got != c.want {
			t.Errorf("case %d: %+v wants %+v = %v, want %v", i, c.f, c.r, got, c.want)
		}
	}
	bad := Filter{Match: []string{"a/#/b"}, Sources: []string{""}, Simulated: "maybe"}
	if ps := bad.Check(); len(ps) != 3 {
		t.Fatalf("problems %+v, want 3", ps)
	}
}
