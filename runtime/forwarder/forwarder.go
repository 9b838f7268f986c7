package forwarder

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/internal/lasterr"
	"github.com/edged-gateway/edged/reading"
)

// Store is the durable queue the forwarder drains (the outbox).
type Store interface {
	// Peek returns up to n of the oldest readings with Seq > after.
	Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error)
	// Ack deletes delivered readings.
	Ack(ctx context.Context, seqs []uint64) error
	// Changed returns a channel closed when new readings are stored.
	Changed() <-chan struct{}
}

// EpochLink is a Link that can publish on one connection only: PublishIn
// fails (like a Publish while disconnected) once the connection of epoch
// (what WaitConnected returned) is gone, instead of sending on a newer
// one. A session publishes through it when the link offers it, so after a
// lost connection nothing it sends can reach the destination ahead of an
// earlier message the old connection lost: the next session resends from
// the oldest unacknowledged reading, in order.
type EpochLink interface {
	PublishIn(epoch uint64, topic string, payload []byte) (Delivery, error)
}

// publishOn publishes on the connection of epoch when link can tell.
func publishOn(link Link, epoch uint64, topic string, payload []byte) (Delivery, error) {
	if el, ok := link.(EpochLink); ok {
		return el.PublishIn(epoch, topic, payload)
	}
	return link.Publish(topic, payload)
}

// Delivery is one publish in flight: Done closes on PUBACK or failure.
type Delivery interface {
	Done() <-chan struct{}
	Err() error
}

// Link is the connection to a destination: the cloud broker (the uplink),
// another broker or an HTTP endpoint (sync/routeout).
type Link interface {
	// WaitConnected blocks until connected and returns the connection's
	// epoch, which changes on every reconnect.
	WaitConnected(ctx context.Context) (uint64, error)
	// Publish sends one QoS 1 message. It may keep payload until the
	// delivery is done, so callers must not reuse it.
	Publish(topic string, payload []byte) (Delivery, error)
}

// DeadLetters takes a reading the destination refused every time; the
// forwarder then acks it from the store, so the rest flows.
type DeadLetters interface {
	DeadLetter(ctx context.Context, r reading.Reading, reason string, attempts int) error
}

// Config says where telemetry goes and how much is in flight.
type Config struct {
	// Route names the route this forwarder serves, in logs, Stats and
	// dead letters ("" for the one cloud route of old).
	Route string
	// TopicPrefix and GatewayID make the topic
	// <prefix>/<gateway>/telemetry/<device>. Both required unless Topic
	// is set.
	TopicPrefix string
	GatewayID   string
	// Topic, when set, makes the topic of a message from its device
	// instead of TopicPrefix and GatewayID.
	Topic func(device string) string
	// Encode appends the message for rs (readings of one device, in seq
	// order) to dst; nil means AppendPayload (the telemetry JSON).
	Encode func(dst []byte, epoch string, rs []reading.Reading) []byte
	// Epoch is the outbox's stream identity, sent with every seq
	// ("epoch"); "" leaves it out.
	Epoch string
	// Batch is the most readings in one message; default 64.
	Batch int
	// Inflight is the most unacknowledged messages at once; default 32.
	Inflight int
	// DrainTimeout bounds how long Run waits, after its context ends, for
	// the publishes in flight to be acknowledged; default 2s.
	DrainTimeout time.Duration
	// RetryDelay is the old name of Backoff.Initial, used when that is 0.
	RetryDelay time.Duration
	// Backoff is the pause after a failed publish before starting again
	// from the oldest unacknowledged reading: exponential with jitter,
	// from Initial (default 200ms) to Max (default 30s), reset by a
	// delivery that succeeds.
	Backoff Backoff
	// DeadLetters receives a reading refused MaxAttempts times when
	// published alone, refused for good (IsPermanent) or past TTL; nil
	// keeps retrying it forever (the old behaviour) and drops expired
	// readings (counted in Stats.Expired).
	DeadLetters DeadLetters
	// MaxAttempts is how many times a reading is published alone (nothing
	// else in flight) and refused before it goes to DeadLetters; default 3.
	// It counts every failure unless ClassifyFailures is set.
	MaxAttempts int
	// ClassifyFailures, when set, trusts the Link to tell failures apart:
	// only a Permanent one dead-letters a reading (and splits a batch);
	// any other failure (network down, timeout, 5xx) is retried with
	// Backoff forever. Unset, every failure of a reading alone counts
	// towards MaxAttempts, because over MQTT 3.1.1 a broker refusing an
	// oversize message just drops the connection, like any outage.
	ClassifyFailures bool
	// TTL, when > 0, is the oldest a reading (by its Time) may be when it
	// is about to be sent; an older one goes to DeadLetters with reason
	// "ttl" instead and is acked.
	TTL time.Duration
	// Logger receives delivery failures; nil discards.
	Logger *slog.Logger
}

