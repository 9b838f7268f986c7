package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/internal/logevery"
	"github.com/edged-gateway/edged/reading"
)

// Defaults of FeedConfig.
const (
	DefaultMaxLag     = 10000
	DefaultBatch      = 256
	MaxBatch          = 1024 // pluginapi.MaxBatch: a batch Deliver sends whole or not at all
	DefaultCheckEvery = time.Second
	DefaultRetryEvery = time.Second
)

// FeedConfig tunes every ServiceFeed of a Feeds. The zero value is usable.
type FeedConfig struct {
	// Batch is the most readings one Deliver carries; default
	// DefaultBatch, at most MaxBatch.
	Batch int
	// CheckEvery is how often a feed waiting on its service looks at its
	// lag (to skip past MaxLag); default DefaultCheckEvery.
	CheckEvery time.Duration
	// RetryEvery is the wait after an error (the log's or the
	// supervisor's) before trying again; default DefaultRetryEvery.
	RetryEvery time.Duration
	// Logger takes the feeds' warnings.
	Logger *slog.Logger
}

func (c FeedConfig) withDefaults() FeedConfig {
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	c.Batch = min(c.Batch, MaxBatch)
	if c.CheckEvery <= 0 {
		c.CheckEvery = DefaultCheckEvery
	}
	if c.RetryEvery <= 0 {
		c.RetryEvery = DefaultRetryEvery
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// FeedSpec is one service's feed: the service (as the supervisor names
// it) and its cursor in the log.
type FeedSpec struct {
	Service string
	Cursor  Cursor
	// MaxLag is how many readings the service may lag behind the log
	// before the feed skips the oldest (acked undelivered, counted in
	// SkippedForLag and logged); 0 means DefaultMaxLag.
	MaxLag uint64
}

// FeedStats is one feed, as the API and metrics show it.
type FeedStats struct {
	Service string `json:"service"`
	// Delivered counts the readings the service took (those it subscribes
	// to and that are not its own emits).
	Delivered uint64 `json:"delivered"`
	// Acked counts every reading the feed acked: delivered, filtered out
	// by the service's subscriptions, or skipped.
	Acked uint64 `json:"acked"`
	// SkippedForLag counts the readings the service never got because it
	// lagged more than MaxLag behind the log.
	SkippedForLag uint64    `json:"skipped_for_lag"`
	Lag           uint64    `json:"lag"`
	MaxLag        uint64    `json:"max_lag"`
	LastError     string    `json:"last_error,omitempty"`
	LastErrorAt   time.Time `json:"last_error_at,omitzero"`
}

// ServiceFeed reads one service's cursor and delivers what it finds to the
// service, waiting for it: a slow or stopped service makes only this
// cursor lag. Past MaxLag it skips the oldest readings, counted and named:
// the only way a service misses input.
type ServiceFeed struct {
	service string
	cur     Cursor
	to      Deliverer
	cfg     FeedConfig
	maxLag  atomic.Uint64
	warn    *logevery.Limiter

	delivered, acked, skipped atomic.Uint64

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	cancel    context.CancelFunc
	done      chan struct{}
}

// NewServiceFeed returns the feed of spec, delivering through to; Run
// runs it.
func NewServiceFeed(spec FeedSpec, to Deliverer, cfg FeedConfig) *ServiceFeed {
	f := &ServiceFeed{service: spec.Service, cur: spec.Cursor, to: to, cfg: cfg.withDefaults(), warn: logevery.New(0), done: make(chan struct{})}
	f.SetMaxLag(spec.MaxLag)
	return f
}

// SetMaxLag changes the feed's MaxLag (0: DefaultMaxLag) while it runs.
func (f *ServiceFeed) SetMaxLag(n uint64) {
	if n == 0 {
		n = DefaultMaxLag
	}
	f.maxLag.Store(n)
}

// Stats reports the feed.
func (f *ServiceFeed) Stats() FeedStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return FeedStats{Service: f.service, Delivered: f.delivered.Load(), Acked: f.acked.Load(), SkippedForLag: f.skipped.Load(),
		Lag: f.cur.Lag(), MaxLag: f.maxLag.Load(), LastError: f.lastErr, LastErrorAt: f.lastErrAt}
}

func (f *ServiceFeed) noteErr(what string, err error) {
	f.mu.Lock()
	f.lastErr, f.lastErrAt = what+": "+err.Error(), time.Now()
	f.mu.Unlock()
	if n, ok := f.warn.Allow(what, time.Now()); ok {
		f.cfg.Logger.Warn("service feed: "+what+" failed; retrying", "service", f.service, "err", err,
			"retry_every", f.cfg.RetryEvery, "suppressed", n)
	}
}

// Run feeds the service until ctx ends (it returns nil then): wakes on the
// cursor's Changed, peeks in batches, delivers each and acks it once
// delivered (readings the service does not take included).
func (f *ServiceFeed) Run(ctx context.Context) error {
	var (
		after uint64 // the last seq acked
		buf   = make([]reading.Reading, 0, f.cfg.Batch)
		sq    []uint64
		w     = waiter{cur: f.cur}
	)
	for ctx.Err() == nil {
		var err error
		if after, err = f.skipOverLag(ctx, after, &buf, &sq); err != nil {
			if ctx.Err() != nil {
				break
			}
			f.noteErr("skip", err)
			sleep(ctx, f.cfg.RetryEvery)
			continue
		}
		rs, err := w.next(ctx, after, f.cfg.Batch, buf[:0])
		buf = rs[:0]
		if err != nil {
			f.noteErr("peek", err)
			sleep(ctx, f.cfg.RetryEvery)
			continue
		}
		if len(rs) == 0 {
			continue // woken by an append (or ctx ended): look at the lag first
		}
		handed, ok := f.deliver(ctx, rs)
		if !ok {
			continue // ctx ended, or lag past MaxLag: skipOverLag takes these
		}
		f.delivered.Add(uint64(handed))
		sq = seqs(sq, rs)
		if err := f.cur.Ack(ctx, sq); err != nil {
			if ctx.Err() != nil {
				break // not acked: the cursor hands them again (at-least-once)
			}
			f.noteErr("ack", err)
			sleep(ctx, f.cfg.RetryEvery)
			continue // after stays: peeked again, delivered again
		}
		f.acked.Add(uint64(len(rs)))
		after = rs[len(rs)-1].Seq
	}
	return nil
}

// errOverLag ends a Deliver that waited while the cursor's lag passed
// MaxLag.
var errOverLag = errors.New("lag past max_lag")

// deliver hands rs to the service, waiting for it. It gives up (ok false)
// when ctx ends or when, while it waits, the cursor lags past MaxLag
// (looked at every CheckEvery). Each batch is one Deliver unless the
// supervisor fails (no such service yet or anymore, or stopped): then it
// tries again every RetryEvery.
func (f *ServiceFeed) deliver(ctx context.Context, rs []reading.Reading) (handed int, ok bool) {
	for {
		dctx, cancel := context.WithCancelCause(ctx)
		watched := make(chan struct{})
		go func() {
			t := time.NewTicker(f.cfg.CheckEvery)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					if f.cur.Lag() > f.maxLag.Load() {
						cancel(errOverLag)
						return
					}
				case <-watched:
					return
				}
			}
		}()
		n, err := f.to.Deliver(dctx, f.service, rs)
		close(watched)
		over := context.Cause(dctx) == errOverLag
		cancel(nil)
		switch {
		case err == nil:
			return n, true
		case ctx.Err() != nil || over:
			return 0, false
		}
		f.noteErr("deliver", err)
		sleep(ctx, f.cfg.RetryEvery)
	}
}

