package supervisor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Changes says what an Apply did, by service name. Started, Restarted,
// Configured and Unchanged follow the order of the applied specs; Stopped
// is the order the services were stopped in. Configured are the running
// services given their new config live (only their Config changed: see
// Spec.Base), keeping their process.
type Changes struct {
	Started, Restarted, Stopped, Unchanged, Configured []string
}

// gateSlack is added to a service's StartTimeout for its health gate.
const gateSlack = time.Second

// gateStderr is how many of a service's last log lines a gate error quotes.
const gateStderr = 5

// Apply makes specs, in start order (dependencies first), the supervised
// set: start new, health gate, switch, stop old.
//
// It checks every spec first, as New does; an invalid set changes nothing.
// Then, in order: a service with the same name and Version as a running one
// is left alone (it keeps its process and restart count); a running one
// whose Version changed but whose Base (see Spec.Base) did not gets its new
// Config through Configure on its running process (a refusal fails Apply
// with ErrRefused and the service's reason; it keeps its old config and
// process); a new one is started; a changed one (its Version differs) is stopped (gracefully,
// within its StopTimeout) and started with its new spec. Each started
// service must pass its health gate before Apply goes on: running
// (configured) and answering a health check healthy within its StartTimeout
// plus a second. A crash during the gate fails it at once, with the
// service's last error and last log lines. On a failed gate or when ctx
// ends, Apply returns the error at once (wrapping ErrGate for a gate, ctx's
// error for ctx) and Changes up to and including that service; services it
// started stay as they are, the services it had not reached yet and the
// ones to be removed run as before. To roll back, Apply the previous specs:
// that restarts whatever has another version and stops the extras.
//
// Once every new and changed service passed, the services not in specs are
// stopped, in the reverse of their previous order, and Status follows the
// order of specs.
//
// Before Run, Apply only records specs (reporting Changes as if against the
// recorded set) and Run starts them, without gates. After Run's ctx has
// ended it fails with ErrStopped. Apply calls are serialized.
func (s *Supervisor) Apply(ctx context.Context, specs []Spec) (Changes, error) {
	return s.ApplyReport(ctx, specs, nil)
}

// Progress is told of each service Apply starts, restarts or stops (action
// "start", "restart", "configure" or "stop") and returns the func that takes the
// outcome: nil, or the gate's error.
type Progress func(service, action string) (done func(error))