// Validate reports the first problem, naming the field.
func (c Config) Validate() error {
	switch {
	case c.Topic == nil && (c.TopicPrefix == "" || strings.ContainsAny(c.TopicPrefix, "+#")):
		return fmt.Errorf("topic_prefix %q must be non-empty and free of MQTT wildcards + and #", c.TopicPrefix)
	case c.Topic == nil && (c.GatewayID == "" || strings.ContainsAny(c.GatewayID, "+#/")):
		return fmt.Errorf("gateway id %q must be non-empty and free of +, # and /", c.GatewayID)
	case c.TTL < 0:
		return fmt.Errorf("ttl %s must be >= 0 (0: no ttl)", c.TTL)
	case c.Backoff.Initial < 0 || c.Backoff.Max < 0 || c.RetryDelay < 0:
		return fmt.Errorf("backoff initial %s and max %s must be >= 0 (0: default)", c.Backoff.Initial, c.Backoff.Max)
	case c.Backoff.Max > 0 && c.Backoff.Initial > c.Backoff.Max:
		return fmt.Errorf("backoff initial %s is above backoff max %s", c.Backoff.Initial, c.Backoff.Max)
	case c.Batch < 0 || c.Batch > 10000:
		return fmt.Errorf("batch %d must be between 1 and 10000", c.Batch)
	case c.Inflight < 0 || c.Inflight > 65535:
		return fmt.Errorf("inflight %d must be between 1 and 65535", c.Inflight)
	case c.MaxAttempts < 0 || c.MaxAttempts > 1000:
		return fmt.Errorf("max_attempts %d must be between 1 and 1000", c.MaxAttempts)
	}
	return nil
}

// Stats counts what the forwarder has done since it started.
type Stats struct {
	Route     string        // Config.Route
	Messages  int64         // messages acknowledged by the broker
	Delivered int64         // readings acknowledged by the broker
	Failures  int64         // publishes that failed (each restarts from the oldest)
	LastError lasterr.Error // the last failure and when; recovered once a later delivery succeeded
	// DeadLettered counts readings refused MaxAttempts times alone and
	// moved to the dead letters.
	DeadLettered int64
	// Expired counts readings past TTL when about to be sent (dead-lettered
	// with reason "ttl", or dropped without DeadLetters).
	Expired int64
}

// Forwarder drains a Store into a Link.
type Forwarder struct {
	cfg   Config
	store Store
	link  Link
	log   *slog.Logger

	batch     atomic.Int64 // readings per message (SetBatch changes it)
	messages  atomic.Int64
	delivered atomic.Int64
	failures  atomic.Int64
	dead      atomic.Int64
	expired   atomic.Int64
	lastErr   lasterr.Record
	backoff   backoff // only Run's goroutine uses it
	now       func() time.Time

	// After a message fails, the readings up to probeUntil are published
	// one at a time, alone in flight, so the one the destination refuses
	// is found (a failed batch is split down to single readings); attempts
	// counts each one's refusals alone. Only Run's goroutine uses them.
	probeUntil uint64
	attempts   map[uint64]int
}

