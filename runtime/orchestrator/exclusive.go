package orchestrator

import (
	"context"
	"time"
)

// Exclusive runs f while no plan applies: it waits for the apply in
// progress (if any) to settle, and no plan starts to apply until f
// returns. The daemon reloads its config file this way, so a reload and a
// plan never switch the gateway at the same time. It returns ctx's error
// if ctx ends before f could start.
func (o *Orchestrator) Exclusive(ctx context.Context, f func()) error {
	select {
	case o.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-o.turn }()
	f()
	return nil
}

// NewReporter returns a Reporter for a change that is not a plan (a config
// reload): it records the steps a Target's Switch reports, passing every
// change to onChange (which may be nil).
func NewReporter(onChange func(Status)) *Reporter {
	return newReporter(Status{State: StateApplying, Steps: []Step{}, Started: time.Now()}, onChange)
}

// Status is what r recorded so far.
func (r *Reporter) Status() Status { return r.status() }