// ApplyReport is Apply telling report (when not nil) what it does, service
// by service, as it goes. A nil Supervisor (a daemon that runs no
// services) takes an empty set and refuses any other.
func (s *Supervisor) ApplyReport(ctx context.Context, specs []Spec, report Progress) (Changes, error) {
	if s == nil {
		if len(specs) > 0 {
			return Changes{}, fmt.Errorf("supervisor: apply %d services: this daemon started without services: restart it to run some", len(specs))
		}
		return Changes{}, nil
	}
	if report == nil {
		report = func(string, string) func(error) { return func(error) {} }
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	n := len(specs)
	specs, err := check(specs)
	if err != nil {
		return Changes{}, fmt.Errorf("supervisor: apply %d services: %w", n, err)
	}
	if err := ctx.Err(); err != nil {
		return Changes{}, fmt.Errorf("supervisor: apply %d services: %w", n, err)
	}
	s.mu.Lock()
	switch s.phase {
	case phaseEnded:
		s.mu.Unlock()
		return Changes{}, fmt.Errorf("supervisor: apply %d services: %w", n, ErrStopped)
	case phaseIdle:
		defer s.mu.Unlock()
		return s.record(specs), nil
	}
	old := slices.Clone(s.services)
	s.mu.Unlock()
	return s.switchTo(ctx, specs, old, report)
}

// record makes specs the set Run will start. The caller holds s.mu.
func (s *Supervisor) record(specs []Spec) Changes {
	var ch Changes
	next := make([]*service, 0, len(specs))
	for _, sp := range specs {
		cur := s.byName[sp.Name]
		switch {
		case cur != nil && cur.spec.Version == sp.Version:
			ch.Unchanged = append(ch.Unchanged, sp.Name)
			next = append(next, cur)
			continue
		case cur != nil:
			ch.Restarted = append(ch.Restarted, sp.Name)
		default:
			ch.Started = append(ch.Started, sp.Name)
		}
		next = append(next, newService(s, sp))
	}
	ch.Stopped = removed(s.services, specs)
	s.setServices(next, nil)
	return ch
}

// removed names the services of old that specs do not name, last first.
func removed(old []*service, specs []Spec) []string {
	keep := make(map[string]bool, len(specs))
	for _, sp := range specs {
		keep[sp.Name] = true
	}
	var out []string
	for _, sv := range slices.Backward(old) {
		if !keep[sv.spec.Name] {
			out = append(out, sv.spec.Name)
		}
	}
	return out
}

// switchTo applies specs to the running set old.
func (s *Supervisor) switchTo(ctx context.Context, specs []Spec, old []*service, report Progress) (Changes, error) {
	log := s.cfg.Logger
	var ch Changes
	prev := make(map[string]*service, len(old))
	for _, sv := range old {
		prev[sv.spec.Name] = sv
	}
	applied := make([]*service, 0, len(specs))
	for _, sp := range specs {
		cur := prev[sp.Name]
		if cur != nil && cur.spec.Version == sp.Version {
			ch.Unchanged = append(ch.Unchanged, sp.Name)
			applied = append(applied, cur)
			continue
		}
		if cur != nil && sp.Base != "" && cur.spec.Base == sp.Base {
			err := cur.reconfigure(ctx, sp)
			if err != errNotLive {
				done := report(sp.Name, "configure")
				if err != nil {
					log.Warn("apply: service refused its new config", "service", sp.Name, "err", err)
					done(err)
					return ch, err
				}
				ch.Configured = append(ch.Configured, sp.Name)
				applied = append(applied, cur)
				done(nil)
				continue
			}
			log.Info("apply: service not running; restarting it for its new config", "service", sp.Name)
		}
		var done func(error)
		if cur != nil {
			ch.Restarted = append(ch.Restarted, sp.Name)
			done = report(sp.Name, "restart")
			log.Info("apply: stopping service for its new version", "service", sp.Name,
				"version", cur.spec.Version, "new_version", sp.Version)
			cur.stop()
		} else {
			ch.Started = append(ch.Started, sp.Name)
			done = report(sp.Name, "start")
		}
		sv := newService(s, sp)
		applied = append(applied, sv)
		s.mu.Lock()
		s.setServices(applied, old)
		s.mu.Unlock()
		if err := s.startLive(sv); err != nil {
			err = fmt.Errorf("supervisor: apply: start service %q: %w", sp.Name, err)
			done(err)
			return ch, err
		}
		log.Info("apply: service started; health gate", "service", sp.Name, "version", sp.Version)
		if err := sv.gate(ctx); err != nil {
			log.Warn("apply: health gate failed", "service", sp.Name, "err", err)
			done(err)
			return ch, err
		}
		done(nil)
	}
	ch.Stopped = removed(old, specs)
	for _, name := range ch.Stopped {
		log.Info("apply: stopping service no longer wanted", "service", name)
		done := report(name, "stop")
		prev[name].stop()
		done(nil)
	}
	s.mu.Lock()
	s.setServices(applied, nil)
	s.mu.Unlock()
	return ch, nil
}

// probeResult is the answer to a health check the gate asked for.
type probeResult struct {
	ok     bool
	detail string
	err    error
}

// gate waits until the service runs and answers a health check healthy.
// It fails at once when the service crashes (or is stopped) and after its
// StartTimeout plus gateSlack.
func (sv *service) gate(ctx context.Context) error {
	const poll, reprobe = 10 * time.Millisecond, 100 * time.Millisecond
	name, limit := sv.spec.Name, sv.spec.StartTimeout+gateSlack
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var (
		reply     chan probeResult // non-nil while a check is out
		last      *probeResult
		nextProbe time.Time
	)
	for {
		sv.mu.Lock()
		state, restarts, lastErr := sv.state, sv.restarts, sv.lastErr
		sv.mu.Unlock()
		// The service is new: any restart is a crash during the gate, even
		// one it has got over by now.
		if restarts > 0 || state == StateBackoff || state == StateFailed {
			return sv.crashError(lastErr)
		}
		if state == StateRunning && reply == nil && !time.Now().Before(nextProbe) {
			r := make(chan probeResult, 1)
			select {
			case sv.probe <- r:
				reply = r
			default: // busy with a batch or a health tick; next poll
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("supervisor: apply: service %q: health gate: %w", name, ctx.Err())
		case <-sv.done:
			return fmt.Errorf("supervisor: apply: service %q stopped during its health gate: %w", name, ErrStopped)
		case <-deadline.C:
			why := "state " + state
			if last != nil && last.err != nil {
				why += ", health check: " + last.err.Error()
			} else if last != nil {
				why += ", unhealthy: " + last.detail
			}
			return fmt.Errorf("supervisor: apply: service %q %w: not running and healthy within %s (%s)", name, ErrGate, limit, why)
		case r := <-reply:
			if r.err == nil && r.ok {
				return nil
			}
			reply, last, nextProbe = nil, &r, time.Now().Add(reprobe)
		case <-tick.C:
		}
	}
}

// crashError names the service, its last error and its last log lines.
func (sv *service) crashError(lastErr string) error {
	msg := "crashed: " + lastErr
	if lines := sv.tail.lines(); len(lines) > 0 {
		msg += "; last log lines: " + strings.Join(lines[max(0, len(lines)-gateStderr):], " | ")
	}
	return fmt.Errorf("supervisor: apply: service %q %w: %s", sv.spec.Name, ErrGate, msg)
}
