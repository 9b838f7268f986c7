package rules

import (
	"time"
)

type kind int

const (
	kindAbove kind = iota
	kindBelow
	kindRateAbove
	kindRateBelow
	kindOffline
)

type state int

const (
	idle         state = iota
	pendingFire        // the condition holds, not yet for long enough
	active             // fired
	pendingClear       // fired; the clearing condition holds, not yet for long enough
)

// resolved is an Action with its defaults applied.
type resolved struct {
	command *Command
	alert   bool
	device  string
	metric  string
	value   float64
}

// rule is one configured rule and its state.
type rule struct {
	name   string
	kind   kind
	metric string // offline rules: the metric that counts, or ""

	enter    float64 // the condition's threshold
	leave    float64 // the clearing threshold
	hasLeave bool    // else clear when the condition no longer holds
	hold     time.Duration
	holdOff  time.Duration // clear.for
	per      time.Duration
	after    time.Duration

	fire, clear resolved

	state    state
	since    time.Time // when the pending condition started to hold
	last     time.Time // the last reading judged
	judged   bool
	lastSeen time.Time // offline rules: the host's time of the last sighting
	hist     []point   // rate rules: readings spanning about per
}

type point struct {
	t time.Time
	v float64
}

// rateSlots is how finely a rate's history samples per: a point is kept
// at most every per/rateSlots, so the history stays under rateSlots+2.
const rateSlots = 32

func newRule(c Rule) *rule {
	r := &rule{name: c.Name}
	device := ""
	if w := c.When; w != nil {
		device = w.Device
		r.hold, r.per = w.For, w.Per
		if r.per == 0 {
			r.per = DefaultPer
		}
		switch {
		case w.Above != nil:
			r.kind, r.enter = kindAbove, *w.Above
		case w.Below != nil:
			r.kind, r.enter = kindBelow, *w.Below
		case w.RateAbove != nil:
			r.kind, r.enter = kindRateAbove, *w.RateAbove
		default:
			r.kind, r.enter = kindRateBelow, *w.RateBelow
		}
	} else {
		device, r.kind, r.metric, r.after = c.Offline.Device, kindOffline, c.Offline.Metric, c.Offline.After
	}
	r.fire = resolve(c.Then, device, "alert_"+c.Name, 1)
	r.clear = resolved{}
	if cl := c.Clear; cl != nil {
		r.holdOff = cl.For
		for _, t := range []*float64{cl.Below, cl.Above, cl.RateBelow, cl.RateAbove} {
			if t != nil {
				r.leave, r.hasLeave = *t, true
			}
		}
		r.clear = resolve(cl.Then, r.fire.device, r.fire.metric, 0)
	}
	if !r.clear.alert && r.fire.alert { // a firing alert is always cleared
		r.clear.alert, r.clear.device, r.clear.metric, r.clear.value = true, r.fire.device, r.fire.metric, 0
	}
	return r
}

func resolve(a Action, device, metric string, value float64) resolved {
	out := resolved{command: a.Command, device: device, metric: metric}
	if al := a.Alert; al != nil {
		out.alert, out.value = true, value
		if al.Device != "" {
			out.device = al.Device
		}
		if al.Metric != "" {
			out.metric = al.Metric
		}
		if al.Value != nil {
			out.value = *al.Value
		}
	}
	return out
}

// holds reports whether x satisfies the condition.
func (r *rule) holds(x float64) bool {
	if r.kind == kindAbove || r.kind == kindRateAbove {
		return x > r.enter
	}
	return x < r.enter
}

// clears reports whether x satisfies the clearing condition.
func (r *rule) clears(x float64) bool {
	switch {
	case !r.hasLeave:
		return !r.holds(x)
	case r.kind == kindAbove || r.kind == kindRateAbove:
		return x < r.leave
	default:
		return x > r.leave
	}
}

// advance applies the transitions that time alone makes by now.
func (r *rule) advance(now time.Time, s *Service) {
	switch {
	case r.kind == kindOffline:
		if r.state == idle && now.Sub(r.lastSeen) >= r.after {
			r.state = active
			r.fired(r.lastSeen.Add(r.after), s)
		}
	case r.state == pendingFire && now.Sub(r.since) >= r.hold:
		r.state = active
		r.fired(r.since.Add(r.hold), s)
	case r.state == pendingClear && now.Sub(r.since) >= r.holdOff:
		r.state = idle
		r.cleared(r.since.Add(r.holdOff), s)
	}
}

// sighted notes a reading of an offline rule's device at the host's now.
func (r *rule) sighted(now time.Time, s *Service) {
	if now.After(r.lastSeen) {
		r.lastSeen = now
	}
	if r.state == active {
		r.state = idle
		r.cleared(now, s)
	}
}

// observe judges the reading v at t of a threshold or rate rule.
func (r *rule) observe(v float64, t time.Time, s *Service) {
	if r.judged && t.Before(r.last) {
		s.counts.OutOfOrder++
		return
	}
	r.judged, r.last = true, t
	s.counts.Judged++
	r.advance(t, s) // a hold that has run out by t was satisfied before this reading
	x := v
	if r.kind == kindRateAbove || r.kind == kindRateBelow {
		var ok bool
		if x, ok = r.rate(v, t); !ok {
			return
		}
	}
	switch r.state {
	case idle:
		if r.holds(x) {
			r.since, r.state = t, pendingFire
			r.advance(t, s)
		}
	case pendingFire:
		if !r.holds(x) {
			r.state = idle
		}
	case active:
		if r.clears(x) {
			r.since, r.state = t, pendingClear
			r.advance(t, s)
		}
	case pendingClear:
		if !r.clears(x) {
			r.state = active
		}
	}
}

// rate records v at t and returns the change since the newest earlier
// reading at least per old, scaled to per; ok is false until there is one.
func (r *rule) rate(v float64, t time.Time) (x float64, ok bool) {
	cut := t.Add(-r.per)
	ref := -1
	for i, p := range r.hist {
		if p.t.After(cut) {
			break
		}
		ref = i
	}
	if ref > 0 {
		r.hist = append(r.hist[:0], r.hist[ref:]...) // older points are no longer needed
		ref = 0
	}
	if ref == 0 {
		if dt := t.Sub(r.hist[0].t); dt > 0 {
			x, ok = (v-r.hist[0].v)*(r.per.Seconds()/dt.Seconds()), true
		}
	}
	if n := len(r.hist); n == 0 || t.Sub(r.hist[n-1].t) >= r.per/rateSlots {
		r.hist = append(r.hist, point{t, v})
	}
	return x, ok
}

func (r *rule) fired(at time.Time, s *Service) {
	s.counts.Fired++
	s.act(r.fire, at)
}

func (r *rule) cleared(at time.Time, s *Service) {
	s.counts.Cleared++
	s.act(r.clear, at)
}
