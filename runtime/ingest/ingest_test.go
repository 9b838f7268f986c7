package ingest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/edged-gateway/edged/reading"
)

// seqSink numbers readings like the outbox does and refuses any reading
// whose metric is "bad" (all or nothing per append).
type seqSink struct {
	mu      sync.Mutex
	next    uint64
	stored  []reading.Reading
	appends int
	gate    chan struct{} // when set, each append waits for a value
	entered chan struct{} // when set, each append says it started
}

func (s *seqSink) Append(_ context.Context, rs []reading.Reading) error {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appends++
	for _, r := range rs {
		if r.Metric == "bad" {
			return errors.New("invalid reading")
		}
	}
	for i := range rs {
		s.next++
		rs[i].Seq = s.next
		s.stored = append(s.stored, rs[i])
	}
	return nil
}

func rd(dev string, v float64) []reading.Reading {
	return []reading.Reading{{Device: dev, Metric: "m", Value: v}}
}

func TestSubmitStoresInOrderAndSetsSeqs(t *testing.T) {
	sink := &seqSink{}
	g := New(sink, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	const n = 500
	var wg sync.WaitGroup
	subs := make([][]reading.Reading, n)
	errs := make([]error, n)
	for i := range n {
		subs[i] = rd("d", float64(i))
		wg.Add(1)
		g.Submit(ctx, subs[i], true, func(err error) { errs[i] = err; wg.Done() })
	}
	wg.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("submission %d: %v", i, errs[i])
		}
		if subs[i][0].Seq != uint64(i+1) {
			t.Fatalf("submission %d got seq %d, want %d (order kept, seq copied back)", i, subs[i][0].Seq, i+1)
		}
	}
	if sink.appends >= n {
		t.Errorf("%d appends for %d submissions: nothing was gathered", sink.appends, n)
	}
	if st := g.Stats(); st.Stored != n || st.Submitted != n {
		t.Errorf("stats %+v, want %d stored", st, n)
	}
}

func TestOneBadSubmissionFailsAlone(t *testing.T) {
	sink := &seqSink{gate: make(chan struct{})}
	g := New(sink, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)

	results := make(chan [2]any, 3)
	submit := func(name string, rs []reading.Reading) {
		g.Submit(ctx, rs, true, func(err error) { results <- [2]any{name, err} })
	}
	submit("first", rd("d", 1))
	sink.gate <- struct{}{} // first append runs alone; the next two queue meanwhile
	submit("bad", []reading.Reading{{Device: "d", Metric: "bad"}})
	submit("good", rd("d", 2))
	close(sink.gate)
	got := map[any]error{}
	for range 3 {
		r := <-results
		err, _ := r[1].(error)
		got[r[0]] = err
	}
	if got["first"] != nil || got["good"] != nil {
		t.Errorf("good submissions failed: %v", got)
	}
	if got["bad"] == nil {
		t.Error("the bad submission was reported stored")
	}
	if st := g.Stats(); st.Failed != 1 || st.Stored != 2 {
		t.Errorf("stats %+v, want 1 failed, 2 stored", st)
	}
}

func TestFullQueueRefusesOrWaits(t *testing.T) {
	sink := &seqSink{gate: make(chan struct{}), entered: make(chan struct{}, 10)}
	g := New(sink, Config{Queue: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)

	stored := make(chan error, 3)
	g.Submit(ctx, rd("d", 1), true, func(err error) { stored <- err }) // taken by Run, blocked in Append
	<-sink.entered
	g.Submit(ctx, rd("d", 2), true, func(err error) { stored <- err }) // fills the queue
	var refused error
	g.Submit(ctx, rd("d", 3), false, func(err error) { refused = err })
	if !errors.Is(refused, ErrFull) {
		t.Fatalf("a QoS 0 style submit on a full queue got %v, want ErrFull", refused)
	}
	waited := make(chan struct{})
	go func() {
		g.Submit(ctx, rd("d", 4), true, func(err error) { stored <- err })
		close(waited)
	}()
	close(sink.gate)
	<-waited
	for range 3 {
		if err := <-stored; err != nil {
			t.Fatal(err)
		}
	}
	if st := g.Stats(); st.Full != 1 || st.Stored != 3 {
		t.Errorf("stats %+v, want 1 full and 3 stored", st)
	}
}

func TestStopStoresWhatIsQueued(t *testing.T) {
	sink := &seqSink{}
	g := New(sink, Config{})
	var results []error
	var mu sync.Mutex
	for i := range 10 {
		g.Submit(context.Background(), rd("d", float64(i)), true, func(err error) {
			mu.Lock()
			results = append(results, err)
			mu.Unlock()
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run sees a stopped context: it only drains
	if err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(sink.stored) != 10 || len(results) != 10 {
		t.Fatalf("stored %d, settled %d; want all 10 queued readings stored at stop", len(sink.stored), len(results))
	}
	var late error
	g.Submit(context.Background(), rd("d", 99), true, func(err error) { late = err })
	if !errors.Is(late, ErrStopped) {
		t.Errorf("submit after stop got %v, want ErrStopped", late)
	}
}
