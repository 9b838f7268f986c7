package poller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// Device is anything that can be read: a chip driver, a simulated source.
// Read appends its readings to dst and returns the extended slice.
type Device interface {
	Name() string
	Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error)
}

// Simulator is a Device that can say its readings are simulated (a chip on
// the simulated board, a waveform source): the poller marks each of its
// readings Simulated, so simulated data never passes as real.
type Simulator interface {
	Simulated() bool
}

// Sink takes readings; Append returns once they are durable.
type Sink interface {
	Append(ctx context.Context, rs []reading.Reading) error
}

// Entry is one device and how often to read it.
type Entry struct {
	Device   Device
	Interval time.Duration
	// Scale, when set, maps every value v the device reads to
	// v*Factor+Offset and, if Unit is set, replaces the unit.
	Scale *Scale
}

// Scale turns raw values into engineering units.
type Scale struct {
	Factor, Offset float64
	Unit           string
}

// apply scales the readings in place.
func (s *Scale) apply(rs []reading.Reading) {
	if s == nil {
		return
	}
	for i := range rs {
		rs[i].Value = rs[i].Value*s.Factor + s.Offset
		if s.Unit != "" {
			rs[i].Unit = s.Unit
		}
	}
}

// Config tunes the poller. The zero value is usable.
type Config struct {
	// MaxBackoff caps the wait between retries of a failing device;
	// default 30s. Retries start at the device's interval and double.
	MaxBackoff time.Duration
	// LogEvery bounds how often one device's errors are logged; default 10s.
	LogEvery time.Duration
	// ReadTimeout bounds one read: the read's context ends then, and a
	// read still running past it marks the device unhealthy ("timed out")
	// even if its driver ignores the context. Default 10s.
	ReadTimeout time.Duration
	// AppendEvery paces appends to the sink: at most one per period, with
	// everything read meanwhile, so many devices cost one durable commit
	// per period rather than one each. Default 10ms; a negative value
	// appends as soon as anything is read.
	AppendEvery time.Duration
	// Logger receives errors and state changes; nil discards.
	Logger *slog.Logger
}

// MinInterval is the shortest interval a device may be read at.
const MinInterval = time.Millisecond

// Poller reads devices on their intervals until its Run context ends.
type Poller struct {
	cfg     Config
	sink    Sink
	devices []*polled
}

