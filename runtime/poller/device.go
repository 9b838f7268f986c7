package poller

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// DeviceStats is what the poller knows about one device.
type DeviceStats struct {
	Name         string
	Healthy      bool
	Simulated    bool  // its readings came from a simulated chip or source
	Reads        int64 // successful reads
	ReadErrors   int64 // failed reads
	Stored       int64 // readings the sink accepted
	AppendErrors int64 // readings the sink refused (e.g. disk full); they are lost
	LastError    string
	LastErrorAt  time.Time       // when LastError happened; Healthy says whether the device has recovered since
	Last         reading.Reading // the last stored reading; zero before one
}

// polled is one device's entry plus its live counters.
type polled struct {
	Entry
	healthy      atomic.Bool
	reads        atomic.Int64
	readErrors   atomic.Int64
	stored       atomic.Int64
	appendErrors atomic.Int64
	simulated    atomic.Bool
	readSince    atomic.Int64  // unix ns when the read in progress began; 0 when none
	poke         chan struct{} // Poke: read now

	mu         sync.Mutex
	cancel     context.CancelFunc // ends the current read context
	last       reading.Reading
	lastErr    string
	lastErrAt  time.Time
	lastLog    time.Time
	suppressed int
}

// readContext returns a fresh context for the device's reads, which the
// watchdog cancels when a read runs too long.
func (d *polled) readContext(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	d.mu.Lock()
	if d.cancel != nil {
		d.cancel()
	}
	d.cancel = cancel
	d.mu.Unlock()
	return ctx
}

// cancelRead ends the current read context.
func (d *polled) cancelRead() {
	d.mu.Lock()
	if d.cancel != nil {
		d.cancel()
	}
	d.mu.Unlock()
}

func (d *polled) setLast(r reading.Reading) {
	d.mu.Lock()
	d.last = r
	d.mu.Unlock()
}

// note records err and logs it at most once per every, saying how many
// similar errors were suppressed since the last line.
func (d *polled) note(log *slog.Logger, every time.Duration, msg string, err error) {
	d.mu.Lock()
	now := time.Now()
	d.lastErr, d.lastErrAt = err.Error(), now
	if now.Sub(d.lastLog) < every {
		d.suppressed++
		d.mu.Unlock()
		return
	}
	n := d.suppressed
	d.lastLog, d.suppressed = now, 0
	d.mu.Unlock()
	log.Warn(msg, "err", err, "suppressed", n)
}

// stats snapshots the counters. A read running longer than timeout makes
// the device unhealthy even if its driver never returns.
func (d *polled) stats(timeout time.Duration) DeviceStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := DeviceStats{
		Name: d.Device.Name(), Healthy: d.healthy.Load(), Simulated: d.simulated.Load(), Reads: d.reads.Load(), ReadErrors: d.readErrors.Load(),
		Stored: d.stored.Load(), AppendErrors: d.appendErrors.Load(), LastError: d.lastErr, LastErrorAt: d.lastErrAt, Last: d.last,
	}
	if since := d.readSince.Load(); since != 0 {
		if running := time.Since(time.Unix(0, since)); running > timeout {
			s.Healthy = false
			s.LastError = fmt.Sprintf("read timed out: running for %s (limit %s)", running.Round(time.Millisecond), timeout)
			s.LastErrorAt = time.Unix(0, since).Add(timeout)
		}
	}
	return s
}
