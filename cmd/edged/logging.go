package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync"
)

// newLogger builds the daemon's logger from log.level and log.format.
// Durations are written as strings ("503ms"), floats to 6 significant
// digits, a key given twice (by a With and by the record) once, and under
// systemd (JOURNAL_STREAM set) each line starts with its syslog priority
// ("<4>" for WARN), which journald maps to the entry's priority.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	return newLoggerEnv(c, w, os.Getenv("JOURNAL_STREAM") != "")
}

func newLoggerEnv(c LogConfig, w io.Writer, journald bool) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated already
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: tidyAttr}
	mk := func(w io.Writer) slog.Handler {
		if c.Format == "json" {
			return slog.NewJSONHandler(w, opts)
		}
		return slog.NewTextHandler(w, opts)
	}
	var h slog.Handler
	if journald {
		h = &priorityHandler{w: w, mu: new(sync.Mutex), mk: mk, level: level}
	} else {
		h = mk(w)
	}
	return slog.New(&dedupHandler{next: h})
}

// tidyAttr writes durations as strings and floats without binary noise
// (19.950983468089202 → 19.951, 1.6500000000000001 → 1.65).
func tidyAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.String(a.Key, a.Value.Duration().String())
	case slog.KindFloat64:
		return slog.Float64(a.Key, roundSig(a.Value.Float64(), 6))
	}
	return a
}

// roundSig rounds v to n significant digits.
func roundSig(v float64, n int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', n, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// dedupHandler drops a record's attribute whose key a With already set at
// the top level, so JSON lines never carry a key twice.
type dedupHandler struct {
	next    slog.Handler
	keys    map[string]bool // top-level keys set by With (nil when none)
	grouped bool            // a WithGroup is in force: record keys are nested, no clash
}

func (h *dedupHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *dedupHandler) Handle(ctx context.Context, r slog.Record) error {
	if len(h.keys) == 0 || h.grouped {
		return h.next.Handle(ctx, r)
	}
	clash := false
	r.Attrs(func(a slog.Attr) bool {
		clash = h.keys[a.Key]
		return !clash
	})
	if !clash {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	seen := map[string]bool{}
	r.Attrs(func(a slog.Attr) bool {
		if !h.keys[a.Key] && !seen[a.Key] {
			seen[a.Key] = true
			out.AddAttrs(a)
		}
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *dedupHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := &dedupHandler{next: nil, grouped: h.grouped, keys: h.keys}
	var keep []slog.Attr
	if !h.grouped {
		n.keys = make(map[string]bool, len(h.keys)+len(as))
		for k := range h.keys {
			n.keys[k] = true
		}
		for _, a := range as {
			if !n.keys[a.Key] {
				n.keys[a.Key] = true
				keep = append(keep, a)
			}
		}
	} else {
		keep = as
	}
	n.next = h.next.WithAttrs(keep)
	return n
}

func (h *dedupHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &dedupHandler{next: h.next.WithGroup(name), keys: h.keys, grouped: true}
}

// priorityHandler prefixes each line with its syslog priority for journald
// (sd-daemon(3): "<3>" error, "<4>" warning, "<6>" info, "<7>" debug). It
// formats each record into a buffer with a fresh handler carrying the same
// With/WithGroup chain, then writes prefix and line in one Write.
type priorityHandler struct {
	w     io.Writer
	mu    *sync.Mutex
	mk    func(io.Writer) slog.Handler
	level slog.Level
	ops   []func(slog.Handler) slog.Handler
}

func (h *priorityHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *priorityHandler) Handle(ctx context.Context, r slog.Record) error {
	var buf bytes.Buffer
	buf.WriteString(syslogPriority(r.Level))
	var inner slog.Handler = h.mk(&buf)
	for _, op := range h.ops {
		inner = op(inner)
	}
	if err := inner.Handle(ctx, r); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(buf.Bytes())
	return err
}

func (h *priorityHandler) with(op func(slog.Handler) slog.Handler) *priorityHandler {
	n := *h
	n.ops = append(append([]func(slog.Handler) slog.Handler(nil), h.ops...), op)
	return &n
}

func (h *priorityHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return h.with(func(x slog.Handler) slog.Handler { return x.WithAttrs(as) })
}

func (h *priorityHandler) WithGroup(name string) slog.Handler {
	return h.with(func(x slog.Handler) slog.Handler { return x.WithGroup(name) })
}

// syslogPriority is the sd-daemon prefix for a slog level.
func syslogPriority(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "<3>"
	case l >= slog.LevelWarn:
		return "<4>"
	case l >= slog.LevelInfo:
		return "<6>"
	}
	return "<7>"
}