// skipOverLag acks, undelivered, the oldest readings past MaxLag, counts
// them and says so (once per 10 s per feed), and returns the new after.
func (f *ServiceFeed) skipOverLag(ctx context.Context, after uint64, buf *[]reading.Reading, sq *[]uint64) (uint64, error) {
	lag, maxLag := f.cur.Lag(), f.maxLag.Load()
	if lag <= maxLag {
		return after, nil
	}
	todo := lag - maxLag // a fixed count: never more, whatever Lag says meanwhile
	var skipped uint64
	for todo > 0 {
		rs, err := f.cur.Peek(after, int(min(todo, uint64(f.cfg.Batch))), (*buf)[:0])
		*buf = rs[:0]
		if err != nil {
			return after, err
		}
		if len(rs) == 0 {
			break
		}
		*sq = seqs(*sq, rs)
		if err := f.cur.Ack(ctx, *sq); err != nil {
			return after, err
		}
		n := uint64(len(rs))
		f.skipped.Add(n)
		f.acked.Add(n)
		skipped += n
		todo -= min(todo, n)
		after = rs[len(rs)-1].Seq
	}
	if skipped > 0 {
		if n, ok := f.warn.Allow("lag", time.Now()); ok {
			f.cfg.Logger.Warn("service lags too far behind the log: its oldest readings were skipped; raise the service's max_lag or give it more CPU (budget cpu)",
				"service", f.service, "skipped", skipped, "skipped_for_lag_total", f.skipped.Load(), "max_lag", maxLag,
				"lag", lag, "suppressed", n)
		}
	}
	return after, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// ErrClosed: Feeds.Set after Stop.
var ErrClosed = errors.New("dataplane: feeds stopped")

// Feeds runs one ServiceFeed per service; Set changes the set at run time
// (a plan or reload adds and removes services).
type Feeds struct {
	to  Deliverer
	cfg FeedConfig

	mu      sync.Mutex
	feeds   map[string]*ServiceFeed
	order   []string
	stopped bool
	wg      sync.WaitGroup
}

// NewFeeds returns a set of feeds, none yet, delivering through to.
func NewFeeds(to Deliverer, cfg FeedConfig) *Feeds {
	return &Feeds{to: to, cfg: cfg.withDefaults(), feeds: map[string]*ServiceFeed{}}
}

// Set makes specs the running feeds: a new service's feed starts, a
// removed one's stops (Set returns once it has), a feed whose cursor
// changed restarts on the new one, and a changed MaxLag applies in place.
// Specs must name each service once, with a cursor.
func (fs *Feeds) Set(specs []FeedSpec) error {
	seen := map[string]bool{}
	var errs []error
	for i, sp := range specs {
		switch {
		case sp.Service == "":
			errs = append(errs, fmt.Errorf("dataplane: feed %d: no service named", i))
		case sp.Cursor == nil:
			errs = append(errs, fmt.Errorf("dataplane: feed of service %q: no cursor", sp.Service))
		case seen[sp.Service]:
			errs = append(errs, fmt.Errorf("dataplane: feed of service %q: named twice", sp.Service))
		}
		seen[sp.Service] = true
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.stopped {
		return ErrClosed
	}
	want := map[string]FeedSpec{}
	for _, sp := range specs {
		want[sp.Service] = sp
	}
	for name, f := range fs.feeds {
		if sp, ok := want[name]; !ok || !sameCursor(sp.Cursor, f.cur) {
			f.stop()
			delete(fs.feeds, name)
		}
	}
	fs.order = fs.order[:0]
	for _, sp := range specs {
		fs.order = append(fs.order, sp.Service)
		if f := fs.feeds[sp.Service]; f != nil {
			f.SetMaxLag(sp.MaxLag)
			continue
		}
		f := NewServiceFeed(sp, fs.to, fs.cfg)
		ctx, cancel := context.WithCancel(context.Background())
		f.cancel = cancel
		fs.feeds[sp.Service] = f
		fs.wg.Add(1)
		go func() {
			defer fs.wg.Done()
			defer close(f.done)
			f.Run(ctx)
		}()
	}
	return nil
}

// sameCursor: a and b are the same cursor (a cursor of a type that cannot
// be compared counts as another).
func sameCursor(a, b Cursor) bool {
	defer func() { _ = recover() }()
	return a == b
}

// stop ends a started feed and waits for it.
func (f *ServiceFeed) stop() {
	f.cancel()
	<-f.done
}

// Stop ends every feed (what they delivered and did not ack yet, their
// cursors hand again after a restart) and keeps Set from starting more.
func (fs *Feeds) Stop() {
	fs.mu.Lock()
	fs.stopped = true
	for _, f := range fs.feeds {
		f.cancel()
	}
	fs.mu.Unlock()
}

// Wait returns once every feed started has ended.
func (fs *Feeds) Wait() { fs.wg.Wait() }

// Stats reports the feeds in the order of the last Set.
func (fs *Feeds) Stats() []FeedStats {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]FeedStats, 0, len(fs.order))
	for _, name := range fs.order {
		if f := fs.feeds[name]; f != nil {
			out = append(out, f.Stats())
		}
	}
	return out
}
