package main

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/services/aggregate"
	"github.com/edged-gateway/edged/services/anomaly"
	"github.com/edged-gateway/edged/services/rules"
)

// Service chains, checked before anything runs: which service's emits
// another subscribes to. A service may emit
//   - what its `emits:` filters say, when it declares them (any service);
//   - else, for a built-in, what its config and subscriptions make it
//     emit: aggregate "<device>/<naming of metric and stat>", anomaly
//     "<device>/<metric>_anomaly_score", rules its alerts' device/metric
//     (a wildcard device in the subscription stays "+"; a wildcard metric
//     becomes "*", any characters: "+/*_mean");
//   - else (a third-party service without `emits:`) nothing the check can
//     see: its chains are bounded at run time only (service_chain.max_depth
//     hops, counted in too_deep).
// A service never receives its own emits (enforced at run time), so a
// service's own edge is no chain. A cycle is refused, named; so is a chain
// of more services than service_chain.max_depth.

// maxEmits bounds a service's emits: declaration; maxChainWork the
// filter pairs the check compares (well under a second).
const (
	maxEmits     = 64
	maxChainWork = 1 << 22
)

// serviceEmits returns the device/metric filters s may emit.
func serviceEmits(s ServiceConfig, cfgJSON []byte) []string {
	if len(s.Emits) > 0 {
		return s.Emits
	}
	split := func(f string) (dev, metric string, literal bool) {
		d, m, ok := strings.Cut(f, "/")
		if !ok || d == "#" {
			return "+", "", false
		}
		if m == "" || strings.ContainsAny(m, "+#") || strings.Contains(m, "/") {
			return d, "", false
		}
		return d, m, true
	}
	var out []string
	switch s.Kind {
	case "aggregate":
		c, err := aggregate.DecodeConfig(cfgJSON)
		if err != nil {
			return nil // reported by the config check
		}
		naming, stats := c.Naming, c.Stats
		if naming == "" {
			naming = aggregate.DefaultNaming
		}
		if len(stats) == 0 {
			stats = []string{aggregate.StatMin, aggregate.StatMax, aggregate.StatMean, aggregate.StatCount, aggregate.StatLast}
		}
		for _, f := range s.Subscribe {
			d, m, lit := split(f)
			if !lit {
				m = "*" // any metric: the names still end (or start) as naming says
			}
			for _, st := range stats {
				out = append(out, d+"/"+strings.NewReplacer("{metric}", m, "{stat}", st).Replace(naming))
			}
		}
	case "anomaly":
		for _, f := range s.Subscribe {
			d, m, lit := split(f)
			if !lit {
				m = "*"
			}
			out = append(out, d+"/"+m+anomaly.Suffix)
		}
	case "rules":
		c, err := rules.DecodeConfig(cfgJSON)
		if err != nil {
			return nil
		}
		for _, r := range c.Rules {
			watched := ""
			switch {
			case r.When != nil:
				watched = r.When.Device
			case r.Offline != nil:
				watched = r.Offline.Device
			}
			for _, a := range []*rules.Alert{r.Then.Alert, clearAlert(r.Clear)} {
				if a == nil {
					continue
				}
				dev, metric := a.Device, a.Metric
				if dev == "" {
					dev = watched
				}
				if metric == "" {
					metric = "alert_" + r.Name
				}
				out = append(out, dev+"/"+metric)
			}
		}
	}
	return out
}

func clearAlert(c *rules.Clear) *rules.Alert {
	if c == nil {
		return nil
	}
	return c.Then.Alert
}

// filtersOverlap reports whether some device/metric topic matches both
// MQTT-style filters a and b. A level of an emit filter may hold "*" (any
// characters, as in a shell glob: "*_mean" is every mean); the other
// filter's level is then taken literally (or "+").
func filtersOverlap(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; ; i++ {
		switch {
		case i < len(as) && as[i] == "#", i < len(bs) && bs[i] == "#":
			return true
		case i == len(as) || i == len(bs):
			return len(as) == len(bs)
		case as[i] == "+" || bs[i] == "+" || as[i] == bs[i]:
		case strings.Contains(as[i], "*"):
			if ok, _ := path.Match(as[i], bs[i]); !ok {
				return false
			}
		case strings.Contains(bs[i], "*"):
			if ok, _ := path.Match(bs[i], as[i]); !ok {
				return false
			}
		default:
			return false
		}
	}
}

// chainEdge is why one service feeds another.
type chainEdge struct {
	to         int
	emit, subs string
}

