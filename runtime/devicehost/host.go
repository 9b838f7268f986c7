package devicehost

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/poller"
)

// Config is what a Host needs besides its devices.
type Config struct {
	// Sink takes what the poller reads.
	Sink poller.Sink
	// Logger gets the devices' opens, safe states and live changes;
	// PollerLogger is the poller's. Both may be nil.
	Logger       *slog.Logger
	PollerLogger *slog.Logger
	// SafeTimeout bounds each safe state, close and Reconfigure of a swap
	// (SafeAll and CloseAll take their own limit); default 2s.
	SafeTimeout time.Duration
	// Installed, if set, is told every set that becomes the running one,
	// once its new devices were tried: the composition points its command
	// executor at set.Actuators() there.
	Installed func(set *Set)
}

// Set is the polled devices of one workload, each in a slot, with their
// poller. It is built by Host.Build and is read-only afterwards.
type Set struct {
	specs   []Spec
	slots   map[string]*Slot
	devices []*Slot      // in spec order
	fresh   []*Slot      // the slots this set opens when it is installed
	reconf  []liveChange // kept slots whose drivers take new options live when it is installed
	poller  *poller.Poller
}

// liveChange is a kept slot and the spec whose options its driver takes
// live (Reconfigure).
type liveChange struct {
	slot *Slot
	spec Spec
}

// Specs are the set's device specs, in order.
func (s *Set) Specs() []Spec { return s.specs }

// Spec is the set's spec of the device called name (zero if none).
func (s *Set) Spec(name string) Spec {
	for _, spec := range s.specs {
		if spec.Name == name {
			return spec
		}
	}
	return Spec{}
}

// Slot is the slot of the device called name, or nil.
func (s *Set) Slot(name string) *Slot { return s.slots[name] }

// Devices are the set's slots, in spec order.
func (s *Set) Devices() []*Slot { return s.devices }

// Poller is the set's poller (its Stats are the devices' health).
func (s *Set) Poller() *poller.Poller { return s.poller }

// Actuators are the set's devices that take commands.
func (s *Set) Actuators() map[string]commands.Actuator {
	out := map[string]commands.Actuator{}
	for _, sl := range s.devices {
		if sl.isActuator() {
			out[sl.Name()] = sl
		}
	}
	return out
}

// Host runs the polled devices and swaps them for another set.
type Host struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	cur   *Set
	swaps chan swapRequest

	// safeFailures counts safe states that failed or overran their limit
	// (swaps and SafeAll).
	safeFailures atomic.Int64
}

type swapRequest struct {
	set  *Set
	done chan error // the handover's safe-state and close errors
}

// New returns a host with an empty set.
func New(cfg Config) *Host {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollerLogger == nil {
		cfg.PollerLogger = slog.New(slog.DiscardHandler)
	}
	if cfg.SafeTimeout <= 0 {
		cfg.SafeTimeout = 2 * time.Second
	}
	empty := &Set{slots: map[string]*Slot{}}
	empty.poller, _ = poller.New(nil, cfg.Sink, poller.Config{Logger: cfg.PollerLogger})
	return &Host{cfg: cfg, log: cfg.Logger, cur: empty, swaps: make(chan swapRequest)}
}

