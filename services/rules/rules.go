package rules

import (
	"fmt"
	"math"
	"time"

	"github.com/edged-gateway/edged/services/internal/series"
)

// Reading is a reading as the service consumes and emits it.
type Reading = series.Reading

// Command is a command the service sends to an actuator.
type Command = series.Command

// Source is the Source of every alert reading the service emits.
const Source = "rules"

// Summary is the rules' counts in a few words (for the health detail).
func (s *Service) Summary() string {
	c := s.counts
	return fmt.Sprintf("%d rules, %d readings judged, %d fired, %d cleared, %d active", len(s.rules), c.Judged, c.Fired, c.Cleared, len(s.Active()))
}

// Stats counts what the service has done since New.
type Stats struct {
	// Judged counts the judgements of a reading by a threshold or rate
	// rule (a reading two rules watch counts twice).
	Judged uint64
	// OutOfOrder counts readings ignored by a rule for being older than
	// the last one it judged.
	OutOfOrder uint64
	// Invalid counts readings ignored for a NaN or infinite value.
	Invalid uint64
	// Fired and Cleared count the rules' transitions.
	Fired, Cleared uint64
}

// Service runs a set of rules. Create it with New.
type Service struct {
	rules    []*rule
	byKey    map[series.Key][]*rule // threshold and rate rules
	byDevice map[string][]*rule     // offline rules
	started  bool
	counts   Stats
	emit     []Reading
	cmds     []Command
}

// New returns a Service for cfg, or the error cfg.Validate gives.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Service{byKey: map[series.Key][]*rule{}, byDevice: map[string][]*rule{}}
	for _, rc := range cfg.Rules {
		r := newRule(rc)
		s.rules = append(s.rules, r)
		if r.kind == kindOffline {
			s.byDevice[rc.Offline.Device] = append(s.byDevice[rc.Offline.Device], r)
		} else {
			k := series.Key{Device: rc.When.Device, Metric: rc.When.Metric}
			s.byKey[k] = append(s.byKey[k], r)
		}
	}
	return s, nil
}

// Stats returns the counters since New.
func (s *Service) Stats() Stats { return s.counts }

// Active returns the names of the rules that have fired and not cleared,
// in configuration order.
func (s *Service) Active() []string {
	var names []string
	for _, r := range s.rules {
		if r.state == active || r.state == pendingClear {
			names = append(names, r.name)
		}
	}
	return names
}

// start counts the first call's now as a sighting of every watched device.
func (s *Service) start(now time.Time) {
	if s.started {
		return
	}
	s.started = true
	for _, r := range s.rules {
		if r.kind == kindOffline {
			r.lastSeen = now
		}
	}
}

// Process judges each reading of batch, in order, by the rules that watch
// it, and returns the alerts and commands of the rules it fired or cleared.
// now is the host's clock, used for offline rules.
func (s *Service) Process(batch []Reading, now time.Time) (emit []Reading, cmds []Command) {
	s.start(now)
	s.emit, s.cmds = nil, nil
	for i := range batch {
		rd := &batch[i]
		for _, r := range s.byDevice[rd.Device] {
			if r.metric == "" || r.metric == rd.Metric {
				r.advance(now, s)
				r.sighted(now, s)
			}
		}
		rs := s.byKey[series.KeyOf(*rd)]
		if len(rs) == 0 {
			continue
		}
		if math.IsNaN(rd.Value) || math.IsInf(rd.Value, 0) {
			s.counts.Invalid++
			continue
		}
		for _, r := range rs {
			r.observe(rd.Value, rd.Time, s)
		}
	}
	return s.emit, s.cmds
}

// Tick applies the transitions time alone makes: holds that have lasted
// their for, devices silent for their after. It returns their actions.
func (s *Service) Tick(now time.Time) (emit []Reading, cmds []Command) {
	s.start(now)
	s.emit, s.cmds = nil, nil
	for _, r := range s.rules {
		r.advance(now, s)
	}
	return s.emit, s.cmds
}

// act records the action a of rule r at t.
func (s *Service) act(a resolved, t time.Time) {
	if a.command != nil {
		s.cmds = append(s.cmds, *a.command)
	}
	if a.alert {
		s.emit = append(s.emit, Reading{Device: a.device, Metric: a.metric, Value: a.value, Time: t, Source: Source})
	}
}
