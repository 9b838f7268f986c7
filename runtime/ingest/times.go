package ingest

import (
	"math"
	"sync"
	"time"

	"github.com/edged-gateway/edged/reading"
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
	Readings uint64 `json:"readings"`
	// Last is the reason of the latest, with its topic (or other origin).
	Last string `json:"last"`
	// Restamped counts the readings of the device given the receive time
	// instead (time: receive); Last then says why.
	Restamped uint64 `json:"restamped"`
}

// refusals counts readings refused for their time, per device.
type refusals struct {
	mu        sync.Mutex
	n         uint64 // refused
	restamped uint64 // given the receive time
	per       map[string]*Refusal
}

// SensorTimeSuffix names the reading that keeps a sensor's own time when
// JudgeMessage restamped a reading: metric temperature gets
// temperature_sensor_time, its value the sensor's time in Unix seconds.
const SensorTimeSuffix = "_sensor_time"

// Verdict is what JudgeMessage did with one message's readings.
type Verdict struct {
	Refused    int    // readings refused for their time
	Unstorable int    // of them, with a time outside the years the outbox can store
	Restamped  int    // readings given the receive time instead (receive given)
	Reason     string // why the first refused reading was refused
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
	kept, _ := g.JudgeMessage(origin, rs, time.Time{})
	return kept
}

// JudgeMessage is Judge, and says what it did. When receive is not zero
// (the device's choice, time: receive), a reading whose time Judge would
// refuse is kept with the receive time instead, and a second reading
// <metric>_sensor_time (unit s, same device and receive time) keeps the
// sensor's time as Unix seconds, so the cloud still sees what the sensor
// said; restamped readings are counted per device (Refusal.Restamped). rs
// is reused only when nothing is restamped.
func (g *Ingest) JudgeMessage(origin string, rs []reading.Reading, receive time.Time) ([]reading.Reading, Verdict) {
	now := g.cfg.Now()
	var v Verdict
	kept := rs[:0]
	var extra []reading.Reading
	for _, r := range rs {
		why, storable := g.judge(r.Time, now)
		if why == "" {
			kept = append(kept, r)
			continue
		}
		if !receive.IsZero() {
			v.Restamped++
			g.restamp(origin, r, why, now)
			extra = append(extra, reading.Reading{Device: r.Device, Metric: r.Metric + SensorTimeSuffix,
				Value: float64(r.Time.Unix()) + float64(r.Time.Nanosecond())/1e9, Unit: "s", Time: receive, Source: r.Source, Simulated: r.Simulated})
			r.Time = receive
			kept = append(kept, r)
			continue
		}
		if v.Refused == 0 {
			v.Reason = r.Device + "/" + r.Metric + ": time " + r.Time.UTC().Format(time.RFC3339Nano) + " " + why
		}
		v.Refused++
		if !storable {
			v.Unstorable++
		}
		g.refuse(origin, r, why, now)
	}
	if len(extra) > 0 {
		kept = append(append(make([]reading.Reading, 0, len(kept)+len(extra)), kept...), extra...)
	}
	return kept, v
}

// judge returns why t is refused, or "", and whether the outbox could
// store t at all.
func (g *Ingest) judge(t, now time.Time) (string, bool) {
	switch {
	case t.IsZero():
		return "", true
	case t.Before(minStorable) || t.After(maxStorable):
		return "outside the years 1678–2262 the outbox can store", false
	case g.cfg.MaxFuture > 0 && t.After(now.Add(g.cfg.MaxFuture)):
		return "more than " + g.cfg.MaxFuture.String() + " ahead of the gateway clock (outbox.max_future): is the sensor's clock set?", true
	}
	if g.cfg.MaxAge != nil {
		if age := g.cfg.MaxAge(); age > 0 && t.Before(now.Add(-age)) {
			return "older than outbox.max_age " + age.String() + ": the outbox would drop it at once", true
		}
	}
	return "", true
}

func (g *Ingest) refuse(origin string, r reading.Reading, why string, now time.Time) {
	key := g.count(origin, r, why, false)
	if n, ok := g.logged.Allow(key, now); ok {
		g.cfg.Logger.Warn("reading refused for its time, not stored (acknowledged: resending would not help)",
			"device", r.Device, "metric", r.Metric, "topic", origin, "time", r.Time.UTC().Format(time.RFC3339Nano),
			"reason", why, "suppressed", n)
	}
}

// restamp counts and logs a reading given the receive time.
func (g *Ingest) restamp(origin string, r reading.Reading, why string, now time.Time) {
	key := g.count(origin, r, why, true)
	if n, ok := g.logged.Allow(key, now); ok {
		g.cfg.Logger.Warn("reading time replaced by the receive time (time: receive); the sensor's time is kept as "+r.Metric+SensorTimeSuffix,
			"device", r.Device, "metric", r.Metric, "topic", origin, "time", r.Time.UTC().Format(time.RFC3339Nano),
			"reason", why, "suppressed", n)
	}
}

// count adds r to the refusals (or the restamped readings) of its device
// and returns the key it was counted under.
func (g *Ingest) count(origin string, r reading.Reading, why string, restamped bool) string {
	msg := "time " + r.Time.UTC().Format(time.RFC3339Nano) + " " + why
	if restamped {
		msg = "restamped: " + msg
	}
	if origin != "" {
		msg += " (topic " + origin + ")"
	}
	g.refused.mu.Lock()
	defer g.refused.mu.Unlock()
	if restamped {
		g.refused.restamped++
	} else {
		g.refused.n++
	}
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
	if restamped {
		rf.Restamped++
	} else {
		rf.Readings++
	}
	rf.Last = msg
	return key
}

// refusedStats copies the refusal counts.
func (g *Ingest) refusedStats() (uint64, uint64, map[string]Refusal) {
	g.refused.mu.Lock()
	defer g.refused.mu.Unlock()
	if len(g.refused.per) == 0 {
		return 0, 0, nil
	}
	out := make(map[string]Refusal, len(g.refused.per))
	for k, v := range g.refused.per {
		out[k] = *v
	}
	return g.refused.n, g.refused.restamped, out
}
