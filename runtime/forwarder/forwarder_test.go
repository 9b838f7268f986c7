package forwarder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// memStore is an in-memory Store with the outbox's contract.
type memStore struct {
	mu      sync.Mutex
	rs      []reading.Reading // ascending seq
	next    uint64
	changed chan struct{}
}

func newStore() *memStore { return &memStore{changed: make(chan struct{}), next: 1} }

func (m *memStore) add(device string, n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := 0; i < n; i++ {
		m.rs = append(m.rs, reading.Reading{Device: device, Metric: "m", Value: float64(m.next), Time: time.Unix(int64(m.next), 0), Seq: m.next})
		m.next++
	}
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *memStore) Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := sort.Search(len(m.rs), func(i int) bool { return m.rs[i].Seq > after })
	end := min(i+n, len(m.rs))
	return append(dst[:0], m.rs[i:end]...), nil
}

func (m *memStore) Ack(_ context.Context, seqs []uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	del := map[uint64]bool{}
	for _, s := range seqs {
		del[s] = true
	}
	kept := m.rs[:0]
	for _, r := range m.rs {
		if !del[r.Seq] {
			kept = append(kept, r)
		}
	}
	m.rs = kept
	return nil
}

func (m *memStore) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *memStore) depth() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rs)
}

// delivery is a Delivery the fake broker completes.
type delivery struct {
	done chan struct{}
	err  error
}

func (d *delivery) Done() <-chan struct{} { return d.done }
func (d *delivery) Err() error            { return d.err }

// fakeLink acknowledges publishes in order, like a broker on one
// connection. Every failEvery-th publish drops the connection: that and all
// outstanding deliveries fail and the link reconnects.
type fakeLink struct {
	mu          sync.Mutex
	epoch       uint64
	outstanding []*delivery
	maxOut      int
	publishes   int
	failEvery   int
	hold        bool // when set, nothing is acknowledged
	received    []received
	// refuse, when set, drops the connection on a message it matches (as
	// mosquitto does with one over max_packet_size).
	refuse func(rs []wire) bool
	// failWith, when set, fails a message it returns an error for, alone:
	// the connection stays (as an HTTP destination answers one request).
	failWith func(rs []wire) error
}

type received struct {
	topic string
	rs    []wire
}

func (l *fakeLink) WaitConnected(ctx context.Context) (uint64, error) {
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, nil
}

func (l *fakeLink) Publish(topic string, payload []byte) (Delivery, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.publishes++
	if l.failEvery > 0 && l.publishes%l.failEvery == 0 {
		for _, d := range l.outstanding {
			d.err = errors.New("connection lost before PUBACK")
			close(d.done)
		}
		l.outstanding = nil
		l.epoch++
		return nil, errNoLink
	}
	var rs []wire
	if err := json.Unmarshal(payload, &rs); err != nil {
		panic(fmt.Sprintf("payload is not JSON: %v", err))
	}
	if l.refuse != nil && l.refuse(rs) {
		d := &delivery{done: make(chan struct{}), err: errors.New("connection lost: oversize packet")}
		close(d.done)
		for _, o := range l.outstanding {
			o.err = errors.New("connection lost before PUBACK")
			close(o.done)
		}
		l.outstanding = nil
		l.epoch++
		return d, nil
	}
	if l.failWith != nil {
		if err := l.failWith(rs); err != nil {
			d := &delivery{done: make(chan struct{}), err: err}
			close(d.done)
			return d, nil
		}
	}
	l.received = append(l.received, received{topic, rs})
	d := &delivery{done: make(chan struct{})}
	l.outstanding = append(l.outstanding, d)
	l.maxOut = max(l.maxOut, len(l.outstanding))
	return d, nil
}