// Current is the running set.
func (h *Host) Current() *Set {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

// SafeFailures counts the safe states that failed or overran their limit.
func (h *Host) SafeFailures() int64 { return h.safeFailures.Load() }

// Build prepares the set for specs without touching the running one: a
// device whose identity is unchanged keeps its slot (and its open driver
// and state); one whose only change is options its open driver takes live
// keeps it too; new and changed devices get new slots, opened when the
// set is installed.
func (h *Host) Build(specs []Spec) (*Set, error) {
	cur := h.Current()
	set := &Set{specs: specs, slots: map[string]*Slot{}}
	var entries []poller.Entry
	for _, spec := range specs {
		s, ok := cur.slots[spec.Name]
		old := cur.Spec(spec.Name)
		if ok && old.Identity != spec.Identity && s.TakesLive(old, spec) {
			// Only options its driver takes live changed: keep it open.
			set.reconf = append(set.reconf, liveChange{slot: s, spec: spec})
		} else if !ok || old.Identity != spec.Identity {
			s = NewSlot(spec, h.log)
			s.changed = h.poke
			set.fresh = append(set.fresh, s)
		}
		set.slots[spec.Name] = s
		set.devices = append(set.devices, s)
		entries = append(entries, poller.Entry{Device: s, Interval: spec.Interval, Scale: spec.Scale})
	}
	var err error
	if set.poller, err = poller.New(entries, h.cfg.Sink, poller.Config{Logger: h.cfg.PollerLogger}); err != nil {
		return nil, err
	}
	return set, nil
}

// poke has the running set's poller read name now.
func (h *Host) poke(name string) { h.Current().poller.Poke(name) }

// Install makes set the running one and opens its new devices; it runs
// while nothing polls (before Run, or between two of its sets). A device
// that does not open stays in the set, unhealthy, and is retried.
func (h *Host) Install(set *Set) {
	h.mu.Lock()
	h.cur = set
	h.mu.Unlock()
	for _, s := range set.fresh {
		s.Open() // the slot logs a failure; the poller retries it
	}
	if h.cfg.Installed != nil {
		h.cfg.Installed(set)
	}
}

// reconfigure gives the kept slots of set whose options changed their new
// options (Reconfigure); it runs while nothing polls, like handOver.
func (h *Host) reconfigure(set *Set) error {
	var errs []error
	for _, c := range set.reconf {
		if err := bounded(h.cfg.SafeTimeout, "reconfigure "+c.slot.Name(), func(context.Context) error {
			return c.slot.Reconfigure(c.spec)
		}); err != nil {
			errs = append(errs, err)
			continue
		}
		h.log.Info("device options changed live", "device", c.slot.Name())
	}
	return errors.Join(errs...)
}

// handOver puts the devices of old that set does not keep (removed, or
// replaced by a changed device) in their safe state and closes them, each
// bounded by SafeTimeout. It runs before set opens its own, so a changed
// actuator goes old safe → new opened in one step, never both open.
func (h *Host) handOver(old, set *Set) error {
	var errs []error
	for _, s := range old.devices {
		if set.slots[s.Name()] == s {
			continue
		}
		if s.hasSafe() {
			if err := bounded(h.cfg.SafeTimeout, "safe state of "+s.Name(), s.Safe); err != nil {
				h.safeFailures.Add(1)
				h.log.Error("safe state NOT applied", "device", s.Name(), "why", "handed over by a plan", "err", err)
				errs = append(errs, err)
			} else {
				h.log.Info("safe state applied", "device", s.Name(), "why", "handed over by a plan")
			}
		}
		if err := bounded(h.cfg.SafeTimeout, "close "+s.Name(), func(context.Context) error { return s.Close() }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Swap has Run switch to set (from Build) between two runs of the poller:
// devices whose identity is unchanged keep running with their new
// settings, the ones left behind are put in their safe state and closed,
// then the new and changed ones are opened. It returns what changed,
// sorted; a changed device is named with how: "fan (kept open)" when only
// its settings changed, "boiler (options changed live)" when its driver
// took its new options without reopening (LiveConfigurer), "fan (handed
// over)" when the old one went to its safe state and closed and the new
// one opened. err joins the safe-state, close and Reconfigure failures (the
// set is installed all the same), or is ctx's error when ctx ended before
// Run took the set (nothing of it was opened then). Swap needs Run.
func (h *Host) Swap(ctx context.Context, set *Set) (added, changed, removed []string, err error) {
	old := h.Current()
	req := swapRequest{set: set, done: make(chan error, 1)}
	select {
	case h.swaps <- req:
	case <-ctx.Done():
		return nil, nil, nil, ctx.Err() // nothing of set was opened
	}
	err = <-req.done
	for _, spec := range set.specs {
		name := spec.Name
		if _, ok := old.slots[name]; !ok {
			added = append(added, name)
		} else if old.slots[name] != set.slots[name] {
			changed = append(changed, name+" (handed over)")
		} else if old.Spec(name).Identity != spec.Identity {
			changed = append(changed, name+" (options changed live)")
		} else if old.Spec(name).Settings != spec.Settings {
			changed = append(changed, name+" (kept open)")
		}
	}
	for _, s := range old.devices {
		if _, ok := set.slots[s.Name()]; !ok {
			removed = append(removed, s.Name())
		}
	}
	slices.Sort(added)
	slices.Sort(changed)
	slices.Sort(removed)
	return added, changed, removed, err
}

// SafeAll puts every open device of the running set in its safe state,
// each bounded by limit, and reports the ones that did not get there. It
// is the last word on every exit path, whatever state the rest is in.
func (h *Host) SafeAll(limit time.Duration, why string) error {
	var errs []error
	for _, s := range h.Current().devices {
		if !s.hasSafe() {
			continue
		}
		start := time.Now()
		if err := bounded(limit, "safe state of "+s.Name(), s.Safe); err != nil {
			h.safeFailures.Add(1)
			h.log.Error("safe state NOT applied", "device", s.Name(), "why", why, "err", err)
			errs = append(errs, err)
			continue
		}
		h.log.Info("safe state applied", "device", s.Name(), "why", why, "took", time.Since(start).Round(time.Microsecond))
	}
	return errors.Join(errs...)
}

// CloseAll closes every device of the running set, each bounded by limit.
func (h *Host) CloseAll(limit time.Duration) error {
	var errs []error
	for _, s := range h.Current().devices {
		if err := bounded(limit, "close "+s.Name(), func(context.Context) error { return s.Close() }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// goSafely runs f in a goroutine and sends its result, or a panic turned
// into an error, on done.
func goSafely(done chan<- error, what string, f func() error) {
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("%s: panic: %v\n%s", what, p, debug.Stack())
			}
		}()
		done <- f()
	}()
}

// Run polls the current set (and runs the devices with loops of their
// own) until ctx ends, switching sets when Swap asks. A device loop or a
// poller that ends (or panics) before ctx does ends Run with its error.
func (h *Host) Run(ctx context.Context) error {
	for {
		set := h.Current()
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, len(set.devices)+1)
		n := 1
		goSafely(done, "poller", func() error { return set.poller.Run(sctx) })
		for _, s := range set.devices {
			n++
			goSafely(done, "device "+s.Name(), func() error { return s.Run(sctx) })
		}
		wait := func() {
			cancel()
			for ; n > 0; n-- {
				<-done
			}
		}
		select {
		case <-ctx.Done():
			wait()
			return nil
		case err := <-done:
			n--
			wait()
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("devices: %w", err)
		case req := <-h.swaps:
			wait()
			err := errors.Join(h.handOver(set, req.set), h.reconfigure(req.set))
			h.Install(req.set)
			req.done <- err
		}
	}
}
