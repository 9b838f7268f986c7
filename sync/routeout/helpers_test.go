package routeout

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/forwarder"
	"github.com/edged-gateway/edged/sync/outbox"
)

// newOutbox opens a real outbox in the test's directory (fsync off: the
// durability is not what these tests check).
func newOutbox(t *testing.T) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.Open(outbox.Config{Path: filepath.Join(t.TempDir(), "outbox.db"), Fsync: new(false)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}

// fill appends n readings per device, interleaved, stamped now.
func fill(t *testing.T, ob *outbox.Outbox, n int, devices ...string) {
	t.Helper()
	var rs []reading.Reading
	now := time.Now()
	for i := range n {
		for _, d := range devices {
			rs = append(rs, reading.Reading{Device: d, Metric: "temperature", Unit: "C", Value: float64(i) + 0.5, Time: now.Add(time.Duration(i) * time.Millisecond)})
		}
	}
	if err := ob.Append(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond; the 60s hang guard is the only deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func drained(ob *outbox.Outbox) func() bool {
	return func() bool { return ob.Stats().Depth == 0 }
}

// runner is a link with its own Run (HTTP, MQTT).
type runner interface {
	forwarder.Link
	Run(ctx context.Context) error
}

// route runs link and a forwarder draining ob into it until the test ends.
func route(t *testing.T, cfg forwarder.Config, ob *outbox.Outbox, link runner) *forwarder.Forwarder {
	t.Helper()
	if cfg.Topic == nil {
		cfg.Topic = func(dev string) string { return "site/" + dev }
	}
	if cfg.Backoff.Initial == 0 {
		cfg.Backoff = forwarder.Backoff{Initial: 2 * time.Millisecond, Max: 50 * time.Millisecond}
	}
	cfg.Epoch = ob.Epoch()
	f, err := forwarder.New(cfg, ob, link)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { link.Run(ctx) })
	wg.Go(func() { f.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return f
}

// deadBox is an in-memory dead-letter bucket.
type deadBox struct {
	mu      sync.Mutex
	reasons map[uint64]string
}

func (b *deadBox) DeadLetter(_ context.Context, r reading.Reading, reason string, attempts int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.reasons == nil {
		b.reasons = map[uint64]string{}
	}
	b.reasons[r.Seq] = fmt.Sprintf("%s (attempts %d)", reason, attempts)
	return nil
}

func (b *deadBox) get() map[uint64]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[uint64]string{}
	for k, v := range b.reasons {
		out[k] = v
	}
	return out
}

// arrivals records what a destination received, per device in arrival
// order, and checks it.
type arrivals struct {
	mu   sync.Mutex
	seqs map[string][]uint64
}

func (a *arrivals) add(device string, seq uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.seqs == nil {
		a.seqs = map[string][]uint64{}
	}
	a.seqs[device] = append(a.seqs[device], seq)
}

// check: every seq in 1..n but skip arrived, each device's first arrivals
// in seq order (duplicates allowed after a failure).
func (a *arrivals) check(t *testing.T, n uint64, skip map[uint64]bool) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	seen := map[uint64]bool{}
	for dev, seqs := range a.seqs {
		var last uint64
		for _, s := range seqs {
			if skip[s] {
				t.Errorf("seq %d arrived although it was refused", s)
			}
			if seen[s] {
				continue
			}
			if s < last {
				t.Fatalf("device %s: seq %d first arrived after %d", dev, s, last)
			}
			seen[s], last = true, s
		}
	}
	for s := uint64(1); s <= n; s++ {
		if !seen[s] && !skip[s] {
			t.Fatalf("seq %d never arrived", s)
		}
	}
}
