package main

import (
	"context"
	"sync/atomic"

	"edged/internal/topic"
	"edged/reading"
	"edged/services/aggregate"
	"edged/sync/outbox"
)

// localOnlyStore is the outbox as the forwarder sees it, minus the
// readings that stay on the gateway: the raw readings that an aggregate
// service with forward_raw: false keeps local, and, when a plan's sync
// policy lists metrics, every reading it does not list. Peek skips them and
// deletes them at once.
type localOnlyStore struct {
	*outbox.Outbox
	policy *atomic.Pointer[cloudPolicy]
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

func (s localOnlyStore) local(r reading.Reading) bool {
	p := s.policy.Load()
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

// Peek returns the oldest readings for the cloud after seq, deleting the
// local-only ones it passes over.
func (s localOnlyStore) Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error) {
	for {
		rs, err := s.Outbox.Peek(after, n, dst)
		if err != nil || len(rs) == 0 {
			return rs, err
		}
		last := rs[len(rs)-1].Seq
		full := len(rs) == n
		var drop []uint64
		out := rs[:0]
		for _, r := range rs {
			if s.local(r) {
				drop = append(drop, r.Seq)
			} else {
				out = append(out, r)
			}
		}
		if len(drop) > 0 {
			if err := s.Outbox.Ack(context.Background(), drop); err != nil {
				return nil, err
			}
		}
		if len(out) > 0 || !full {
			return out, nil
		}
		after, dst = last, out // everything was local: read on
	}
}
