package supervisor

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// tail keeps a service's last log lines, for the status of a failed one.
type tail struct {
	mu   sync.Mutex
	max  int
	buf  []string
	next int
}

func newTail(n int) *tail { return &tail{max: n} }

func (t *tail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) < t.max {
		t.buf = append(t.buf, line)
		return
	}
	t.buf[t.next] = line
	t.next = (t.next + 1) % t.max
}

func (t *tail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.buf))
	for i := range len(t.buf) {
		out = append(out, t.buf[(t.next+i)%len(t.buf)])
	}
	return out
}

// teeHandler logs records and keeps them, as text, in a tail.
type teeHandler struct {
	slog.Handler
	t *tail
}

func (h teeHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String())
	b.WriteString(" ")
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.t.add(b.String())
	if h.Handler.Enabled(ctx, r.Level) {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h teeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return teeHandler{h.Handler.WithAttrs(as), h.t}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{h.Handler.WithGroup(name), h.t}
}
