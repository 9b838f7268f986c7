package main

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/sync/outbox"
)

// TestLocalOnlyReadingsAreKept: the cloud policy (a plan's sync.metrics)
// decides what the forwarder reads, never what is kept: the readings that
// stay local are still in the outbox after the forwarder passed them, and a
// policy that lists them again (a plan rolled back) finds them.
func TestLocalOnlyReadingsAreKept(t *testing.T) {
	ob, err := outbox.Open(outbox.Config{Path: filepath.Join(t.TempDir(), "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	var rs []reading.Reading
	for i := range 3000 {
		dev := "raw"
		if i%100 == 99 {
			dev = "agg"
		}
		rs = append(rs, reading.Reading{Device: dev, Metric: "m", Value: float64(i), Time: time.Now()})
	}
	if err := ob.Append(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	var policy atomic.Pointer[cloudPolicy]
	policy.Store(&cloudPolicy{only: []string{"agg/#"}})
	s := localOnlyStore{Outbox: ob, policy: &policy, skip: &skipMemo{}}

	var after uint64
	var got []reading.Reading
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
	}
	if len(got) != 30 || got[0].Device != "agg" {
		t.Fatalf("the cloud read %d readings (first %+v), want the 30 agg ones", len(got), got[0])
	}
	if err := ob.Ack(context.Background(), seqsOf(got)); err != nil {
		t.Fatal(err)
	}
	if st := ob.Stats(); st.Depth != 2970 || st.Dropped != 0 {
		t.Fatalf("outbox after the forwarder passed: depth %d dropped %d, want the 2970 local readings kept", st.Depth, st.Dropped)
	}
	// Asked again from the same seq, nothing new: nothing.
	if page, _ := s.Peek(after, 64, nil); len(page) != 0 {
		t.Fatalf("Peek again returned %d readings", len(page))
	}
	// The policy goes back to "everything": the local backlog is there.
	policy.Store(&cloudPolicy{})
	page, err := s.Peek(0, 5000, nil)
	if err != nil || len(page) != 2970 {
		t.Fatalf("after the policy changed the cloud reads %d readings (%v), want 2970", len(page), err)
	}
}

func seqsOf(rs []reading.Reading) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}
