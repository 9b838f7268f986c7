package forwarder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// reasonBox is a DeadLetters that keeps the reasons.
type reasonBox struct {
	mu      sync.Mutex
	reasons map[uint64]string
	tries   map[uint64]int
}

func newReasonBox() *reasonBox {
	return &reasonBox{reasons: map[uint64]string{}, tries: map[uint64]int{}}
}

func (b *reasonBox) DeadLetter(_ context.Context, r reading.Reading, reason string, attempts int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reasons[r.Seq] = reason
	b.tries[r.Seq] = attempts
	return nil
}

func (b *reasonBox) snapshot() map[uint64]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[uint64]string{}
	for k, v := range b.reasons {
		out[k] = v
	}
	return out
}

// waitFor polls cond (the hang guard is the only deadline).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func startForwarder(t *testing.T, cfg Config, store Store, link Link) (*Forwarder, func()) {
	t.Helper()
	if cfg.Topic == nil && cfg.TopicPrefix == "" {
		cfg.TopicPrefix, cfg.GatewayID = "edged", "gw-01"
	}
	if cfg.Backoff.Initial == 0 {
		cfg.Backoff = Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}
	}
	f, err := New(cfg, store, link)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	return f, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func withBroker(t *testing.T, link *fakeLink) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { link.broker(stop) })
	t.Cleanup(func() { close(stop); wg.Wait() })
}

func carries(rs []wire, seq uint64) bool {
	for _, r := range rs {
		if r.Seq == seq {
			return true
		}
	}
	return false
}

// TestPermanentRefusalDeadLettersAtOnce: with ClassifyFailures, a message
// refused for good is split and its one bad reading dead-lettered on its
// first refusal alone (MaxAttempts is high), named as permanent; the rest
// is delivered.
func TestPermanentRefusalDeadLettersAtOnce(t *testing.T) {
	const poison = 37
	store, dead := newStore(), newReasonBox()
	for range 30 {
		store.add("a", 1)
		store.add("b", 1)
	}
	link := &fakeLink{failWith: func(rs []wire) error {
		if carries(rs, poison) {
			return Permanent(errors.New("413 payload too large"))
		}
		return nil
	}}
	withBroker(t, link)
	f, stop := startForwarder(t, Config{Route: "historian", Batch: 8, Inflight: 4, DeadLetters: dead, MaxAttempts: 1000, ClassifyFailures: true}, store, link)
	waitFor(t, "the outbox to drain", func() bool { return store.depth() == 0 })
	stop()
	got := dead.snapshot()
	if len(got) != 1 || !strings.HasPrefix(got[poison], "permanent: ") || !strings.Contains(got[poison], "413") {
		t.Fatalf("dead letters %v, want only seq %d with a permanent reason", got, poison)
	}
	if dead.tries[poison] != 1 {
		t.Errorf("seq %d dead-lettered after %d attempts alone, want 1", poison, dead.tries[poison])
	}
	checkDeliveryExcept(t, link, 60, poison)
	if st := f.Stats(); st.Route != "historian" || st.DeadLettered != 1 {
		t.Errorf("stats %+v, want route historian and 1 dead-lettered", st)
	}
}

// TestTransientFailuresNeverDeadLetter: with ClassifyFailures and
// MaxAttempts 1, a destination that fails every message for a while with a
// transient error (a 500, say) loses nothing to the dead letters: all is
// delivered once it recovers. Without ClassifyFailures the same run
// dead-letters (the old semantics, kept for the cloud route).
func TestTransientFailuresNeverDeadLetter(t *testing.T) {
	for _, classify := range []bool{true, false} {
		t.Run(fmt.Sprintf("classify=%v", classify), func(t *testing.T) {
			store, dead := newStore(), newReasonBox()
			store.add("a", 20)
			store.add("b", 20)
			var mu sync.Mutex
			fails := 0
			link := &fakeLink{failWith: func(rs []wire) error {
				mu.Lock()
				defer mu.Unlock()
				if fails < 30 {
					fails++
					return errors.New("500 internal server error")
				}
				return nil
			}}
			withBroker(t, link)
			_, stop := startForwarder(t, Config{Batch: 4, Inflight: 4, DeadLetters: dead, MaxAttempts: 1, ClassifyFailures: classify}, store, link)
			waitFor(t, "the outbox to drain", func() bool { return store.depth() == 0 })
			stop()
			got := dead.snapshot()
			if classify {
				if len(got) != 0 {
					t.Fatalf("transient failures dead-lettered %v", got)
				}
				checkDelivery(t, link, 40, 4, true)
			} else if len(got) == 0 {
				t.Fatalf("without ClassifyFailures, MaxAttempts 1 should dead-letter on a failure alone")
			}
		})
	}
}