// checkServiceChains adds a problem for every cycle of services and for a
// chain longer than service_chain.max_depth.
func (c *Config) checkServiceChains(errs *yamlconf.Errors) {
	n := len(c.Services)
	emits := make([][]string, n)
	for i, s := range c.Services {
		p := yamlconf.Index("services", i) + ".emits"
		if len(s.Emits) > maxEmits {
			errs.Add(p, "has %d filters, over %d: use wildcards (\"+/temperature_mean\", \"boiler/#\")", len(s.Emits), maxEmits)
			continue
		}
		bad := false
		for j, f := range s.Emits {
			if err := topic.ValidFilter(f); err != nil {
				errs.Add(yamlconf.Index(p, j), "%v", err)
				bad = true
			}
		}
		if bad {
			continue // the chain check goes on without them
		}
		cfgJSON, err := nodeJSON(&s.Config)
		if err != nil {
			continue // reported
		}
		emits[i] = serviceEmits(s, cfgJSON)
	}
	// Bounded work: every emit filter against every subscribe filter.
	var ne, ns int
	for i, s := range c.Services {
		ne += len(emits[i])
		ns += len(s.Subscribe)
	}
	if ne*ns > maxChainWork {
		errs.Add("services", "%d emit filters × %d subscribe filters is too much for the chain check (at most %d pairs): use fewer, broader filters",
			ne, ns, maxChainWork)
		return
	}
	out := make([][]chainEdge, n)
	for i := range n {
		for j := range n {
			if i == j {
				continue // never its own emits
			}
			if e, ok := feeds(emits[i], c.Services[j].Subscribe); ok {
				e.to = j
				out[i] = append(out[i], e)
			}
		}
	}
	name := func(i int) string { return c.Services[i].Name }
	// Cycles: depth-first, each named once from where it was found.
	const (
		white = iota
		grey
		black
	)
	color := make([]int, n)
	var stack []int
	var stackEdge []chainEdge
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		stack = append(stack, i)
		for _, e := range out[i] {
			switch color[e.to] {
			case grey:
				at := slices.Index(stack, e.to)
				path := []string{}
				var why []string
				for k := at; k < len(stack); k++ {
					path = append(path, name(stack[k]))
					ed := e
					if k+1 < len(stack) {
						ed = stackEdge[k]
					}
					why = append(why, fmt.Sprintf("%s emits %s, which %s subscribes to (%s)", name(stack[k]), ed.emit, name(ed.to), ed.subs))
				}
				path = append(path, name(e.to))
				errs.Add("services", "%s forms a cycle: %s; a reading would go round until service_chain.max_depth: narrow a subscribe filter, or declare the service's emits",
					strings.Join(path, " → "), strings.Join(why, "; "))
				return true
			case white:
				stackEdge = append(stackEdge, e)
				if visit(e.to) {
					return true
				}
				stackEdge = stackEdge[:len(stackEdge)-1]
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return false
	}
	for i := range n {
		if color[i] == white && visit(i) {
			return // one cycle is enough to name; longest chains mean nothing with one
		}
	}
	// No cycle: the longest chain, in services.
	maxDepth := c.ServiceChain.MaxDepth
	if maxDepth <= 0 {
		maxDepth = supervisor.DefaultMaxDepth
	}
	longest := make([][]int, n) // longest chain starting at i
	var chain func(i int) []int
	chain = func(i int) []int {
		if longest[i] != nil {
			return longest[i]
		}
		best := []int{i}
		for _, e := range out[i] {
			if c := chain(e.to); len(c)+1 > len(best) {
				best = append([]int{i}, c...)
			}
		}
		longest[i] = best
		return best
	}
	var worst []int
	for i := range n {
		if c := chain(i); len(c) > len(worst) {
			worst = c
		}
	}
	if len(worst) > maxDepth {
		names := make([]string, len(worst))
		for k, i := range worst {
			names[k] = name(i)
		}
		errs.Add("services", "%s is a chain of %d services, over service_chain.max_depth %d: its last services would never get these readings; shorten the chain or raise service_chain.max_depth (at most %d)",
			strings.Join(names, " → "), len(worst), maxDepth, supervisor.MaxMaxDepth)
	}
}

// feeds reports the first emit filter that one of subs overlaps.
func feeds(emits, subs []string) (chainEdge, bool) {
	for _, e := range emits {
		for _, s := range subs {
			if filtersOverlap(e, s) {
				return chainEdge{emit: e, subs: s}, true
			}
		}
	}
	return chainEdge{}, false
}
