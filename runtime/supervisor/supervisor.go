package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/internal/logevery"
	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// Service states.
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateBackoff  = "backoff" // crashed; waiting to start again
	StateFailed   = "failed"  // crashed too often; waits for Restart
	StateStopped  = "stopped"
)

// Config tunes the supervisor. The zero value is usable.
type Config struct {
	// BackoffMin and BackoffMax bound the wait before a restart, which
	// doubles with each crash (with ±20% jitter); defaults 500ms and 30s.
	BackoffMin, BackoffMax time.Duration
	// Crashes within Window open the circuit breaker (state failed);
	// defaults 5 in 5m.
	Crashes int
	Window  time.Duration
	// Queue is how many reading batches wait per service before new ones
	// are dropped (and counted); default 64.
	Queue int
	// Budgets enforces budgets; nil runs services without them (status
	// says enforcement none).
	Budgets *budget.Manager
	// Sandbox confines the service processes: their environment, user and
	// exec shim. The zero value only cleans their environment.
	Sandbox Sandbox
	// MaxDepth is the longest service chain: a reading emitted at depth
	// MaxDepth (its Hops) is stored but not handed to another service;
	// each refused hand-off is counted (Status.TooDeep, TooDeep) and
	// logged once per 10 s. Default 4.
	MaxDepth int
	// OnEmit takes a service's emitted readings (they are the service's
	// to keep). It may block: that slows the service down.
	OnEmit func(service string, rs []reading.Reading)
	// OnCommand runs a service's command through the host's command path.
	OnCommand func(ctx context.Context, service string, cmd pluginapi.Command) pluginapi.Result
	// LogLinesPerSecond and LogBytesPerSecond bound each service's output
	// (log calls, stderr and stdout lines) in edged's log; past them lines
	// are dropped, counted and reported once per 10 s. Defaults 50 lines
	// and 16 KiB per second.
	LogLinesPerSecond float64
	LogBytesPerSecond int64
	// Logger receives the supervisor's and the services' log lines.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.BackoffMin <= 0 {
		c.BackoffMin = 500 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 30 * time.Second
	}
	if c.Crashes <= 0 {
		c.Crashes = 5
	}
	if c.Window <= 0 {
		c.Window = 5 * time.Minute
	}
	if c.Queue <= 0 {
		c.Queue = 64
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	c.MaxDepth = min(c.MaxDepth, MaxMaxDepth)
	if c.LogLinesPerSecond <= 0 {
		c.LogLinesPerSecond = 50
	}
	if c.LogBytesPerSecond <= 0 {
		c.LogBytesPerSecond = 16 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Supervisor runs a set of services. The set can change at runtime with
// Apply; Publish, Restart, Status and Apply are safe to call concurrently.
type Supervisor struct {
	cfg     Config
	applyMu sync.Mutex // serializes Apply

	mu       sync.RWMutex
	services []*service // in the order of the last applied specs
	byName   map[string]*service
	phase    phase
	changed  chan struct{} // closed and replaced when the set changes or Run ends

	tooDeep atomic.Uint64     // hand-offs refused for depth, all services
	deepLog *logevery.Limiter // one line per 10 s about them
	starts  chan startReq     // Apply's services for Run to start
	ended   chan struct{}     // closed when Run's ctx has ended
}

type phase int

const (
	phaseIdle    phase = iota // before Run
	phaseRunning              // Run runs its services
	phaseEnded                // Run's ctx has ended
)

// startReq asks Run to start a service; ack is closed once it is started.
type startReq struct {
	sv  *service
	ack chan struct{}
}

// New checks the specs and returns a supervisor that starts them in Run.
// With no specs it supervises nothing until Apply.
func New(cfg Config, specs []Spec) (*Supervisor, error) {
	specs, err := check(specs)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{cfg: cfg.withDefaults(), starts: make(chan startReq), ended: make(chan struct{}), deepLog: logevery.New(0)}
	next := make([]*service, len(specs))
	for i, sp := range specs {
		next[i] = newService(s, sp)
	}
	s.setServices(next, nil)
	return s, nil
}

// check validates specs (each, and that no name is used twice) and returns
// them with their defaults.
func check(specs []Spec) ([]Spec, error) {
	var errs []error
	out := make([]Spec, 0, len(specs))
	seen := map[string]bool{}
	for _, sp := range specs {
		if err := sp.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[sp.Name] {
			errs = append(errs, fmt.Errorf("service %q: the name is used twice", sp.Name))
			continue
		}
		seen[sp.Name] = true
		for _, f := range sp.Subscribe {
			if err := topic.ValidFilter(f); err != nil {
				errs = append(errs, fmt.Errorf("service %q: subscribe %q: %w", sp.Name, f, err))
			}
		}
		out = append(out, sp.withDefaults())
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// setServices makes first, then those of rest not named in first, the
// supervised set, in that order. The caller holds s.mu.
func (s *Supervisor) setServices(first, rest []*service) {
	list := slices.Clone(first)
	byName := make(map[string]*service, len(first)+len(rest))
	for _, sv := range first {
		byName[sv.spec.Name] = sv
	}
	for _, sv := range rest {
		if byName[sv.spec.Name] == nil {
			list = append(list, sv)
			byName[sv.spec.Name] = sv
		}
	}
	s.services, s.byName = list, byName
	s.notifyLocked()
}

// notifyLocked wakes those waiting for the set (or phase) to change. The
// caller holds s.mu.
func (s *Supervisor) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// Run keeps every service running until ctx ends, then stops them all
// (gracefully, each within its StopTimeout) and returns once every
// service's goroutine has ended. Services added by Apply while it runs are
// started by it too. A supervisor runs once: a second Run is an error.
func (s *Supervisor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	s.mu.Lock()
	if s.phase != phaseIdle {
		s.mu.Unlock()
		return errors.New("supervisor: run: already running or ended")
	}
	s.phase = phaseRunning
	for _, sv := range s.services {
		sv.start(ctx, &wg)
	}
	s.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.phase = phaseEnded
			s.notifyLocked()
			s.mu.Unlock()
			close(s.ended)
			wg.Wait()
			return nil
		case req := <-s.starts:
			req.sv.start(ctx, &wg)
			close(req.ack)
		}
	}
}

// startLive has Run start sv.
func (s *Supervisor) startLive(sv *service) error {
	req := startReq{sv: sv, ack: make(chan struct{})}
	select {
	case s.starts <- req:
		<-req.ack
		return nil
	case <-s.ended:
		return ErrStopped
	}
}

// Publish hands durable readings to the services whose subscriptions
// match them. It never blocks: a service whose queue is full loses the
// batch (counted in its status). Deliver is the path that waits instead.
//
// Chains: a service never gets the readings it emitted itself (their
// Source is its name), and a reading whose Hops reached MaxDepth goes to
// no service (counted), so a cycle of services ends.
func (s *Supervisor) Publish(rs []reading.Reading) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sv := range s.services {
		sv.offer(rs)
	}
}

// DefaultMaxDepth is Config.MaxDepth's default; MaxMaxDepth its upper bound.
const (
	DefaultMaxDepth = 4
	MaxMaxDepth     = 64
)

// TooDeep counts the hand-offs to services refused because the reading's
// chain had reached MaxDepth.
func (s *Supervisor) TooDeep() uint64 { return s.tooDeep.Load() }

// MaxDepth is the longest service chain in force.
func (s *Supervisor) MaxDepth() int { return s.cfg.MaxDepth }

// refuseDeep counts a hand-off refused for depth and logs it at most once
// per 10 s.
func (s *Supervisor) refuseDeep(service string, r reading.Reading) {
	s.tooDeep.Add(1)
	if n, ok := s.deepLog.Allow("deep", time.Now()); ok {
		s.cfg.Logger.Warn("service chain too deep: reading not handed on; raise service_chain.max_depth if the chain is meant to be this long",
			"service", service, "device", r.Device, "metric", r.Metric, "source", r.Source, "hops", r.Hops,
			"max_depth", s.cfg.MaxDepth, "suppressed", n, "too_deep_total", s.tooDeep.Load())
	}
}

// Restart closes the breaker of a failed service (or restarts a running
// one) now.
func (s *Supervisor) Restart(name string) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sv := s.byName[name]
	if sv == nil {
		return fmt.Errorf("supervisor: no service %q (services: %v)", name, s.names())
	}
	select {
	case sv.restart <- struct{}{}:
	default:
	}
	return nil
}

// names lists the services; the caller holds s.mu.
func (s *Supervisor) names() []string {
	out := make([]string, len(s.services))
	for i, sv := range s.services {
		out[i] = sv.spec.Name
	}
	return out
}

// Status reports every service, in the order of the last applied specs
// (during an Apply: those it has reached, then the others).
func (s *Supervisor) Status() []Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Status, len(s.services))
	for i, sv := range s.services {
		out[i] = sv.status()
	}
	return out
}

// backoff is the wait before start number n+1 after n crashes in a row.
func (c Config) backoff(n int) time.Duration {
	d := c.BackoffMin
	for i := 1; i < n && d < c.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.BackoffMax)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}
