// Package logring keeps the daemon's most recent log records in memory for
// the web console's log tail: a slog.Handler that passes every record on
// and keeps a copy, bounded by count and by bytes (the oldest go first).
// Records are flat text: message, level, time and "key=value" attributes;
// one record's message and attributes are cut at MaxRecordText bytes.
package logring

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxRecordText bounds one record's message and its attributes, each.
const MaxRecordText = 2048

// Config bounds the ring. The zero value is usable.
type Config struct {
	// MaxRecords is how many records are kept; default 1000.
	MaxRecords int
	// MaxBytes bounds the text of the records kept; default 512 KiB.
	MaxBytes int
}

// Record is one log record as the API serves it.
type Record struct {
	Seq   uint64    `json:"seq"`
	Time  time.Time `json:"ts"`
	Level string    `json:"level"` // DEBUG, INFO, WARN, ERROR
	Msg   string    `json:"msg"`
	Attrs string    `json:"attrs"` // key=value …, values quoted when they hold spaces
	level slog.Level
}

func (r Record) size() int { return len(r.Msg) + len(r.Attrs) + 64 }

// Ring holds the records; safe for concurrent use.
type Ring struct {
	cfg     Config
	mu      sync.Mutex
	buf     []Record // oldest first
	bytes   int
	next    uint64 // the next record's seq
	evicted uint64
}

// New returns an empty ring.
func New(cfg Config) *Ring {
	if cfg.MaxRecords <= 0 {
		cfg.MaxRecords = 1000
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 512 << 10
	}
	return &Ring{cfg: cfg, next: 1}
}

func (g *Ring) add(r Record) {
	g.mu.Lock()
	defer g.mu.Unlock()
	r.Seq = g.next
	g.next++
	g.buf = append(g.buf, r)
	g.bytes += r.size()
	drop := 0
	for len(g.buf)-drop > g.cfg.MaxRecords || (g.bytes > g.cfg.MaxBytes && len(g.buf)-drop > 1) {
		g.bytes -= g.buf[drop].size()
		drop++
	}
	if drop > 0 {
		g.evicted += uint64(drop)
		g.buf = append(g.buf[:0:0], g.buf[drop:]...)
	}
}

// Query selects records.
type Query struct {
	// After returns only records with a larger seq (0: from the oldest).
	After uint64
	// Level is the lowest level returned.
	Level slog.Level
	// Text, when set, keeps records whose message or attributes contain it
	// (case-insensitive).
	Text string
	// Limit is the most records returned (the newest of those matching);
	// at most and by default 500.
	Limit int
}

// MaxLimit is the most records one Query returns.
const MaxLimit = 500

// Result is a Query's answer.
type Result struct {
	Records []Record `json:"records"`
	// Next is the cursor for the next poll: pass it as after.
	Next uint64 `json:"next"`
	// Evicted counts records the bounds pushed out since start.
	Evicted uint64 `json:"evicted"`
}

// Query returns the matching records, oldest first.
func (g *Ring) Query(q Query) Result {
	if q.Limit <= 0 || q.Limit > MaxLimit {
		q.Limit = MaxLimit
	}
	text := strings.ToLower(q.Text)
	g.mu.Lock()
	defer g.mu.Unlock()
	res := Result{Records: []Record{}, Next: g.next - 1, Evicted: g.evicted}
	if q.After > res.Next { // a cursor from before a restart
		q.After = 0
	}
	for i := len(g.buf) - 1; i >= 0 && len(res.Records) < q.Limit; i-- {
		r := g.buf[i]
		if r.Seq <= q.After {
			break
		}
		if r.level < q.Level {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(r.Msg), text) && !strings.Contains(strings.ToLower(r.Attrs), text) {
			continue
		}
		res.Records = append(res.Records, r)
	}
	for i, j := 0, len(res.Records)-1; i < j; i, j = i+1, j-1 {
		res.Records[i], res.Records[j] = res.Records[j], res.Records[i]
	}
	return res
}

// Handler passes records on to next and keeps a copy in the ring.
func (g *Ring) Handler(next slog.Handler) slog.Handler { return &handler{ring: g, next: next} }

type handler struct {
	ring   *Ring
	next   slog.Handler
	prefix string // attributes from WithAttrs, formatted
	group  string // "a.b." from WithGroup
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	r.Attrs(func(a slog.Attr) bool {
		appendAttr(&b, h.group, a)
		return b.Len() < MaxRecordText
	})
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	h.ring.add(Record{Time: t, Level: r.Level.String(), level: r.Level, Msg: cut(r.Message), Attrs: cut(b.String())})
	return h.next.Handle(ctx, r)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range as {
		appendAttr(&b, h.group, a)
	}
	return &handler{ring: h.ring, next: h.next.WithAttrs(as), prefix: cut(b.String()), group: h.group}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{ring: h.ring, next: h.next.WithGroup(name), prefix: h.prefix, group: h.group + name + "."}
}

func appendAttr(b *strings.Builder, group string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := group
		if a.Key != "" {
			g += a.Key + "."
		}
		for _, sub := range v.Group() {
			appendAttr(b, g, sub)
		}
		return
	}
	if a.Equal(slog.Attr{}) {
		return
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(group)
	b.WriteString(a.Key)
	b.WriteByte('=')
	s := v.String()
	if v.Kind() == slog.KindDuration {
		s = v.Duration().String()
	}
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		s = strconv.Quote(s)
	}
	b.WriteString(s)
}

// cut bounds s to MaxRecordText bytes, on a rune boundary.
func cut(s string) string {
	if len(s) <= MaxRecordText {
		return s
	}
	i := MaxRecordText
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