// New returns a forwarder, applying defaults to cfg.
func New(cfg Config, store Store, link Link) (*Forwarder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("forwarder: %w", err)
	}
	if cfg.Batch == 0 {
		cfg.Batch = 64
	}
	if cfg.Inflight == 0 {
		cfg.Inflight = 32
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Backoff.Initial == 0 {
		cfg.Backoff.Initial = cfg.RetryDelay
	}
	if cfg.Backoff.Initial == 0 {
		cfg.Backoff.Initial = 200 * time.Millisecond
	}
	if cfg.Backoff.Max == 0 {
		cfg.Backoff.Max = max(30*time.Second, cfg.Backoff.Initial)
	}
	if cfg.Encode == nil {
		cfg.Encode = AppendPayload
	}
	if cfg.Topic == nil {
		prefix := cfg.TopicPrefix + "/" + cfg.GatewayID + "/telemetry/"
		cfg.Topic = func(device string) string { return prefix + device }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Route != "" {
		log = log.With("route", cfg.Route)
	}
	f := &Forwarder{cfg: cfg, store: store, link: link, log: log, attempts: map[uint64]int{},
		backoff: backoff{cfg: cfg.Backoff}, now: time.Now}
	f.batch.Store(int64(cfg.Batch))
	return f, nil
}

// Stats returns the counters.
func (f *Forwarder) Stats() Stats {
	return Stats{Route: f.cfg.Route, Messages: f.messages.Load(), Delivered: f.delivered.Load(), Failures: f.failures.Load(),
		LastError: f.lastErr.Get(), DeadLettered: f.dead.Load(), Expired: f.expired.Load()}
}

// Run forwards until ctx ends, then waits up to DrainTimeout for the
// publishes in flight, acks what was acknowledged and returns nil.
func (f *Forwarder) Run(ctx context.Context) error {
	acks := make(chan []uint64, 4*f.cfg.Inflight)
	ackerDone := make(chan struct{})
	go func() {
		defer close(ackerDone)
		f.ackLoop(acks)
	}()
	defer func() {
		close(acks)
		<-ackerDone
	}()
	for {
		epoch, err := f.link.WaitConnected(ctx)
		if err != nil {
			return nil // ctx ended while disconnected: nothing is in flight
		}
		s := &session{f: f, ctx: ctx, acks: acks, epoch: epoch}
		err = s.run(ctx)
		if ctx.Err() != nil {
			s.drain()
			return nil
		}
		f.failures.Add(1)
		f.lastErr.Set(err.Error(), time.Now())
		if s.progress {
			f.backoff.reset()
		}
		wait := f.backoff.wait(retryAfter(err))
		f.log.Warn("telemetry delivery interrupted; resending from the oldest unacknowledged reading", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// ackLoop deletes delivered readings from the store, merging whatever
// queued while the previous ack committed into one transaction. A failed
// ack is logged: those readings stay and are sent again later (a duplicate,
// never a gap).
func (f *Forwarder) ackLoop(acks <-chan []uint64) {
	var batch []uint64
	for seqs := range acks {
		batch = append(batch[:0], seqs...)
	more:
		for {
			select {
			case next, ok := <-acks:
				if !ok {
					break more
				}
				batch = append(batch, next...)
			default:
				break more
			}
		}
		if err := f.store.Ack(context.Background(), batch); err != nil {
			f.log.Warn("ack delivered readings in the outbox failed; they will be sent again", "readings", len(batch), "err", err)
		}
	}
}

// pending is one message in flight and the readings it carries.
type pending struct {
	d    Delivery
	seqs []uint64
	one  reading.Reading // the reading, when a probe sent it alone
	// single is the reading of a one-reading message (a permanent refusal
	// of it needs no probe).
	single reading.Reading
}

// session is one pass over the outbox on one connection, from the oldest
// unacknowledged reading on.
type session struct {
	f        *Forwarder
	ctx      context.Context
	epoch    uint64 // the connection it publishes on (Link.WaitConnected)
	progress bool   // a delivery succeeded or a reading was dead-lettered
	acks     chan<- []uint64
	peeked   uint64            // highest seq read from the store
	pending  []reading.Reading // read but not yet published, in seq order
	inflight []pending
	buf      []reading.Reading
}

func (s *session) run(ctx context.Context) error {
	for {
		if err := s.collect(); err != nil {
			return err
		}
		free := s.f.cfg.Inflight - len(s.inflight)
		var changed <-chan struct{}
		if free > 0 {
			changed = s.f.store.Changed() // before Peek, so no append is missed
			n, err := s.fill(free)
			if err != nil {
				return err
			}
			if n > 0 {
				continue
			}
		}
		// Window full, or nothing new: wait for a PUBACK or new readings.
		var oldest <-chan struct{}
		if len(s.inflight) > 0 {
			oldest = s.inflight[0].d.Done()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-oldest:
		case <-changed:
		}
	}
}

// window is how many unsent readings a session keeps at hand to fill
// messages from: enough for every message in flight to be a full batch.
func (s *session) window() int {
	return max(s.f.cfg.Inflight*int(s.f.batch.Load()), 256)
}

// fill publishes up to free messages and returns how many it published.
func (s *session) fill(free int) (int, error) {
	if want := s.window() - len(s.pending); want > 0 {
		var err error
		s.buf, err = s.f.store.Peek(s.peeked, want, s.buf[:0])
		if err != nil {
			return 0, fmt.Errorf("read outbox: %w", err)
		}
		if len(s.buf) > 0 {
			s.pending = append(s.pending, s.buf...)
			s.peeked = s.buf[len(s.buf)-1].Seq
		}
	}
	if s.f.probeUntil > 0 {
		if len(s.pending) > 0 && s.pending[0].Seq > s.f.probeUntil {
			s.f.probeUntil = 0 // every suspect was delivered or dead-lettered
			clear(s.f.attempts)
		} else {
			return s.probe()
		}
	}
	msgs, rest := take(s.pending, int(s.f.batch.Load()), free)
	s.pending = rest
	n := 0
	for _, m := range msgs {
		m, expired, err := s.expire(m)
		n += expired
		if err == nil && len(m) > 0 {
			err = s.publish(m)
			n++
		}
		if err != nil {
			return n, err // the session ends; the next one peeks from the oldest
		}
	}
	return n, nil
}

// expire takes the readings past TTL out of rs (one message's readings):
// each goes to the dead letters with reason "ttl" (or is dropped without
// them) and is acked. It returns the rest and how many expired.
func (s *session) expire(rs []reading.Reading) ([]reading.Reading, int, error) {
	f := s.f
	if f.cfg.TTL <= 0 {
		return rs, 0, nil
	}
	now := f.now()
	kept := rs[:0:0]
	var gone []uint64
	for _, r := range rs {
		age := now.Sub(r.Time)
		if age <= f.cfg.TTL {
			kept = append(kept, r)
			continue
		}
		if f.cfg.DeadLetters != nil {
			reason := fmt.Sprintf("ttl: %s old when about to be sent, the route's ttl is %s", age.Round(time.Millisecond), f.cfg.TTL)
			if err := f.cfg.DeadLetters.DeadLetter(context.Background(), r, reason, f.attempts[r.Seq]); err != nil {
				if len(gone) > 0 {
					s.acks <- gone
				}
				// The session ends; the next one peeks from the oldest.
				return nil, len(gone), fmt.Errorf("reading seq %d past ttl; keep it (dead letter failed): %w", r.Seq, err)
			}
		}
		gone = append(gone, r.Seq)
		delete(f.attempts, r.Seq)
		f.expired.Add(1)
		f.log.Warn("reading past the route's ttl not sent", "seq", r.Seq, "device", r.Device, "metric", r.Metric, "age", age, "ttl", f.cfg.TTL, "dead_lettered", f.cfg.DeadLetters != nil)
	}
	if len(gone) > 0 {
		s.acks <- gone
		s.progress = true
	}
	return kept, len(gone), nil
}

// probe publishes the oldest pending reading alone, once nothing else is in
// flight; its delivery failing counts as one of its attempts (a Publish
// that fails at once, not connected, does not).
func (s *session) probe() (int, error) {
	if len(s.pending) == 0 || len(s.inflight) > 0 {
		return 0, nil
	}
	r := s.pending[0]
	if kept, n, err := s.expire(s.pending[:1]); err != nil || len(kept) == 0 {
		if err == nil {
			s.pending = s.pending[1:]
		}
		return n, err
	}
	// Alone on a shared link too, unless failures are classified: a
	// refusal that drops the connection must not fail (and count against)
	// the other routes' readings.
	if err := s.publishAlone(s.pending[:1], !s.f.cfg.ClassifyFailures); err != nil {
		return 0, err
	}
	s.inflight[len(s.inflight)-1].one = r
	s.pending = s.pending[1:]
	return 1, nil
}

// refused counts a refusal of r published alone and moves it to the dead
// letters, acking it from the store so the rest flows, when the refusal
// IsPermanent or, unless ClassifyFailures, at MaxAttempts. It returns the
// error that ends the session.
func (s *session) refused(r reading.Reading, err error) error {
	f := s.f
	f.attempts[r.Seq]++
	n := f.attempts[r.Seq]
	permanent := IsPermanent(err)
	switch {
	case permanent:
	case f.cfg.ClassifyFailures:
		return fmt.Errorf("reading seq %d alone (attempt %d, transient: retried): %w", r.Seq, n, err)
	case n < f.cfg.MaxAttempts:
		return fmt.Errorf("reading seq %d alone (attempt %d of %d): %w", r.Seq, n, f.cfg.MaxAttempts, err)
	}
	reason := fmt.Sprintf("refused %d times when sent alone; last: %v", n, err)
	if permanent {
		reason = fmt.Sprintf("permanent: refused for good (attempt %d): %v", n, err)
	}
	if derr := f.cfg.DeadLetters.DeadLetter(context.Background(), r, reason, n); derr != nil {
		return fmt.Errorf("reading seq %d refused %d times; keep it (dead letter failed: %v): %w", r.Seq, n, derr, err)
	}
	if aerr := f.store.Ack(context.Background(), []uint64{r.Seq}); aerr != nil {
		return fmt.Errorf("reading seq %d dead-lettered, ack in the outbox: %w", r.Seq, aerr)
	}
	delete(f.attempts, r.Seq)
	f.dead.Add(1)
	s.progress = true
	f.log.Error("reading moved to the dead letters: the destination refused it (too large, not allowed, malformed); the rest goes on",
		"seq", r.Seq, "device", r.Device, "metric", r.Metric, "attempts", n, "permanent", permanent, "err", err)
	return fmt.Errorf("reading seq %d dead-lettered after %d attempts: %w", r.Seq, n, err)
}

func (s *session) publish(rs []reading.Reading) error { return s.publishAlone(rs, false) }

// publishAlone publishes rs; alone, a shared link carries nothing else
// while it is in flight.
func (s *session) publishAlone(rs []reading.Reading, alone bool) error {
	cfg := s.f.cfg
	// A fresh buffer per message: the link may still be writing the last
	// one after Publish returns.
	payload := cfg.Encode(make([]byte, 0, 160*len(rs)), cfg.Epoch, rs)
	topic := cfg.Topic(rs[0].Device)
	var d Delivery
	var err error
	if g, ok := s.f.link.(gate); ok {
		if err := g.acquire(s.ctx, alone); err != nil {
			return err
		}
		d, err = g.publishHeld(s.epoch, topic, payload, alone)
	} else {
		d, err = publishOn(s.f.link, s.epoch, topic, payload)
	}
	if err != nil {
		return fmt.Errorf("publish %d readings to %s: %w", len(rs), topic, err)
	}
	seqs := make([]uint64, len(rs))
	for i := range rs {
		seqs[i] = rs[i].Seq
	}
	p := pending{d: d, seqs: seqs}
	if len(rs) == 1 {
		p.single = rs[0]
	}
	s.inflight = append(s.inflight, p)
	return nil
}

// collect takes the finished deliveries from the front of the window, in
// order, and queues their readings for ack in one message to the acker. A
// failed delivery ends the session: everything after it is resent on the
// next one.
func (s *session) collect() error {
	var acked []uint64
	n := 0
	var failed error
	cfg := s.f.cfg
	for i, p := range s.inflight {
		if !isDone(p.d) {
			break
		}
		if err := p.d.Err(); err != nil {
			failed = fmt.Errorf("publish of %d readings (seq %d..%d) failed: %w", len(p.seqs), p.seqs[0], p.seqs[len(p.seqs)-1], err)
			if cfg.DeadLetters != nil {
				switch {
				case p.one.Seq != 0:
					failed = s.refused(p.one, err)
				case p.single.Seq != 0 && IsPermanent(err):
					failed = s.refused(p.single, err)
				case !cfg.ClassifyFailures || IsPermanent(err):
					// Split: the next session sends these readings alone.
					s.f.probeUntil = max(s.f.probeUntil, slices.Max(p.seqs))
				}
				if cfg.ClassifyFailures {
					// A permanent refusal further on, whose turn a
					// transient failure before it took: split it too.
					for _, q := range s.inflight[i+1:] {
						if isDone(q.d) && IsPermanent(q.d.Err()) {
							s.f.probeUntil = max(s.f.probeUntil, slices.Max(q.seqs))
						}
					}
				}
			}
			break
		}
		acked = append(acked, p.seqs...)
		s.f.messages.Add(1)
		s.f.delivered.Add(int64(len(p.seqs)))
		s.f.lastErr.Recovered(time.Now())
		s.progress = true
		n++
	}
	if len(acked) > 0 {
		s.acks <- acked
	}
	if failed != nil {
		s.inflight = nil
		return failed
	}
	s.inflight = s.inflight[n:]
	return nil
}

func isDone(d Delivery) bool {
	select {
	case <-d.Done():
		return true
	default:
		return false
	}
}

// drain waits for the deliveries in flight, bounded by DrainTimeout, and
// queues acks for what the broker acknowledged.
func (s *session) drain() {
	timeout := time.NewTimer(s.f.cfg.DrainTimeout)
	defer timeout.Stop()
	for _, p := range s.inflight {
		select {
		case <-p.d.Done():
		case <-timeout.C:
			s.f.log.Warn("shutdown: publishes still unacknowledged; their readings stay in the outbox", "messages", len(s.inflight))
			_ = s.collect()
			return
		}
	}
	if err := s.collect(); err != nil {
		s.f.log.Warn("shutdown: a publish in flight failed; its readings stay in the outbox", "err", err)
	}
}

// take picks the next messages to send from pending (unsent readings in seq
// order): one message for each of the first maxMsgs devices that appear,
// oldest first, each holding that device's oldest pending readings, at most
// batch of them. It returns the messages and the readings left, still in seq
// order. Because a device's readings always leave pending oldest first, its
// messages are published in seq order.
//
// The readings left are compacted in pending's own array (pending is
// reused, nothing is allocated for them), and the scan stops once every
// message is full and no other may start: the window is read once per
// call, not copied.
func take(pending []reading.Reading, batch, maxMsgs int) (msgs [][]reading.Reading, rest []reading.Reading) {
	if len(pending) == 0 || maxMsgs == 0 {
		return nil, pending
	}
	chosen := make(map[string]int, maxMsgs) // device → its message in msgs
	full := 0                               // messages holding batch readings
	w := 0                                  // pending[:w] are the readings left so far
	i := 0
	for ; i < len(pending); i++ {
		if len(msgs) == maxMsgs && full == len(msgs) {
			break // nothing more can be taken: the rest stays as it is
		}
		r := &pending[i]
		idx, ok := chosen[r.Device]
		if !ok && len(msgs) < maxMsgs {
			msgs = append(msgs, make([]reading.Reading, 0, min(batch, len(pending)-i)))
			idx, ok = len(msgs)-1, true
			chosen[r.Device] = idx
		}
		if ok && len(msgs[idx]) < batch {
			msgs[idx] = append(msgs[idx], *r)
			if len(msgs[idx]) == batch {
				full++
			}
			continue
		}
		if w != i {
			pending[w] = *r
		}
		w++
	}
	if w != i {
		w += copy(pending[w:], pending[i:])
	} else {
		w = len(pending)
	}
	clear(pending[w:]) // no stale strings kept alive
	return msgs, pending[:w]
}

// SetBatch changes the most readings per message (1 to 10000; others are
// ignored), from the next message on.
func (f *Forwarder) SetBatch(n int) {
	if n >= 1 && n <= 10000 {
		f.batch.Store(int64(n))
	}
}
