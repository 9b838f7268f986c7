package orchestrator

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestExclusiveWaitsForTheApplyInProgress: an Exclusive change asked for
// while a plan switches runs only once that plan is applied, never beside
// it; one whose ctx ends while it waits does not run.
func TestExclusiveWaitsForTheApplyInProgress(t *testing.T) {
	f := newFixture(t)
	f.target.gate = make(chan struct{})
	open := sync.OnceFunc(func() { close(f.target.gate) })
	t.Cleanup(open) // before the fixture's: a failed test must not leave the switch waiting
	reply := f.o.Submit(f.signed(1, "{id: gw-01}"), SourceAPI)
	deadline := time.Now().Add(60 * time.Second) // hang guard only
	for f.o.Status().State != StateApplying {
		if time.Now().After(deadline) {
			t.Fatal("the plan never started applying")
		}
		time.Sleep(time.Millisecond)
	}

	// The plan's Switch waits on the gate: an Exclusive change cannot run.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	if err := f.o.Exclusive(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
		t.Fatalf("Exclusive with an ended ctx during an apply: %v, ran %v", err, ran)
	}
	seen := make(chan int64, 1)
	go f.o.Exclusive(t.Context(), func() { seen <- f.target.Current().(int64) })
	select {
	case v := <-seen: // it may not run before the switch ends
		t.Fatalf("the Exclusive change ran while plan 1 switched (running %d)", v)
	case <-time.After(200 * time.Millisecond): // a window for a wrong early run to show; a pass never waits on it
	}
	open()
	if v := <-seen; v != 1 {
		t.Fatalf("the Exclusive change ran while plan 1 switched (running %d)", v)
	}
	if st := <-reply; st.State != StateApplied {
		t.Fatalf("plan 1: %+v", st)
	}
}
