package main

import (
	"sync"
	"sync/atomic"

	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/services/aggregate"
	"github.com/edged-gateway/edged/sync/outbox"
)

// localOnlyStore is the outbox as the forwarder sees it, minus the
// readings that stay on the gateway: the raw readings that an aggregate
// service with forward_raw: false keeps local, and, when a plan's sync
// policy lists metrics, every reading it does not list. Peek skips them; it
// never deletes them (the policy decides what the cloud reads, not what is
// kept): they stay until the outbox caps drop them, counted in dropped, so
// a policy rolled back or changed finds them still there.
type localOnlyStore struct {
	*outbox.Outbox
	policy *atomic.Pointer[cloudPolicy]
	skip   *skipMemo
}

// skipMemo remembers the run of local-only readings the last Peek passed
// over, so the forwarder, asking again from the same seq, does not read the
// growing local backlog again on every commit.
type skipMemo struct {
	mu        sync.Mutex
	policy    *cloudPolicy // the policy the run was judged by
	after, to uint64       // Peek(after) may start at to
}

func (m *skipMemo) start(p *cloudPolicy, after uint64) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.policy == p && m.after == after && m.to > after {
		return m.to
	}
	return after
}

func (m *skipMemo) set(p *cloudPolicy, after, to uint64) {
	m.mu.Lock()
	m.policy, m.after, m.to = p, after, to
	m.mu.Unlock()
}

// cloudPolicy decides which readings go to the cloud.
type cloudPolicy struct {
	// local are "device/metric" filters of raw series that stay local;
	// readings that services emit always go.
	local []string
	// only, when set, are the filters of the readings that go (a plan's
	// sync.metrics); the rest stay.
	only []string
}

// empty reports whether the policy sends everything.
func (p *cloudPolicy) empty() bool { return len(p.local) == 0 && len(p.only) == 0 }

// localOnlyFilters lists, for every aggregate service with forward_raw
// false, the series it aggregates: its subscriptions narrowed by its match.
func localOnlyFilters(cfg *Config) []string {
	var out []string
	for _, s := range cfg.Services {
		if s.Kind != "aggregate" {
			continue
		}
		js, err := nodeJSON(&s.Config)
		if err != nil {
			continue
		}
		ac, err := aggregate.DecodeConfig(js)
		if err != nil || ac.ForwardRaw {
			continue
		}
		if len(ac.Match) == 0 {
			out = append(out, s.Subscribe...)
			continue
		}
		// Both the subscription and the match must hold: keep the
		// narrower side of each pair (a match within a subscription).
		for _, m := range ac.Match {
			for _, sub := range s.Subscribe {
				if within(m, sub) {
					out = append(out, m)
				} else if within(sub, m) {
					out = append(out, sub)
				}
			}
		}
	}
	return out
}

// within reports whether every topic filter a matches is matched by b, for
// the filters a subscription and a match can be (levels, + and a final #).
func within(a, b string) bool {
	if a == b || b == "#" {
		return true
	}
	if topic.Match(b, a) { // literal a (or one b's wildcards cover level by level)
		return true
	}
	return false
}

func (s localOnlyStore) local(p *cloudPolicy, r reading.Reading) bool {
	t := r.Device + "/" + r.Metric
	if len(p.only) > 0 && !matchAny(p.only, t) {
		return true
	}
	return r.Source == "" && matchAny(p.local, t)
}

func matchAny(filters []string, t string) bool {
	for _, f := range filters {
		if topic.Match(f, t) {
			return true
		}
	}
	return false
}

// Peek returns the oldest readings for the cloud after seq, passing over the
// local-only ones without deleting them.
func (s localOnlyStore) Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error) {
	p := s.policy.Load()
	from := s.skip.start(p, after)
	for {
		rs, err := s.Outbox.Peek(from, n, dst)
		if err != nil {
			return rs, err
		}
		if len(rs) == 0 {
			s.skip.set(p, after, from)
			return rs, nil
		}
		last := rs[len(rs)-1].Seq
		full := len(rs) == n
		out := rs[:0]
		for _, r := range rs {
			if !s.local(p, r) {
				out = append(out, r)
			}
		}
		if len(out) > 0 {
			return out, nil
		}
		if !full {
			s.skip.set(p, after, last)
			return out, nil
		}
		from, dst = last, out // everything was local: read on
	}
}
