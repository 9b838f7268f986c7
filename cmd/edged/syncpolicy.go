package main

import (
	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/services/aggregate"
)

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