// ackOne acknowledges the oldest outstanding publish, if any, unless the
// broker is holding acknowledgements and force is not set.
func (l *fakeLink) ackOne(force bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if (l.hold && !force) || len(l.outstanding) == 0 {
		return false
	}
	close(l.outstanding[0].done)
	l.outstanding = l.outstanding[1:]
	return true
}

// broker acknowledges publishes until stop closes.
func (l *fakeLink) broker(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		if !l.ackOne(false) {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

var errNoLink = errors.New("not connected")

func runForwarder(t *testing.T, cfg Config, store *memStore, link *fakeLink) (stop func()) {
	t.Helper()
	cfg.TopicPrefix, cfg.GatewayID = "edged", "gw-01"
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = time.Millisecond
	}
	f, err := New(cfg, store, link)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	brokerStop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { link.broker(brokerStop) })
	done := make(chan error)
	go func() { done <- f.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		close(brokerStop)
		wg.Wait()
	}
}

// TestEveryMessageCarriesTheEpoch: Config.Epoch rides next to every seq.
func TestEveryMessageCarriesTheEpoch(t *testing.T) {
	store, link := newStore(), &fakeLink{}
	store.add("a", 50)
	store.add("b", 30)
	stop := runForwarder(t, Config{Batch: 16, Epoch: "00112233aabbccdd"}, store, link)
	waitEmpty(t, store)
	stop()
	link.mu.Lock()
	defer link.mu.Unlock()
	for _, m := range link.received {
		for _, r := range m.rs {
			if r.Epoch == nil || *r.Epoch != "00112233aabbccdd" {
				t.Fatalf("seq %d on %s arrived with epoch %v", r.Seq, m.topic, r.Epoch)
			}
		}
	}
}

func waitEmpty(t *testing.T, store *memStore) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // failure guard only
	for store.depth() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d readings", store.depth())
		}
		time.Sleep(time.Millisecond)
	}
}

// checkDelivery asserts every seq in 1..n arrived, each device's readings in
// seq order within and across messages (duplicates allowed only after a
// failure), messages hold one device and at most batch readings.
func checkDelivery(t *testing.T, link *fakeLink, n int, batch int, allowDups bool) {
	t.Helper()
	link.mu.Lock()
	defer link.mu.Unlock()
	seen := map[uint64]int{}
	for _, m := range link.received {
		if len(m.rs) == 0 || len(m.rs) > batch {
			t.Fatalf("message on %s holds %d readings, batch is %d", m.topic, len(m.rs), batch)
		}
		dev := m.rs[0].Device
		if m.topic != "edged/gw-01/telemetry/"+dev {
			t.Fatalf("topic %s for device %s", m.topic, dev)
		}
		for i, r := range m.rs {
			if r.Device != dev {
				t.Fatalf("message on %s mixes devices %s and %s", m.topic, dev, r.Device)
			}
			if i > 0 && r.Seq <= m.rs[i-1].Seq {
				t.Fatalf("seq %d after %d inside one message", r.Seq, m.rs[i-1].Seq)
			}
			seen[r.Seq]++
		}
	}
	for s := uint64(1); s <= uint64(n); s++ {
		if seen[s] == 0 {
			t.Fatalf("seq %d never delivered (gap)", s)
		}
		if seen[s] > 1 && !allowDups {
			t.Fatalf("seq %d delivered %d times without any failure", s, seen[s])
		}
	}
	// Per device, first deliveries appear in seq order.
	last := map[string]uint64{}
	first := map[uint64]bool{}
	for _, m := range link.received {
		for _, r := range m.rs {
			if first[r.Seq] {
				continue
			}
			first[r.Seq] = true
			if r.Seq < last[r.Device] {
				t.Fatalf("device %s: seq %d first delivered after %d", r.Device, r.Seq, last[r.Device])
			}
			last[r.Device] = r.Seq
		}
	}
}

