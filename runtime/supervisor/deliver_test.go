package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// emits collects services' emitted readings by service.
type emits struct {
	mu sync.Mutex
	by map[string][]reading.Reading
}

func (e *emits) on(service string, rs []reading.Reading) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.by == nil {
		e.by = map[string][]reading.Reading{}
	}
	e.by[service] = append(e.by[service], rs...)
}

func (e *emits) of(service string) []reading.Reading {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]reading.Reading(nil), e.by[service]...)
}

// gatedSpec is a service that holds its first batch until gate exists.
func gatedSpec(name, gate string) Spec {
	return Spec{Name: name, Command: func() *exec.Cmd { return exec.Command(gated) },
		Config: []byte(fmt.Sprintf(`{"gate":%q}`, gate)), Subscribe: []string{"#"},
		StartTimeout: 5 * time.Second, HealthEvery: time.Second, StopTimeout: 2 * time.Second}
}

// numbered is batch number b of size readings, each value unique.
func numbered(b, size int) []reading.Reading {
	rs := make([]reading.Reading, size)
	for i := range rs {
		n := b*size + i
		rs[i] = reading.Reading{Device: "d", Metric: "m", Value: float64(n), Seq: uint64(n + 1), Time: time.Unix(int64(n), 0)}
	}
	return rs
}