// checkDeliveryExcept: every seq in 1..n but skip arrived, each device's
// first arrivals in seq order.
func checkDeliveryExcept(t *testing.T, link *fakeLink, n int, skip uint64) {
	t.Helper()
	link.mu.Lock()
	defer link.mu.Unlock()
	seen := map[uint64]bool{}
	last := map[string]uint64{}
	for _, m := range link.received {
		for _, r := range m.rs {
			if r.Seq == skip {
				t.Fatalf("seq %d was received", skip)
			}
			if !seen[r.Seq] && r.Seq < last[r.Device] {
				t.Fatalf("device %s: seq %d first arrived after %d", r.Device, r.Seq, last[r.Device])
			}
			seen[r.Seq] = true
			last[r.Device] = max(last[r.Device], r.Seq)
		}
	}
	for s := uint64(1); s <= uint64(n); s++ {
		if s != skip && !seen[s] {
			t.Fatalf("seq %d never delivered", s)
		}
	}
}

// TestTTLDeadLettersStaleReadings: readings older than TTL when about to be
// sent go to the dead letters with reason "ttl" and are acked; the fresh
// ones are delivered.
func TestTTLDeadLettersStaleReadings(t *testing.T) {
	store, dead := newStore(), newReasonBox()
	now := time.Now()
	store.mu.Lock()
	for i := 1; i <= 20; i++ {
		ts := now
		if i%4 == 0 {
			ts = now.Add(-2 * time.Hour)
		}
		store.rs = append(store.rs, reading.Reading{Device: "a", Metric: "m", Value: float64(i), Time: ts, Seq: uint64(i)})
	}
	store.next = 21
	store.mu.Unlock()
	link := &fakeLink{}
	withBroker(t, link)
	f, stop := startForwarder(t, Config{Batch: 3, Inflight: 2, DeadLetters: dead, TTL: time.Hour}, store, link)
	waitFor(t, "the outbox to drain", func() bool { return store.depth() == 0 })
	stop()
	got := dead.snapshot()
	if len(got) != 5 {
		t.Fatalf("dead letters %v, want the 5 stale readings", got)
	}
	for seq, reason := range got {
		if seq%4 != 0 || !strings.HasPrefix(reason, "ttl: ") {
			t.Errorf("seq %d dead-lettered with %q", seq, reason)
		}
	}
	link.mu.Lock()
	for _, m := range link.received {
		for _, r := range m.rs {
			if r.Seq%4 == 0 {
				t.Errorf("stale seq %d was sent", r.Seq)
			}
		}
	}
	link.mu.Unlock()
	if st := f.Stats(); st.Expired != 5 {
		t.Errorf("Expired %d, want 5", st.Expired)
	}
}

// TestTopicAndEncodeFuncs: a route with its own topic and payload format
// needs no topic prefix or gateway id.
func TestTopicAndEncodeFuncs(t *testing.T) {
	store := newStore()
	store.add("boiler", 3)
	link := &recLink{}
	cfg := Config{
		Topic: func(dev string) string { return "site/" + dev },
		Encode: func(dst []byte, epoch string, rs []reading.Reading) []byte {
			for _, r := range rs {
				dst = fmt.Appendf(dst, "%s=%d;", r.Device, r.Seq)
			}
			return dst
		},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate with Topic set: %v", err)
	}
	_, stop := startForwarder(t, cfg, store, link)
	waitFor(t, "the outbox to drain", func() bool { return store.depth() == 0 })
	stop()
	link.mu.Lock()
	defer link.mu.Unlock()
	if got := strings.Join(link.msgs, " "); got != "site/boiler:boiler=1;boiler=2;boiler=3;" {
		t.Fatalf("published %q", got)
	}
}

