package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"edged/internal/topic"
	"edged/reading"
	"edged/runtime/budget"
	"edged/runtime/pluginapi"
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
	// OnEmit takes a service's emitted readings (they are the service's
	// to keep). It may block: that slows the service down.
	OnEmit func(service string, rs []reading.Reading)
	// OnCommand runs a service's command through the host's command path.
	OnCommand func(ctx context.Context, service string, cmd pluginapi.Command) pluginapi.Result
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
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Supervisor runs a set of services.
type Supervisor struct {
	cfg      Config
	services []*service
	byName   map[string]*service
}

// New checks the specs and returns a supervisor that starts them in Run.
func New(cfg Config, specs []Spec) (*Supervisor, error) {
	cfg = cfg.withDefaults()
	s := &Supervisor{cfg: cfg, byName: map[string]*service{}}
	var errs []error
	for _, sp := range specs {
		if err := sp.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if s.byName[sp.Name] != nil {
			errs = append(errs, fmt.Errorf("service %q: the name is used twice", sp.Name))
			continue
		}
		for _, f := range sp.Subscribe {
			if err := topic.ValidFilter(f); err != nil {
				errs = append(errs, fmt.Errorf("service %q: subscribe %q: %w", sp.Name, f, err))
			}
		}
		sv := newService(s, sp.withDefaults())
		s.services = append(s.services, sv)
		s.byName[sp.Name] = sv
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Run keeps every service running until ctx ends, then stops them all
// (gracefully, each within its StopTimeout) and returns.
func (s *Supervisor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, sv := range s.services {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sv.loop(ctx)
		}()
	}
	wg.Wait()
	return nil
}

// Publish hands durable readings to the services whose subscriptions
// match them. It never blocks: a service whose queue is full loses the
// batch (counted in its status).
func (s *Supervisor) Publish(rs []reading.Reading) {
	for _, sv := range s.services {
		sv.offer(rs)
	}
}

// Restart closes the breaker of a failed service (or restarts a running
// one) now.
func (s *Supervisor) Restart(name string) error {
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

func (s *Supervisor) names() []string {
	out := make([]string, len(s.services))
	for i, sv := range s.services {
		out[i] = sv.spec.Name
	}
	return out
}

// Status reports every service, in spec order.
func (s *Supervisor) Status() []Status {
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
