// Package routes runs edged's telemetry routes: each route reads the
// durable log through a cursor of its own (Store: the readings its filter
// and the sync policy pass, the rest passed over and acked) and forwards
// them with a runtime/forwarder of its own to its destination (the cloud
// uplink, another MQTT broker, an HTTP endpoint), so a route that is down
// or slow only makes its own cursor lag: it never delays another route,
// and it catches up, in order, when its destination is back.
//
// The Manager starts and stops routes as the configuration (or a plan)
// changes them; a route whose identity (Route.Key) is unchanged keeps
// running. The cursors themselves and the destinations' links are made by
// cmd/edged (runtime reaches sync only through interfaces).
package routes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/edged-gateway/edged/runtime/forwarder"
)

// Route is one destination: its forwarder over its Store, and whatever
// else it needs running (its link's loop).
type Route struct {
	Name string
	// To is the kind of destination (cloud, mqtt, http), for status.
	To string
	// Key is the route's identity: Set restarts a route whose Key
	// changed and keeps one whose Key is the same.
	Key       string
	Priority  int
	Store     *Store
	Forwarder *forwarder.Forwarder
	// Also run beside the forwarder (e.g. an MQTT link's Run) and stop
	// after it.
	Also []func(ctx context.Context) error
	// Close, if set, is called once the route has stopped.
	Close func()
}

type running struct {
	r      *Route
	cancel context.CancelFunc
	done   chan struct{}
}

// Manager runs a set of routes.
type Manager struct {
	log *slog.Logger

	mu      sync.Mutex
	ctx     context.Context // Run's, nil before Run
	routes  map[string]*Route
	running map[string]*running
}

// NewManager returns a manager with no routes.
func NewManager(log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{log: log, routes: map[string]*Route{}, running: map[string]*running{}}
}

// Set makes rs the routes (calls must not overlap: the planner makes one
// switch at a time): a route whose name and Key are unchanged keeps
// running (its new *Route is closed, never started), a changed or
// removed one is stopped (its forwarder drains what is in flight; what is
// not acknowledged stays in its cursor) and new or changed ones start.
// It returns the names started and stopped.
func (m *Manager) Set(rs []*Route) (started, stopped []string, err error) {
	seen := map[string]bool{}
	for _, r := range rs {
		if r.Name == "" || seen[r.Name] {
			return nil, nil, fmt.Errorf("routes: route name %q empty or given twice", r.Name)
		}
		seen[r.Name] = true
	}
	m.mu.Lock()
	var stop []*running
	for name, old := range m.routes {
		var nr *Route
		for _, r := range rs {
			if r.Name == name {
				nr = r
			}
		}
		if nr != nil && nr.Key == old.Key {
			continue
		}
		if run := m.running[name]; run != nil {
			stop = append(stop, run)
			delete(m.running, name)
		} else if old.Close != nil {
			old.Close()
		}
		delete(m.routes, name)
		stopped = append(stopped, name)
	}
	m.mu.Unlock()
	// Wait for the stopped ones without the lock: status and metrics read
	// the routes meanwhile (a forwarder drains for up to 2 s).
	for _, run := range stop {
		run.cancel()
	}
	for _, run := range stop {
		<-run.done
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		if old := m.routes[r.Name]; old != nil {
			if r != old && r.Close != nil {
				r.Close()
			}
			continue
		}
		m.routes[r.Name] = r
		if m.ctx != nil {
			m.startLocked(r)
			started = append(started, r.Name)
		}
	}
	slices.Sort(started)
	slices.Sort(stopped)
	return started, stopped, nil
}

// Route returns the running (or set) route of that name, or nil.
func (m *Manager) Route(name string) *Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.routes[name]
}

// Routes lists the routes in priority, then name order.
func (m *Manager) Routes() []*Route {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Route, 0, len(m.routes))
	for _, r := range m.routes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Route) int {
		if a.Priority != b.Priority {
			return a.Priority - b.Priority
		}
		return cmpString(a.Name, b.Name)
	})
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *Manager) startLocked(r *Route) {
	ctx, cancel := context.WithCancel(m.ctx)
	run := &running{r: r, cancel: cancel, done: make(chan struct{})}
	m.running[r.Name] = run
	go func() {
		defer close(run.done)
		var wg sync.WaitGroup
		alsoCtx, alsoCancel := context.WithCancel(context.Background())
		for _, f := range r.Also {
			wg.Go(func() {
				if err := f(alsoCtx); err != nil && !errors.Is(err, context.Canceled) {
					m.log.Warn("route stopped", "route", r.Name, "err", err)
				}
			})
		}
		if err := r.Forwarder.Run(ctx); err != nil {
			m.log.Warn("route forwarder stopped", "route", r.Name, "err", err)
		}
		alsoCancel() // the link outlives the forwarder's drain
		wg.Wait()
		if r.Close != nil {
			r.Close()
		}
	}()
}

// Run starts the routes set so far (and those Set adds later) and, when
// ctx ends, stops them all and waits for them.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	m.ctx = ctx
	for _, r := range m.routes {
		m.startLocked(r)
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	runs := make([]*running, 0, len(m.running))
	for _, run := range m.running {
		runs = append(runs, run)
	}
	m.running = map[string]*running{}
	m.mu.Unlock()
	for _, run := range runs {
		run.cancel()
	}
	for _, run := range runs {
		<-run.done
	}
	return nil
}
