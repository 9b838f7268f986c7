package supervisor

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/edged-gateway/edged/internal/logevery"
)

// logRate holds one service's output (its log calls, stderr and stdout
// lines) to a number of lines and bytes per second, so a service that
// floods cannot fill the gateway's disk through edged's log or crowd out
// edged's own lines. What is over the rate is dropped and counted; a
// warning says so at most once per logevery.Every, with the counts.
type logRate struct {
	lines, bytes *rate.Limiter
	warn         *logevery.Limiter

	mu                   sync.Mutex
	pendLines, pendBytes uint64 // dropped since the last warning

	dropped, droppedBytes atomic.Uint64
}

func newLogRate(linesPerSecond float64, bytesPerSecond int64) *logRate {
	return &logRate{
		lines: rate.NewLimiter(rate.Limit(linesPerSecond), max(1, int(linesPerSecond))),
		bytes: rate.NewLimiter(rate.Limit(bytesPerSecond), int(max(bytesPerSecond, 4096))),
		warn:  logevery.New(0),
	}
}

// allow takes one line of size bytes from the budget, or counts it dropped.
func (l *logRate) allow(now time.Time, size int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lines.TokensAt(now) >= 1 && l.bytes.TokensAt(now) >= float64(size) {
		l.lines.AllowN(now, 1)
		l.bytes.AllowN(now, size)
		return true
	}
	l.pendLines++
	l.pendBytes += uint64(size)
	l.dropped.Add(1)
	l.droppedBytes.Add(uint64(size))
	return false
}

// report returns the drops to warn about now, if a warning is due.
func (l *logRate) report(now time.Time) (lines, bytes uint64, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pendLines == 0 {
		return 0, 0, false
	}
	if _, ok := l.warn.Allow("", now); !ok {
		return 0, 0, false
	}
	lines, bytes = l.pendLines, l.pendBytes
	l.pendLines, l.pendBytes = 0, 0
	return lines, bytes, true
}

// rateHandler passes a service's records on within its logRate.
type rateHandler struct {
	slog.Handler
	l *logRate
}

func (h rateHandler) Handle(ctx context.Context, r slog.Record) error {
	now := time.Now()
	if !h.l.allow(now, recordSize(r)) {
		if lines, bytes, ok := h.l.report(now); ok {
			w := slog.NewRecord(now, slog.LevelWarn, "service output over its rate: lines dropped", 0)
			w.AddAttrs(slog.Uint64("dropped_lines", lines), slog.Uint64("dropped_bytes", bytes))
			return h.Handler.Handle(ctx, w)
		}
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h rateHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return rateHandler{h.Handler.WithAttrs(as), h.l}
}

func (h rateHandler) WithGroup(name string) slog.Handler {
	return rateHandler{h.Handler.WithGroup(name), h.l}
}

// recordSize is about what a record costs in the log: its message and its
// attributes as text.
func recordSize(r slog.Record) int {
	n := len(r.Message) + 32 // time and level
	r.Attrs(func(a slog.Attr) bool {
		n += len(a.Key) + len(a.Value.String()) + 2
		return true
	})
	return n
}