// New returns a poller for entries that sends readings to sink.
func New(entries []Entry, sink Sink, cfg Config) (*Poller, error) {
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.LogEvery <= 0 {
		cfg.LogEvery = 10 * time.Second
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.AppendEvery == 0 {
		cfg.AppendEvery = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Poller{cfg: cfg, sink: sink}
	seen := map[string]bool{}
	for i, e := range entries {
		if e.Device == nil {
			return nil, fmt.Errorf("poller: entry %d has no device", i)
		}
		name := e.Device.Name()
		if seen[name] {
			return nil, fmt.Errorf("poller: device %q listed twice", name)
		}
		seen[name] = true
		if e.Interval < MinInterval {
			return nil, fmt.Errorf("poller: device %q: interval %s is below the minimum %s", name, e.Interval, MinInterval)
		}
		p.devices = append(p.devices, &polled{Entry: e, poke: make(chan struct{}, 1)})
	}
	return p, nil
}

// watchdog ends reads that run past ReadTimeout by cancelling their
// device's read context; it checks four times per ReadTimeout.
func (p *Poller) watchdog(ctx context.Context) {
	tick := time.NewTicker(max(p.cfg.ReadTimeout/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, d := range p.devices {
			if since := d.readSince.Load(); since != 0 && time.Since(time.Unix(0, since)) > p.cfg.ReadTimeout {
				d.cancelRead()
			}
		}
	}
}

// read is one reading on its way from a device loop to the appender.
type read struct {
	dev *polled
	r   reading.Reading
}

// queueLen bounds the readings read but not yet handed to the sink; when it
// is full, device loops wait (back-pressure from a slow sink).
const queueLen = 8192

// Run reads every device until ctx ends (with no devices it just waits).
// Then it stops the device loops, hands what they read to the sink and
// returns nil once every goroutine it started has exited.
func (p *Poller) Run(ctx context.Context) error {
	q := make(chan read, queueLen)
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		p.appendLoop(context.WithoutCancel(ctx), q)
	}()
	var wg sync.WaitGroup
	for _, d := range p.devices {
		wg.Go(func() { p.loop(ctx, d, q) })
	}
	wg.Go(func() { p.watchdog(ctx) })
	<-ctx.Done()
	wg.Wait()
	close(q)
	<-appended
	return nil
}

// appendLoop hands readings to the sink, one Append for everything that
// queued while the previous Append was committing. It runs until q closes,
// so readings taken before a stop are still stored.
func (p *Poller) appendLoop(ctx context.Context, q <-chan read) {
	batch := make([]reading.Reading, 0, queueLen)
	from := make([]*polled, 0, queueLen)
	pace := time.NewTimer(time.Hour)
	pace.Stop()
	var last time.Time
	for first := range q {
		batch, from = append(batch[:0], first.r), append(from[:0], first.dev)
		// Take what is queued; then, if the last append was less than
		// AppendEvery ago, gather until that period is over (or the batch
		// is full, or the poller stops).
		wait := p.cfg.AppendEvery - time.Since(last)
		var tick <-chan time.Time
		if wait > 0 {
			pace.Reset(wait)
			tick = pace.C
		}
	gather:
		for len(batch) < cap(batch) {
			select {
			case next, ok := <-q:
				if !ok {
					break gather
				}
				batch, from = append(batch, next.r), append(from, next.dev)
				continue
			default:
			}
			if tick == nil {
				break
			}
			select {
			case next, ok := <-q:
				if !ok {
					break gather
				}
				batch, from = append(batch, next.r), append(from, next.dev)
			case <-tick:
				break gather
			}
		}
		pace.Stop()
		last = time.Now()
		err := p.sink.Append(ctx, batch)
		for i, d := range from {
			if err != nil {
				d.appendErrors.Add(1)
				continue
			}
			d.stored.Add(1)
			if i == len(from)-1 || from[i+1] != d {
				d.setLast(batch[i])
			}
		}
		if err != nil {
			for _, d := range uniq(from) {
				d.note(p.cfg.Logger.With("device", d.Device.Name()), p.cfg.LogEvery, "readings not stored", err)
			}
		}
	}
}

// uniq lists each device once, in first-seen order.
func uniq(ds []*polled) []*polled {
	var out []*polled
	seen := map[*polled]bool{}
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// loop reads one device: at once, then on each tick; after a failure it
// waits out a doubling backoff instead of the interval.
func (p *Poller) loop(ctx context.Context, d *polled, q chan<- read) {
	log := p.cfg.Logger.With("device", d.Device.Name())
	rctx := d.readContext(ctx)
	var buf []reading.Reading
	backoff := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := time.Now()
	for {
		poked := false
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.poke:
			poked = true
			if backoff > 0 {
				// Failing: the back-off stands; the next read comes
				// when it ends.
				continue
			}
			timer.Stop()
		}
		var err error
		d.readSince.Store(time.Now().UnixNano())
		buf, err = readSafely(rctx, d.Device, buf[:0])
		d.readSince.Store(0)
		if rctx.Err() != nil && ctx.Err() == nil {
			// The watchdog ended this read: report it, and give the
			// device a fresh context for the next one.
			if err == nil {
				err = context.DeadlineExceeded
			}
			err = fmt.Errorf("read timed out after %s: %w", p.cfg.ReadTimeout, err)
			rctx = d.readContext(ctx)
		}
		if err == nil {
			d.Scale.apply(buf)
			if sim, ok := d.Device.(Simulator); ok && sim.Simulated() {
				for i := range buf {
					buf[i].Simulated = true
				}
				d.simulated.Store(true)
			}
			for _, r := range buf {
				select {
				case q <- read{dev: d, r: r}:
				case <-ctx.Done():
					return // a stop while the sink is backed up: r was never stored
				}
			}
		}
		if err != nil && ctx.Err() == nil {
			d.readErrors.Add(1)
			d.healthy.Store(false)
			d.note(log, p.cfg.LogEvery, "read failed", err)
			backoff = min(max(backoff*2, d.Interval), p.cfg.MaxBackoff)
			next = time.Now().Add(backoff)
		} else if err == nil {
			if !d.healthy.Swap(true) && d.reads.Load() > 0 {
				log.Info("device recovered")
			}
			d.reads.Add(1)
			backoff = 0
			if !poked { // a poked read leaves the schedule as it was
				next = next.Add(d.Interval)
			}
			if now := time.Now(); next.Before(now) {
				next = now // fell behind: skip missed ticks rather than burst
			}
		}
		timer.Reset(time.Until(next))
	}
}

// readSafely reads dev; a panic in its driver is a failed read (logged
// with the rest), not the end of the process.
func readSafely(ctx context.Context, dev Device, dst []reading.Reading) (out []reading.Reading, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = dst, fmt.Errorf("read panicked: %v", p)
		}
	}()
	return dev.Read(ctx, dst)
}

// Poke asks for a read of device name now, outside its interval (an
// actuator that a command just changed, so its new state reaches the sink
// and the services at once). It never blocks; it reports false for a
// device the poller does not have.
func (p *Poller) Poke(name string) bool {
	for _, d := range p.devices {
		if d.Device.Name() == name {
			select {
			case d.poke <- struct{}{}:
			default: // a read is already asked for
			}
			return true
		}
	}
	return false
}

// Stats returns a snapshot of every device's counters, in config order.
func (p *Poller) Stats() []DeviceStats {
	out := make([]DeviceStats, len(p.devices))
	for i, d := range p.devices {
		out[i] = d.stats(p.cfg.ReadTimeout)
	}
	return out
}