// TestDeliverSlowServiceWaitsOthersGetEverything: issue #16 items 2 and 5.
// A service that does not process makes Deliver to it wait (its feeder
// lags) while another service receives every batch; once the slow one goes
// on, it gets every reading too: none dropped on the feeder path.
func TestDeliverSlowServiceWaitsOthersGetEverything(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "open")
	var em emits
	s := run(t, Config{OnEmit: em.on}, gatedSpec("slow", gate), spec("fast", "passthrough"))
	waitFor(t, "running", func() bool {
		return status(s, "slow").State == StateRunning && status(s, "fast").State == StateRunning
	})
	const batches, size = 64, 4 // more than the SDK's window of 16 batches
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var slowSent sync.WaitGroup
	var slowMu sync.Mutex
	slowHanded, slowErr := 0, error(nil)
	slowSent.Add(1)
	go func() {
		defer slowSent.Done()
		for b := range batches {
			n, err := s.Deliver(ctx, "slow", numbered(b, size))
			slowMu.Lock()
			slowHanded += n
			if err != nil && slowErr == nil {
				slowErr = err
			}
			slowMu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	for b := range batches {
		n, err := s.Deliver(ctx, "fast", numbered(b, size))
		if err != nil || n != size {
			t.Fatalf("deliver batch %d to fast: %d, %v", b, n, err)
		}
	}
	waitFor(t, "fast's emits of every reading", func() bool { return len(em.of("fast")) == batches*size })
	slowMu.Lock()
	lagging := slowHanded
	slowMu.Unlock()
	if lagging >= batches*size {
		t.Fatalf("the slow service (holding its first batch) took all %d readings: Deliver did not wait", lagging)
	}
	if got := len(em.of("slow")); got != 0 {
		t.Fatalf("the slow service emitted %d readings before its gate opened", got)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	slowSent.Wait()
	if slowErr != nil || slowHanded != batches*size {
		t.Fatalf("slow: handed %d of %d, err %v", slowHanded, batches*size, slowErr)
	}
	waitFor(t, "slow's emits of every reading", func() bool { return len(em.of("slow")) == batches*size })
	seen := map[float64]bool{}
	for _, r := range em.of("slow") {
		seen[r.Value] = true
	}
	if len(seen) != batches*size {
		t.Fatalf("slow emitted %d distinct readings, want %d", len(seen), batches*size)
	}
	for _, name := range []string{"slow", "fast"} {
		if st := status(s, name); st.Dropped != 0 || st.Restarts != 0 {
			t.Errorf("%s: dropped %d batches, %d restarts; want none on the Deliver path", name, st.Dropped, st.Restarts)
		}
	}
}

// TestDeliverFiltersOwnEmitsAndDepthAndCarriesHops: issue #16 item 2. A
// service is never handed its own emits, readings at max_depth are refused
// (counted), and its emits are one hop deeper than its deepest input.
func TestDeliverFiltersOwnEmitsAndDepthAndCarriesHops(t *testing.T) {
	var em emits
	sp := spec("double", "double")
	sp.Subscribe = []string{"boiler/+"}
	s := run(t, Config{OnEmit: em.on, MaxDepth: 3}, sp)
	waitFor(t, "running", func() bool { return status(s, "double").State == StateRunning })
	ctx := context.Background()
	n, err := s.Deliver(ctx, "double", []reading.Reading{
		{Device: "boiler", Metric: "t", Value: 1, Source: "double", Hops: 1}, // its own emit
		{Device: "porch", Metric: "t", Value: 2},                             // not subscribed
		{Device: "boiler", Metric: "p", Value: 3, Hops: 3},                   // at max_depth
	})
	if err != nil || n != 0 {
		t.Fatalf("deliver of readings it must not get: handed %d, %v", n, err)
	}
	if st := status(s, "double"); st.TooDeep != 1 || s.TooDeep() != 1 {
		t.Fatalf("too_deep %d (supervisor %d), want 1", st.TooDeep, s.TooDeep())
	}
	n, err = s.Deliver(ctx, "double", []reading.Reading{
		{Device: "boiler", Metric: "t", Value: 10, Source: "other", Hops: 2},
		{Device: "boiler", Metric: "u", Value: 20},
	})
	if err != nil || n != 2 {
		t.Fatalf("deliver: handed %d, %v; want 2", n, err)
	}
	waitFor(t, "its emits", func() bool { return len(em.of("double")) == 2 })
	for _, r := range em.of("double") {
		if r.Source != "double" || r.Hops != 3 || (r.Value != 20 && r.Value != 40) {
			t.Fatalf("emitted %+v: want source double, hops 3 (one deeper than its input at 2), doubled values", r)
		}
	}
}

// TestDeliverWaitsThroughACrashAndEndsForAGoneService: a crashing service
// makes Deliver wait for its next run (nothing lost that did not reach a
// process); an unknown or removed service is ErrNoService, a cancelled ctx
// its error.
func TestDeliverWaitsThroughACrashAndEndsForAGoneService(t *testing.T) {
	crashy := spec("crashy", "crash_after")
	crashy.Config = []byte(`{"mode":"crash_after","n":2}`) // each run dies in its 2nd Process
	s := run(t, Config{Crashes: 100}, crashy, spec("keep", "passthrough"))
	ctx := context.Background()
	for b := range 5 {
		if n, err := s.Deliver(ctx, "crashy", numbered(b, 1)); err != nil || n != 1 {
			t.Fatalf("deliver batch %d: %d, %v", b, n, err)
		}
	}
	waitFor(t, "a restart", func() bool { return status(s, "crashy").Restarts > 0 })
	if _, err := s.Deliver(ctx, "nope", numbered(0, 1)); !errors.Is(err, ErrNoService) {
		t.Fatalf("deliver to an unknown service: %v, want ErrNoService", err)
	}
	// A Deliver waiting on a service that Apply removes ends with ErrNoService.
	gate := filepath.Join(t.TempDir(), "never")
	if _, err := s.Apply(ctx, []Spec{spec("keep", "passthrough"), gatedSpec("held", gate)}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		for b := 0; ; b++ {
			if _, err := s.Deliver(ctx, "held", numbered(b, 1)); err != nil {
				errc <- err
				return
			}
		}
	}()
	if _, err := s.Apply(ctx, []Spec{spec("keep", "passthrough")}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrNoService) {
			t.Fatalf("deliver to a removed service: %v, want ErrNoService", err)
		}
	case <-time.After(60 * time.Second): // hang guard
		t.Fatal("Deliver to a removed service never returned")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Deliver(cctx, "keep", numbered(0, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("deliver with a cancelled ctx: %v", err)
	}
}
