package supervisor

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"
)

// countHandler counts records by message.
type countHandler struct {
	mu    *sync.Mutex
	count map[string]int
	attrs map[string][]slog.Attr
}

func (h countHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count[r.Message]++
	r.Attrs(func(a slog.Attr) bool {
		h.attrs[r.Message] = append(h.attrs[r.Message], a)
		return true
	})
	return nil
}

func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

// TestServiceOutputIsRateLimited: a service that logs 3000 lines as fast as
// it can gets no more into edged's log than the rate allows over the time
// it ran; the rest is counted as dropped, and a warning says so. (The
// service's own session queue holds 64 log calls and drops beyond that, so
// at least 64 reach the host.)
func TestServiceOutputIsRateLimited(t *testing.T) {
	h := countHandler{mu: &sync.Mutex{}, count: map[string]int{}, attrs: map[string][]slog.Attr{}}
	sp := spec("spammy", "logspam")
	sp.Config = []byte(`{"mode":"logspam","n":3000}`)
	const perSecond = 1
	start := time.Now()
	s := run(t, Config{Logger: slog.New(h), LogLinesPerSecond: perSecond, LogBytesPerSecond: 1 << 20}, sp)
	passed := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.count["spam"]
	}
	waitFor(t, "64 spam lines written or dropped", func() bool { return uint64(passed())+status(s, "spammy").LogDropped >= 64 })
	elapsed := time.Since(start)
	n := passed()
	bound := perSecond + int(math.Ceil(elapsed.Seconds()*perSecond)) // the burst, then the rate
	if n > bound {
		t.Errorf("%d spam lines reached the log in %v, the most allowed is %d", n, elapsed, bound)
	}
	st := status(s, "spammy")
	if st.LogDropped < uint64(64-n) || st.LogDroppedB == 0 {
		t.Errorf("log_dropped_lines %d (%d bytes), want at least %d", st.LogDropped, st.LogDroppedB, 64-n)
	}
	h.mu.Lock()
	warnings := h.count["service output over its rate: lines dropped"]
	h.mu.Unlock()
	if warnings < 1 || warnings > 1+int(elapsed/(10*time.Second)) {
		t.Errorf("%d warnings about dropped lines in %v, want one per 10 s", warnings, elapsed)
	}
	t.Logf("%d spam lines passed in %v, %d lines dropped, %d warning(s)", n, elapsed, st.LogDropped, warnings)
}
