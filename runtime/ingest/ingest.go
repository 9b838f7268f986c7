package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/internal/logevery"
	"github.com/edged-gateway/edged/reading"
)

// ErrFull is given to done when the queue is full and the submitter chose
// not to wait.
var ErrFull = errors.New("ingest: queue full")

// ErrStopped is given to done for readings submitted after Run ended.
var ErrStopped = errors.New("ingest: stopped")

// Sink stores readings; Append returns once they are durable and is all or
// nothing.
type Sink interface {
	Append(ctx context.Context, rs []reading.Reading) error
}

// Config tunes the ingest loop. The zero value is usable.
type Config struct {
	// Queue is how many submissions may wait; default 16384.
	Queue int
	// MaxBatch is the most readings in one append; default 4096.
	MaxBatch int
	// DrainTimeout bounds storing what is still queued when Run's context
	// ends; default 2s. What is left then gets done(ErrStopped).
	DrainTimeout time.Duration
	// Logger receives append failures; default slog.Default().
	Logger *slog.Logger
	// MaxFuture is how far ahead of Now a reading's time may be for
	// Judge; 0 means DefaultMaxFuture, negative turns the check off.
	MaxFuture time.Duration
	// MaxAge, when set, returns the age past which Judge refuses a
	// reading (the outbox's max_age, which a plan may change).
	MaxAge func() time.Duration
	// Now is the clock Judge compares with; default time.Now.
	Now func() time.Time
}

// Ingest queues pushed readings and appends them to a Sink.
type Ingest struct {
	cfg     Config
	sink    Sink
	q       chan item
	stopped chan struct{}

	submitted, stored, failed, full atomic.Uint64
	appends                         atomic.Uint64
	active                          atomic.Int64 // Submit calls under way, so drain misses none

	refused refusals          // readings Judge refused for their time
	logged  *logevery.Limiter // one refusal line per device per 10 s
}

type item struct {
	rs   []reading.Reading
	done func(error)
}

// Stats counts readings since New.
type Stats struct {
	Submitted uint64 `json:"submitted"` // readings handed to Submit
	Stored    uint64 `json:"stored"`    // readings made durable
	Failed    uint64 `json:"failed"`    // readings whose append failed
	Full      uint64 `json:"full"`      // readings refused with ErrFull
	Appends   uint64 `json:"appends"`   // appends to the sink
	Queued    int    `json:"queued"`    // submissions waiting now
	// RefusedTime counts readings Judge refused for their time, and
	// Refused breaks them down by device with the latest reason.
	RefusedTime uint64             `json:"refused_time"`
	Refused     map[string]Refusal `json:"refused_by_device,omitempty"`
	// RestampedTime counts readings given the receive time instead of
	// being refused (JudgeMessage with a receive time).
	RestampedTime uint64 `json:"restamped_time"`
}

// New returns an Ingest that appends to sink once Run runs.
func New(sink Sink, cfg Config) *Ingest {
	if cfg.Queue <= 0 {
		cfg.Queue = 16384
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxFuture == 0 {
		cfg.MaxFuture = DefaultMaxFuture
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Ingest{cfg: cfg, sink: sink, q: make(chan item, cfg.Queue), stopped: make(chan struct{}), logged: logevery.New(0)}
}

// Submit queues rs; done (which may be nil) is called once, from the ingest
// loop, with nil when rs are durable or with the error that kept them out.
// When the queue is full Submit waits if wait is true (until ctx ends),
// and otherwise calls done(ErrFull) at once.
func (g *Ingest) Submit(ctx context.Context, rs []reading.Reading, wait bool, done func(error)) {
	if done == nil {
		done = func(error) {}
	}
	g.active.Add(1)
	defer g.active.Add(-1)
	n := uint64(len(rs))
	g.submitted.Add(n)
	it := item{rs: rs, done: done}
	select {
	case <-g.stopped:
		done(ErrStopped)
		return
	default:
	}
	// From here a drain under way waits for this call (active), so what it
	// queues is stored or refused, never left behind.
	select {
	case g.q <- it:
		return
	default:
	}
	if !wait {
		g.full.Add(n)
		done(ErrFull)
		return
	}
	select {
	case g.q <- it:
	case <-g.stopped:
		done(ErrStopped)
	case <-ctx.Done():
		done(fmt.Errorf("ingest: %w", ctx.Err()))
	}
}

// Run appends what is submitted until ctx ends, then stores what is still
// queued (within DrainTimeout) and returns.
func (g *Ingest) Run(ctx context.Context) error {
	batch := make([]item, 0, 256)
	var rs []reading.Reading
	for {
		select {
		case it := <-g.q:
			batch, rs = g.gather(append(batch[:0], it), rs[:0])
			g.flush(ctx, batch, rs)
		case <-ctx.Done():
			return g.drain()
		}
	}
}

// gather adds whatever else is queued, up to MaxBatch readings.
func (g *Ingest) gather(batch []item, rs []reading.Reading) ([]item, []reading.Reading) {
	rs = append(rs, batch[0].rs...)
	for len(rs) < g.cfg.MaxBatch {
		select {
		case it := <-g.q:
			batch = append(batch, it)
			rs = append(rs, it.rs...)
		default:
			return batch, rs
		}
	}
	return batch, rs
}

// flush appends rs (the readings of batch, in order) and settles batch. If
// the combined append fails, each submission is tried alone, so one bad
// submission does not fail its neighbours.
func (g *Ingest) flush(ctx context.Context, batch []item, rs []reading.Reading) {
	g.appends.Add(1)
	err := g.sink.Append(ctx, rs)
	if err != nil && len(batch) > 1 {
		for _, it := range batch {
			g.appends.Add(1)
			g.settle(it, g.sink.Append(ctx, it.rs))
		}
		return
	}
	off := 0
	for _, it := range batch {
		// The sink set the seqs in rs; the submitter's slice gets them too.
		copy(it.rs, rs[off:off+len(it.rs)])
		off += len(it.rs)
		g.settle(it, err)
	}
}

func (g *Ingest) settle(it item, err error) {
	if err != nil {
		g.failed.Add(uint64(len(it.rs)))
		g.cfg.Logger.Warn("readings not stored", "readings", len(it.rs), "err", err)
	} else {
		g.stored.Add(uint64(len(it.rs)))
	}
	it.done(err)
}

// drain stores what is queued at stop, then refuses the rest.
func (g *Ingest) drain() error {
	close(g.stopped)
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.DrainTimeout)
	defer cancel()
	var batch []item
	var rs []reading.Reading
	for {
		select {
		case it := <-g.q:
			if ctx.Err() != nil {
				g.settle(it, ErrStopped)
				continue
			}
			batch, rs = g.gather(append(batch[:0], it), rs[:0])
			g.flush(ctx, batch, rs)
		default:
			if g.active.Load() == 0 && len(g.q) == 0 {
				return nil
			}
			time.Sleep(time.Millisecond) // a Submit is between its checks
		}
	}
}

// Stats returns the counters.
func (g *Ingest) Stats() Stats {
	st := Stats{
		Submitted: g.submitted.Load(), Stored: g.stored.Load(), Failed: g.failed.Load(),
		Full: g.full.Load(), Appends: g.appends.Load(), Queued: len(g.q),
	}
	st.RefusedTime, st.RestampedTime, st.Refused = g.refusedStats()
	return st
}
