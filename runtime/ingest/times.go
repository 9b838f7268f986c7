package ingest

import (
	"math"
	"sync"
	"time"

	"edged/reading"
)

// DefaultMaxFuture is how far ahead of the gateway's clock a pushed reading
// may be timed when Config.MaxFuture is 0.
const DefaultMaxFuture = 10 * time.Minute

// maxRefusalNames bounds the per-device refusal counts; past it refusals
// count under "_other".
const maxRefusalNames = 256

// The times the outbox can store: Unix nanoseconds in an int64, the years
// 1678–2262.
var (
	minStorable = time.Unix(0, math.MinInt64+1)
	maxStorable = time.Unix(0, math.MaxInt64)
)

// Refusal is why pushed readings were refused for their time, per device.
type Refusal struct {
	// Readings counts the refused readings of the device.
	Readings uint64
	// Last is the reason of the latest, with its topic (or other origin).
	Last string
}

// refusals counts readings refused for their time, per device.
type refusals struct {
	mu  sync.Mutex
	n   uint64
	per map[string]*Refusal
}

// Judge keeps the readings of rs whose time the gateway can store and
// deliver, in place, and returns them: a zero time (stamped on append) or
// one within [now-MaxAge, now+MaxFuture] and the years 1678–2262. The others
// are refused: counted per device with the reason (Stats.RefusedTime,
// Stats.Refused) and logged at most once per device every 10 s, naming
// origin (the MQTT topic). Sending a refused reading again would not make it
// valid, so callers acknowledge the message (after storing what is kept):
// a sensor with a bad clock never loops.
func (g *Ingest) Judge(origin string, rs []reading.Reading) []reading.Reading {
	now := g.cfg.Now()
	kept := rs[:0]
	for _, r := range rs {
		why := g.judge(r.Time, now)
		if why == "" {
			kept = append(kept, r)
			continue
		}
		g.refuse(origin, r, why, now)
	}
	return kept
}

// judge returns why t is refused, or "".
func (g *Ingest) judge(t, now time.Time) string {
	switch {
	case t.IsZero():
		return ""
	case t.Before(minStorable) || t.After(maxStorable):
		return "outside the years 1678–2262 the outbox can store"
	case g.cfg.MaxFuture > 0 && t.After(now.Add(g.cfg.MaxFuture)):
		return "more than " + g.cfg.MaxFuture.String() + " ahead of the gateway clock (outbox.max_future): is the sensor's clock set?"
	}
	if g.cfg.MaxAge != nil {
		if age := g.cfg.MaxAge(); age > 0 && t.Before(now.Add(-age)) {
			return "older than outbox.max_age " + age.String() + ": the outbox would drop it at once"
		}
	}
	return ""
}

func (g *Ingest) refuse(origin string, r reading.Reading, why string, now time.Time) {
	msg := "time " + r.Time.UTC().Format(time.RFC3339Nano) + " " + why
	if origin != "" {
		msg += " (topic " + origin + ")"
	}
	g.refused.mu.Lock()
	g.refused.n++
	if g.refused.per == nil {
		g.refused.per = map[string]*Refusal{}
	}
	key := r.Device
	if _, ok := g.refused.per[key]; !ok && len(g.refused.per) >= maxRefusalNames {
		key = "_other"
	}
	rf := g.refused.per[key]
	if rf == nil {
		rf = &Refusal{}
		g.refused.per[key] = rf
	}
	rf.Readings++
	rf.Last = msg
	g.refused.mu.Unlock()
	if n, ok := g.logged.Allow(key, now); ok {
		g.cfg.Logger.Warn("reading refused for its time, not stored (acknowledged: resending would not help)",
			"device", r.Device, "metric", r.Metric, "topic", origin, "time", r.Time.UTC().Format(time.RFC3339Nano),
			"reason", why, "suppressed", n)
	}
}

// refusedStats copies the refusal counts.
func (g *Ingest) refusedStats() (uint64, map[string]Refusal) {
	g.refused.mu.Lock()
	defer g.refused.mu.Unlock()
	if g.refused.n == 0 {
		return 0, nil
	}
	out := make(map[string]Refusal, len(g.refused.per))
	for k, v := range g.refused.per {
		out[k] = *v
	}
	return g.refused.n, out
}