func TestDeliversEverythingInOrderWithinTheWindow(t *testing.T) {
	for _, tc := range []struct{ batch, inflight int }{{1, 1}, {1, 32}, {64, 32}, {5, 3}} {
		t.Run(fmt.Sprintf("batch=%d,inflight=%d", tc.batch, tc.inflight), func(t *testing.T) {
			store, link := newStore(), &fakeLink{}
			for i := 0; i < 50; i++ { // interleaved devices
				store.add([]string{"a", "b", "c"}[i%3], 7)
			}
			stop := runForwarder(t, Config{Batch: tc.batch, Inflight: tc.inflight}, store, link)
			waitEmpty(t, store)
			store.add("late", 3) // arrives while idle: Changed must wake it
			waitEmpty(t, store)
			stop()
			checkDelivery(t, link, 353, tc.batch, false)
			if link.maxOut > tc.inflight {
				t.Fatalf("%d publishes outstanding at once, inflight is %d", link.maxOut, tc.inflight)
			}
		})
	}
}

func TestConnectionLossResendsFromOldestWithoutGaps(t *testing.T) {
	store, link := newStore(), &fakeLink{failEvery: 7}
	for i := 0; i < 40; i++ {
		store.add(fmt.Sprintf("dev%d", i%4), 25)
	}
	f := runForwarder(t, Config{Batch: 8, Inflight: 4}, store, link)
	waitEmpty(t, store)
	f()
	checkDelivery(t, link, 1000, 8, true)
}