// recLink acknowledges every publish at once and records topic:payload.
type recLink struct {
	mu   sync.Mutex
	msgs []string
}

func (l *recLink) WaitConnected(ctx context.Context) (uint64, error) { return 1, ctx.Err() }
func (l *recLink) Publish(topic string, payload []byte) (Delivery, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, topic+":"+string(payload))
	d := &delivery{done: make(chan struct{})}
	close(d.done)
	return d, nil
}

func TestPermanentAndRetryAfterWrap(t *testing.T) {
	base := errors.New("refused")
	p := fmt.Errorf("route x: %w", Permanent(base))
	if !IsPermanent(p) || !errors.Is(p, base) || p.Error() != "route x: refused" {
		t.Fatalf("Permanent lost something: %v", p)
	}
	if IsPermanent(base) || IsPermanent(nil) || Permanent(nil) != nil {
		t.Fatal("IsPermanent of a plain error")
	}
	r := fmt.Errorf("x: %w", RetryAfter(base, 3*time.Second))
	if retryAfter(r) != 3*time.Second || !errors.Is(r, base) || IsPermanent(r) {
		t.Fatalf("RetryAfter: %v", r)
	}
}

func TestBackoffGrowsCapsHonoursHintAndResets(t *testing.T) {
	b := backoff{cfg: Backoff{Initial: 100 * time.Millisecond, Max: time.Second}}
	hi := 100 * time.Millisecond
	for i := 0; i < 8; i++ {
		d := b.wait(0)
		if d < hi/2 || d > hi {
			t.Fatalf("wait %d is %s, want within [%s, %s]", i, d, hi/2, hi)
		}
		hi = min(2*hi, time.Second)
	}
	if d := b.wait(5 * time.Second); d != time.Second {
		t.Fatalf("a 5s retry-after gave %s, want it capped at Max 1s", d)
	}
	b.reset()
	if d := b.wait(0); d > 100*time.Millisecond {
		t.Fatalf("after reset the wait is %s", d)
	}
	f, err := New(Config{TopicPrefix: "p", GatewayID: "g", RetryDelay: 7 * time.Millisecond}, newStore(), &recLink{})
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.Backoff != (Backoff{Initial: 7 * time.Millisecond, Max: 30 * time.Second}) {
		t.Fatalf("RetryDelay did not become Backoff.Initial: %+v", f.cfg.Backoff)
	}
}

// holdLink records publishes and acknowledges each only when the test
// says so.
type holdLink struct {
	mu     sync.Mutex
	topics []string
	open   []*delivery
}

func (l *holdLink) WaitConnected(ctx context.Context) (uint64, error) { return 1, ctx.Err() }
func (l *holdLink) Publish(topic string, payload []byte) (Delivery, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.topics = append(l.topics, topic)
	d := &delivery{done: make(chan struct{})}
	l.open = append(l.open, d)
	return d, nil
}

func (l *holdLink) published() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.topics)
}

func (l *holdLink) ackOldest() {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.open[0].done)
	l.open = l.open[1:]
}

