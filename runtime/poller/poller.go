package poller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"edged/reading"
)

// Device is anything that can be read: a chip driver, a simulated source.
// Read appends its readings to dst and returns the extended slice.
type Device interface {
	Name() string
	Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error)
}

// Sink takes readings; Append returns once they are durable.
type Sink interface {
	Append(ctx context.Context, rs []reading.Reading) error
}

// Entry is one device and how often to read it.
type Entry struct {
	Device   Device
	Interval time.Duration
}

// Config tunes the poller. The zero value is usable.
type Config struct {
	// MaxBackoff caps the wait between retries of a failing device;
	// default 30s. Retries start at the device's interval and double.
	MaxBackoff time.Duration
	// LogEvery bounds how often one device's errors are logged; default 10s.
	LogEvery time.Duration
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
		p.devices = append(p.devices, &polled{Entry: e})
	}
	return p, nil
}

// Run reads every device until ctx ends, then returns after every device
// goroutine has exited. It returns nil on cancellation.
func (p *Poller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, d := range p.devices {
		wg.Go(func() { p.loop(ctx, d) })
	}
	wg.Wait()
	return nil
}

// loop reads one device: at once, then on each tick; after a failure it
// waits out a doubling backoff instead of the interval.
func (p *Poller) loop(ctx context.Context, d *polled) {
	log := p.cfg.Logger.With("device", d.Device.Name())
	var buf []reading.Reading
	backoff := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		var err error
		buf, err = d.Device.Read(ctx, buf[:0])
		if err == nil && len(buf) > 0 {
			if aerr := p.sink.Append(ctx, buf); aerr != nil {
				if ctx.Err() != nil && errors.Is(aerr, ctx.Err()) {
					return
				}
				d.appendErrors.Add(1)
				d.note(log, p.cfg.LogEvery, "readings not stored", aerr)
			} else {
				d.stored.Add(int64(len(buf)))
				d.setLast(buf[len(buf)-1])
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
			next = next.Add(d.Interval)
			if now := time.Now(); next.Before(now) {
				next = now // fell behind: skip missed ticks rather than burst
			}
		}
		timer.Reset(time.Until(next))
	}
}

// Stats returns a snapshot of every device's counters, in config order.
func (p *Poller) Stats() []DeviceStats {
	out := make([]DeviceStats, len(p.devices))
	for i, d := range p.devices {
		out[i] = d.stats()
	}
	return out
}