func TestShutdownAcksWhatWasAcknowledgedAndKeepsTheRest(t *testing.T) {
	store, link := newStore(), &fakeLink{hold: true}
	store.add("a", 10)
	stop := runForwarder(t, Config{Batch: 2, Inflight: 3, DrainTimeout: 50 * time.Millisecond}, store, link)
	for {
		link.mu.Lock()
		n := len(link.outstanding)
		link.mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	link.ackOne(true) // one PUBACK arrives; the broker stays silent otherwise
	stop()
	if got := store.depth(); got != 8 {
		t.Fatalf("after shutdown the outbox holds %d readings, want 8 (2 acknowledged)", got)
	}
}

func TestTakeSendsEachDevicesOldestReadingsFirst(t *testing.T) {
	mk := func(devs string) []reading.Reading {
		var rs []reading.Reading
		for i, d := range strings.Split(devs, "") {
			rs = append(rs, reading.Reading{Device: d, Seq: uint64(i + 1)})
		}
		return rs
	}
	seqs := func(rs []reading.Reading) string {
		var out []uint64
		for _, r := range rs {
			out = append(out, r.Seq)
		}
		return fmt.Sprint(out)
	}
	tests := []struct {
		devs           string
		batch, maxMsgs int
		want, rest     string
	}{
		{"aaaa", 2, 10, "[1 2]", "[3 4]"},        // one message per device per round
		{"abab", 10, 10, "[1 3] [2 4]", "[]"},    // interleaved devices batch up
		{"abab", 10, 1, "[1 3]", "[2 4]"},        // one slot: the oldest device's readings
		{"abcabc", 1, 2, "[1] [2]", "[3 4 5 6]"}, // batch 1 keeps seq order
		{"aabba", 2, 2, "[1 2] [3 4]", "[5]"},    // a's third waits for a's next message
		{"", 4, 4, "", "[]"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d/%d", tc.devs, tc.batch, tc.maxMsgs), func(t *testing.T) {
			in := mk(tc.devs)
			msgs, rest := take(in, tc.batch, tc.maxMsgs)
			var parts []string
			for _, m := range msgs {
				parts = append(parts, seqs(m))
			}
			if got := strings.Join(parts, " "); got != tc.want || seqs(rest) != tc.rest {
				t.Fatalf("got %q rest %s, want %q rest %s", got, seqs(rest), tc.want, tc.rest)
			}
			// The rest is compacted in the input's own array (no copy
			// of the window per call): rest is a prefix of it.
			if len(rest) > 0 && &rest[0] != &in[0] {
				t.Fatalf("rest is not in the input's array")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{GatewayID: "g"}, `topic_prefix "" must be non-empty`},
		{Config{TopicPrefix: "a/#", GatewayID: "g"}, "free of MQTT wildcards"},
		{Config{TopicPrefix: "p", GatewayID: "a/b"}, `gateway id "a/b" must be non-empty and free of +, # and /`},
		{Config{TopicPrefix: "p", GatewayID: "g", Batch: -1}, "batch -1 must be between 1 and 10000"},
		{Config{TopicPrefix: "p", GatewayID: "g", Inflight: 70000}, "inflight 70000"},
		{Config{TopicPrefix: "p", GatewayID: "g", TTL: -time.Second}, "ttl -1s must be >= 0"},
		{Config{TopicPrefix: "p", GatewayID: "g", Backoff: Backoff{Initial: time.Minute, Max: time.Second}}, "backoff initial 1m0s is above backoff max 1s"},
		{Config{Topic: func(string) string { return "t" }, Backoff: Backoff{Max: -1}}, "backoff initial 0s and max -1ns must be >= 0"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// deadBox is an in-memory DeadLetters.
type deadBox struct {
	mu  sync.Mutex
	got map[uint64]int // seq → attempts
}

func (b *deadBox) DeadLetter(_ context.Context, r reading.Reading, reason string, attempts int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if reason == "" {
		return errors.New("no reason")
	}
	b.got[r.Seq] = attempts
	return nil
}

func (b *deadBox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}

// TestPoisonIsSplitOutAndDeadLettered: the link refuses every message that
// carries seq 100. Its batch is split, seq 100 alone is refused MaxAttempts
// times and dead-lettered, and every other reading is delivered, each
// device's in order.
func TestPoisonIsSplitOutAndDeadLettered(t *testing.T) {
	const poison = 100
	store := newStore()
	for range 100 {
		store.add("a", 1)
		store.add("b", 1)
		store.add("c", 1)
	}
	link := &fakeLink{refuse: func(rs []wire) bool {
		for _, r := range rs {
			if r.Seq == poison {
				return true
			}
		}
		return false
	}}
	dead := &deadBox{got: map[uint64]int{}}
	f, err := New(Config{TopicPrefix: "edged", GatewayID: "gw", Batch: 16, Inflight: 4, RetryDelay: time.Millisecond, DeadLetters: dead}, store, link)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	brokerStop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { link.broker(brokerStop) })
	wg.Go(func() { f.Run(ctx) })
	deadline := time.Now().Add(30 * time.Second) // hang guard
	for store.depth() > 0 || dead.len() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d readings, dead letters %d", store.depth(), dead.len())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	close(brokerStop)
	wg.Wait()
	if dead.got[poison] != 3 || dead.len() != 1 {
		t.Errorf("dead letters %v, want only seq %d after 3 attempts", dead.got, poison)
	}
	if st := f.Stats(); st.DeadLettered != 1 {
		t.Errorf("DeadLettered %d, want 1", st.DeadLettered)
	}
	seen := map[uint64]bool{}
	last := map[string]uint64{}
	for _, m := range link.received {
		for _, r := range m.rs {
			if r.Seq == poison {
				continue // refused: never received
			}
			if !seen[r.Seq] && r.Seq < last[r.Device] {
				t.Errorf("device %s: seq %d first arrived after %d", r.Device, r.Seq, last[r.Device])
			}
			seen[r.Seq] = true
			last[r.Device] = max(last[r.Device], r.Seq)
		}
	}
	for s := uint64(1); s <= 300; s++ {
		if s != poison && !seen[s] {
			t.Errorf("seq %d never delivered", s)
		}
	}
}

// TestConnectionLossDeadLettersNothing: with dead letters on, a link that
// drops again and again (not a refusal of one reading) loses nothing to them.
func TestConnectionLossDeadLettersNothing(t *testing.T) {
	store, link := newStore(), &fakeLink{failEvery: 7}
	dead := &deadBox{got: map[uint64]int{}}
	store.add("a", 500)
	store.add("b", 500)
	stop := runForwarder(t, Config{Batch: 8, Inflight: 4, DeadLetters: dead}, store, link)
	deadline := time.Now().Add(30 * time.Second)
	for store.depth() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d readings", store.depth())
		}
		time.Sleep(time.Millisecond)
	}
	stop()
	if dead.len() != 0 {
		t.Errorf("dead letters %v after mere connection losses", dead.got)
	}
}

// reconnectingLink is a broker connection that is lost under the first
// publish and reconnected at once (paho's auto-reconnect can be that
// quick); the sender learns of the loss only later, when it publishes the
// next message. A session that kept publishing would put that message on
// the new connection, ahead of the lost one it resends only in its next
// session. It records what reaches the broker, in arrival order.
type reconnectingLink struct {
	mu      sync.Mutex
	epoch   uint64
	first   *delivery // the lost one, failed at the next publish
	arrived []uint64  // seqs that reached the broker, in arrival order
}

func (l *reconnectingLink) WaitConnected(context.Context) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, nil
}

func (l *reconnectingLink) publish(epoch uint64, check bool, payload []byte) (Delivery, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first == nil {
		l.first = &delivery{done: make(chan struct{}), err: errors.New("connection lost")}
		l.epoch++ // lost, and reconnected at once
		return l.first, nil
	}
	select {
	case <-l.first.done:
	default:
		close(l.first.done) // the loss is noticed now
	}
	if check && epoch != l.epoch {
		return nil, errors.New("not connected")
	}
	var ws []wire
	json.Unmarshal(payload, &ws)
	for _, w := range ws {
		l.arrived = append(l.arrived, w.Seq)
	}
	d := &delivery{done: make(chan struct{})}
	close(d.done)
	return d, nil
}

func (l *reconnectingLink) Publish(topic string, payload []byte) (Delivery, error) {
	return l.publish(0, false, payload)
}

type epochLink struct{ *reconnectingLink }

func (l epochLink) PublishIn(epoch uint64, topic string, payload []byte) (Delivery, error) {
	return l.publish(epoch, true, payload)
}

// TestSessionNeverPublishesOnANewerConnection: the first message is lost
// with its connection, which comes back at once. Through an EpochLink the
// session's later publishes fail (their connection is gone) and the next
// session resends from the lost message: the broker sees every seq in
// order. A plain Link shows what that prevents: later messages reach the
// new connection first.
func TestSessionNeverPublishesOnANewerConnection(t *testing.T) {
	run := func(link Link, rl *reconnectingLink) []uint64 {
		st := newStore()
		st.add("boiler", 12)
		f, err := New(Config{TopicPrefix: "e", GatewayID: "g", Batch: 2, Inflight: 4, RetryDelay: time.Millisecond}, st, link)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.Run(ctx) }()
		deadline := time.Now().Add(30 * time.Second)
		for st.depth() > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		rl.mu.Lock()
		defer rl.mu.Unlock()
		return slices.Clone(rl.arrived)
	}
	ordered := func(seqs []uint64) bool {
		seen := map[uint64]bool{}
		var last uint64
		for _, s := range seqs {
			if !seen[s] && s < last {
				return false
			}
			seen[s] = true
			last = max(last, s)
		}
		return true
	}
	rl := &reconnectingLink{epoch: 1}
	if got := run(epochLink{rl}, rl); !ordered(got) || len(got) < 12 {
		t.Fatalf("through an EpochLink the broker saw %v: want seqs 1..12, each first seen in order", got)
	}
	plain := &reconnectingLink{epoch: 1}
	if got := run(plain, plain); ordered(got) {
		t.Fatalf("a plain link kept the order (%v): the test no longer shows the case", got)
	}
}
