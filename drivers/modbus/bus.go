package modbus

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"strings"
	"sync"
	"time"

	mb "github.com/simonvetter/modbus"
)

// Pool shares connections between devices: devices that name the same
// rtu:// port or rtuovertcp:// gateway use one connection, one transaction
// at a time in the order they asked. Each tcp:// device has its own
// connection. The daemon keeps one Pool for all its modbus devices.
type Pool struct {
	log *slog.Logger

	mu    sync.Mutex
	buses map[string]*bus
}

// NewPool returns an empty pool; log may be nil.
func NewPool(log *slog.Logger) *Pool {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Pool{log: log, buses: map[string]*bus{}}
}

// busKey names what a device connects through: shared for serial buses,
// the device's own for TCP.
func busKey(s settings, device string) string {
	if s.scheme == "tcp" {
		return "tcp://" + s.addr + "#" + device
	}
	return s.scheme + "://" + s.addr
}

func (s settings) serialLine() string {
	return fmt.Sprintf("%d %d%c%d", s.baud, s.dataBits, strings.ToUpper(s.parity)[0], s.stopBits)
}

// acquire returns the bus for s, opening nothing yet.
func (p *Pool) acquire(s settings, device string) (*bus, error) {
	key := busKey(s, device)
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.buses[key]; ok {
		if b.s.serialLine() != s.serialLine() && s.scheme == "rtu" {
			return nil, fmt.Errorf("%s is already used at %s by %s: devices on one bus need the same baud, parity and stop bits", key, b.s.serialLine(), b.first)
		}
		b.refs++
		b.raiseTimeout(s.timeout)
		return b, nil
	}
	b := &bus{key: key, s: s, first: device, refs: 1, log: p.log.With("bus", key)}
	p.buses[key] = b
	return b, nil
}

// release drops one reference; the last closes the connection.
func (p *Pool) release(b *bus) {
	p.mu.Lock()
	b.refs--
	last := b.refs == 0
	if last {
		delete(p.buses, b.key)
	}
	p.mu.Unlock()
	if last {
		_ = b.turn.lock(context.Background())
		b.closeLocked()
		b.turn.unlock()
	}
}

// bus is one connection and the queue of transactions on it.
type bus struct {
	key   string
	first string // the device that opened it, for messages
	log   *slog.Logger
	turn  fifo
	refs  int // guarded by Pool.mu

	// guarded by turn
	s        settings // connection settings (of the first device; timeout the longest)
	client   *mb.ModbusClient
	open     bool
	failures int
	retryAt  time.Time
	lastErr  error
	connects int64
}

// raiseTimeout makes the bus wait as long as its slowest device asks.
func (b *bus) raiseTimeout(t time.Duration) {
	_ = b.turn.lock(context.Background())
	defer b.turn.unlock()
	if t > b.s.timeout {
		b.s.timeout = t
		b.closeLocked() // reopened with the new timeout
	}
}

// errBackoff marks a request refused because the connection is waiting
// to be opened again.
var errBackoff = errors.New("waiting to reconnect")

// do runs fn as one transaction for unit: it waits for its turn, opens the
// connection if needed (after connectDelay), and closes it when fn's error
// leaves the line in doubt.
func (b *bus) do(ctx context.Context, unit uint8, connectDelay time.Duration, fn func(c *mb.ModbusClient) error) error {
	if err := b.turn.lock(ctx); err != nil {
		return err
	}
	defer b.turn.unlock()
	if err := b.openLocked(ctx, connectDelay); err != nil {
		return err
	}
	if err := b.client.SetUnitId(unit); err != nil {
		return err
	}
	err := fn(b.client)
	switch classify(err) {
	case failNone, failException:
	case failTimeout:
		// On a serial bus a silent slave says nothing about the line:
		// keep it open for the others. Over TCP a late answer would be
		// taken for the next one's: start afresh.
		if b.s.scheme != "rtu" {
			b.closeLocked()
		}
	default:
		// CRC and framing errors may leave bytes behind; reopening
		// discards them. Broken connections must be reopened anyway.
		b.closeLocked()
	}
	return err
}

// openLocked opens the connection unless it is open or waiting out its
// backoff.
func (b *bus) openLocked(ctx context.Context, connectDelay time.Duration) error {
	if b.open {
		return nil
	}
	if wait := time.Until(b.retryAt); wait > 0 {
		return fmt.Errorf("%w to %s in %s (last attempt: %v)", errBackoff, b.key, wait.Round(time.Millisecond), b.lastErr)
	}
	c, err := mb.NewClient(&mb.ClientConfiguration{
		URL: b.s.scheme + "://" + b.s.addr, Speed: uint(b.s.baud), DataBits: uint(b.s.dataBits),
		Parity:   map[string]uint{"none": mb.PARITY_NONE, "even": mb.PARITY_EVEN, "odd": mb.PARITY_ODD}[b.s.parity],
		StopBits: uint(b.s.stopBits), Timeout: b.s.timeout,
		Logger: log.New(debugWriter{b.log}, "", 0),
	})
	if err == nil {
		err = c.Open()
	}
	if err != nil {
		b.failures++
		wait := b.s.reconnectMin << min(b.failures-1, 16)
		wait = min(wait, b.s.reconnectMax)
		b.retryAt, b.lastErr = time.Now().Add(wait), err
		if b.failures == 1 || b.failures%10 == 0 {
			b.log.Warn("modbus connect failed", "err", err, "failures", b.failures, "retry_in", wait.String())
		}
		return fmt.Errorf("open %s: %w", b.key, err)
	}
	if b.failures > 0 {
		b.log.Info("modbus connected", "after_failures", b.failures)
	}
	b.client, b.open, b.failures, b.lastErr = c, true, 0, nil
	b.connects++
	if connectDelay > 0 {
		t := time.NewTimer(connectDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// closeLocked closes the connection; the next transaction reopens it.
func (b *bus) closeLocked() {
	if b.open {
		_ = b.client.Close()
		b.open = false
	}
}

// closeIdle closes the connection between polls (close_after_poll).
func (b *bus) closeIdle(ctx context.Context) {
	if b.turn.lock(ctx) != nil {
		return
	}
	b.closeLocked()
	b.turn.unlock()
}

// debugWriter sends the library's log lines to slog at debug level.
type debugWriter struct{ log *slog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fifo is a lock granted in the order it was asked for, so that every
// device on a shared bus gets its turn however often the others ask.
type fifo struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{}
}

// lock waits for the turn, or fails when ctx ends first.
func (f *fifo) lock(ctx context.Context) error {
	f.mu.Lock()
	if !f.held {
		f.held = true
		f.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	f.waiters = append(f.waiters, ch)
	f.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		f.mu.Lock()
		for i, w := range f.waiters {
			if w == ch {
				f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
				f.mu.Unlock()
				return ctx.Err()
			}
		}
		f.mu.Unlock()
		// The turn was handed over as ctx ended: pass it on.
		f.unlock()
		return ctx.Err()
	}
}

// unlock hands the turn to the longest waiter.
func (f *fifo) unlock() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.waiters) == 0 {
		f.held = false
		return
	}
	ch := f.waiters[0]
	f.waiters = f.waiters[1:]
	close(ch)
}