// TestSharedLinkGivesSlotsByPriority: two routes on one link with one slot
// between them. The low-priority route starts first and holds the slot;
// once the high-priority route competes, it gets every slot until its
// backlog is gone, although the low one asked first.
func TestSharedLinkGivesSlotsByPriority(t *testing.T) {
	link := &holdLink{}
	shared := NewShared(link, 1)
	lo, hi := newStore(), newStore()
	lo.add("x", 5)
	hi.add("x", 5)
	route := func(name string) Config {
		return Config{Route: name, Batch: 1, Inflight: 4, Topic: func(string) string { return name }}
	}
	_, stopLo := startForwarder(t, route("lo"), lo, shared.Route(5))
	defer stopLo()
	waitFor(t, "lo's first publish and its wait for the next slot", func() bool { return link.published() == 1 && shared.Waiting() == 1 })
	_, stopHi := startForwarder(t, route("hi"), hi, shared.Route(0))
	defer stopHi()
	waitFor(t, "hi to wait for a slot", func() bool { return shared.Waiting() == 2 })
	for n := 1; n < 10; n++ {
		link.mu.Lock()
		hiLeft := 5 - strings.Count(strings.Join(link.topics, " "), "hi")
		link.mu.Unlock()
		if hiLeft > 0 {
			waitFor(t, "both routes to wait", func() bool { return shared.Waiting() == 2 })
		}
		link.ackOldest()
		waitFor(t, fmt.Sprintf("publish %d", n+1), func() bool { return link.published() == n+1 })
	}
	link.ackOldest()
	waitFor(t, "both outboxes to drain", func() bool { return lo.depth() == 0 && hi.depth() == 0 })
	link.mu.Lock()
	got := strings.Join(link.topics, " ")
	link.mu.Unlock()
	if want := "lo hi hi hi hi hi lo lo lo lo"; got != want {
		t.Fatalf("publish order %q, want %q", got, want)
	}
	if shared.InUse() != 0 {
		t.Fatalf("%d slots still held", shared.InUse())
	}
}

// TestSharedRouteStopsWhileWaitingForASlot: a route waiting for a slot
// that never frees still stops when its context ends, and leaves no
// waiter behind.
func TestSharedRouteStopsWhileWaitingForASlot(t *testing.T) {
	link := &holdLink{}
	shared := NewShared(link, 1)
	store := newStore()
	store.add("x", 3)
	_, stop := startForwarder(t, Config{Batch: 1, DrainTimeout: time.Millisecond, Topic: func(string) string { return "t" }}, store, shared.Route(1))
	waitFor(t, "the route to wait for a second slot", func() bool { return link.published() == 1 && shared.Waiting() == 1 })
	stop() // returns: Run's wait for the slot watches its context
	if shared.Waiting() != 0 {
		t.Fatalf("%d waiters left after the route stopped", shared.Waiting())
	}
	link.ackOldest()
	waitFor(t, "the slot to be given back", func() bool { return shared.InUse() == 0 })
}

// TestSharedPoisonProbeDoesNotHurtTheOtherRoute: two routes share one link
// whose broker drops the connection on route A's poison readings (every
// tenth; as mosquitto does over max_packet_size), failures unclassified.
// A's poison is dead-lettered; route B, with MaxAttempts 1, loses nothing: a probe
// holds the whole shared window, so a drop caused by one route's probe
// never fails (and counts against) the other route's readings.
func TestSharedPoisonProbeDoesNotHurtTheOtherRoute(t *testing.T) {
	link := &fakeLink{refuse: func(rs []wire) bool {
		for _, r := range rs {
			if r.Device[0] == 'a' && r.Seq%10 == 0 {
				return true
			}
		}
		return false
	}}
	withBroker(t, link)
	shared := NewShared(link, 8)
	a, b := newStore(), newStore()
	for range 100 {
		a.add("a1", 1)
		a.add("a2", 1)
		b.add("b1", 1)
		b.add("b2", 1)
	}
	deadA, deadB := newReasonBox(), newReasonBox()
	_, stopA := startForwarder(t, Config{Route: "a", Batch: 4, Inflight: 4, DeadLetters: deadA, MaxAttempts: 3}, a, shared.Route(0))
	defer stopA()
	_, stopB := startForwarder(t, Config{Route: "b", Batch: 4, Inflight: 4, DeadLetters: deadB, MaxAttempts: 1}, b, shared.Route(0))
	defer stopB()
	waitFor(t, "both outboxes to drain", func() bool { return a.depth() == 0 && b.depth() == 0 })
	for seq := range deadA.snapshot() {
		if seq%10 != 0 {
			t.Errorf("route a dead-lettered seq %d, not a poison", seq)
		}
	}
	if n := len(deadA.snapshot()); n != 20 {
		t.Errorf("route a dead-lettered %d readings, want its 20 poisons", n)
	}
	if got := deadB.snapshot(); len(got) != 0 {
		t.Errorf("route b dead-lettered %v because of route a's poison", got)
	}
}
