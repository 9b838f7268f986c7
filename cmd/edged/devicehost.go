package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/poller"
)

// deviceSet is the polled devices of one workload, each in a slot, with
// their poller.
type deviceSet struct {
	specs   []device
	keys    map[string]string // name → identity fingerprint (identityKey)
	slots   map[string]*slot
	devices []*slot      // in config order
	fresh   []*slot      // the slots this set opens when it is installed
	reconf  []liveChange // kept slots whose drivers take new options live when it is installed
	poller  *poller.Poller
}

// liveChange is a kept slot and the spec whose options its driver takes
// live (Reconfigure).
type liveChange struct {
	slot *slot
	spec device
}

// deviceKey fingerprints a device's whole configuration.
func deviceKey(d DeviceConfig) string {
	b, _ := yaml.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// identityKey fingerprints what a device is: kind, bus, address, pin and
// options (which hold an actuator's safe state). A plan that changes only
// a device's settings (interval, scale) keeps its open driver, so a relay
// keeps its state; any other change hands the device over.
func identityKey(d DeviceConfig) string {
	d.Interval, d.Scale = 0, nil
	return deviceKey(d)
}

// deviceHost runs the polled devices and swaps them for a plan's: it is
// the daemon's "devices" stage.
type deviceHost struct {
	d   *daemon
	log *slog.Logger

	mu    sync.Mutex
	cur   *deviceSet
	swaps chan swapRequest

	// safeFailures counts safe states that failed or overran
	// hardware.safe_timeout (handovers and stops).
	safeFailures atomic.Int64
}

type swapRequest struct {
	set  *deviceSet
	done chan error // the handover's safe-state and close errors
}

func newDeviceHost(d *daemon) *deviceHost {
	return &deviceHost{d: d, log: d.log.With("component", "devices"), cur: &deviceSet{keys: map[string]string{}, slots: map[string]*slot{}},
		swaps: make(chan swapRequest)}
}

// current is the running set.
func (h *deviceHost) current() *deviceSet {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

// openSlot returns the open function of spec's slot: it opens the board
// first when the device needs one (a failure there is the device's open
// error too, retried the same way).
func (h *deviceHost) openSlot(spec device) func() (poller.Device, bool, error) {
	return func() (poller.Device, bool, error) {
		var b *board
		if spec.needsBoard() {
			var err error
			if b, err = h.d.openBoardOnce(); err != nil {
				return nil, false, err
			}
		}
		dev, err := spec.open(b)
		return dev, b != nil && b.Simulated() != nil, err
	}
}

// build prepares the set for specs without touching the running one: a
// device whose identity is unchanged keeps its slot (and its open driver
// and state); new and changed devices get new slots, opened when the set
// is installed.
func (h *deviceHost) build(specs []device) (*deviceSet, error) {
	cur := h.current()
	set := &deviceSet{specs: specs, keys: map[string]string{}, slots: map[string]*slot{}}
	var entries []poller.Entry
	for _, spec := range specs {
		if spec.kind.sensor != nil {
			continue
		}
		key := identityKey(spec.cfg)
		s, ok := cur.slots[spec.cfg.Name]
		if ok && cur.keys[spec.cfg.Name] != key && s.takesLive(cur.spec(spec.cfg.Name), spec) {
			// Only options its driver takes live changed: keep it open.
			set.reconf = append(set.reconf, liveChange{slot: s, spec: spec})
		} else if !ok || cur.keys[spec.cfg.Name] != key {
			s = newSlot(spec, h.openSlot(spec), h.log)
			s.changed = h.poke
			set.fresh = append(set.fresh, s)
		}
		set.keys[spec.cfg.Name], set.slots[spec.cfg.Name] = key, s
		set.devices = append(set.devices, s)
		entries = append(entries, poller.Entry{Device: s, Interval: spec.interval, Scale: spec.scale})
	}
	var err error
	if set.poller, err = poller.New(entries, h.d.sink, poller.Config{Logger: h.d.log.With("component", "poller")}); err != nil {
		return nil, err
	}
	return set, nil
}

// spec is the set's spec of the device called name (zero if none).
func (s *deviceSet) spec(name string) device {
	for _, spec := range s.specs {
		if spec.cfg.Name == name {
			return spec
		}
	}
	return device{}
}

// reconfigure gives the kept slots of set whose options changed their new
// options (Reconfigure); it runs while nothing polls, like handOver.
func (h *deviceHost) reconfigure(set *deviceSet) error {
	var errs []error
	for _, c := range set.reconf {
		if err := bounded(h.d.cfg.Hardware.SafeTimeoutOrDefault(), "reconfigure "+c.slot.Name(), func(context.Context) error {
			return c.slot.reconfigure(c.spec, h.openSlot(c.spec))
		}); err != nil {
			errs = append(errs, err)
			continue
		}
		h.log.Info("device options changed live", "device", c.slot.Name())
	}
	return errors.Join(errs...)
}

// poke has the running set's poller read name now.
func (h *deviceHost) poke(name string) { h.current().poller.Poke(name) }

// actuators are the set's devices that take commands.
func (s *deviceSet) actuators() map[string]commands.Actuator {
	out := map[string]commands.Actuator{}
	for _, sl := range s.devices {
		if sl.isActuator() {
			out[sl.Name()] = sl
		}
	}
	return out
}

// install makes set the running one and opens its new devices; it runs
// while nothing polls (before Run, or between two of its sets). A device
// that does not open stays in the set, unhealthy, and is retried.
func (h *deviceHost) install(set *deviceSet) {
	h.mu.Lock()
	h.cur = set
	h.mu.Unlock()
	for _, s := range set.fresh {
		s.tryOpen() // the slot logs a failure; the poller retries it
	}
	h.d.exec.SetActuators(set.actuators())
}

// handOver puts the devices of old that set does not keep (removed, or
// replaced by a changed device) in their safe state and closes them,
// each bounded by hardware.safe_timeout. It runs before set opens its own, so a
// changed actuator goes old safe → new opened in one step, never both
// open.
func (h *deviceHost) handOver(old, set *deviceSet) error {
	var errs []error
	for _, s := range old.devices {
		if set.slots[s.Name()] == s {
			continue
		}
		if s.hasSafe() {
			if err := bounded(h.d.cfg.Hardware.SafeTimeoutOrDefault(), "safe state of "+s.Name(), s.Safe); err != nil {
				h.safeFailures.Add(1)
				h.log.Error("safe state NOT applied", "device", s.Name(), "why", "handed over by a plan", "err", err)
				errs = append(errs, err)
			} else {
				h.log.Info("safe state applied", "device", s.Name(), "why", "handed over by a plan")
			}
		}
		if err := bounded(h.d.cfg.Hardware.SafeTimeoutOrDefault(), "close "+s.Name(), func(context.Context) error { return s.Close() }); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// swap switches the running devices to specs: devices whose identity is
// unchanged keep running with their new settings, the ones left behind
// are put in their safe state and closed, then the new and changed ones
// are opened. It returns what changed; a changed device is named with how:
// "fan (kept open)" when only its settings changed, "boiler (options
// changed live)" when its driver took its new options without reopening
// (liveConfigurer), "fan (handed over)"
// when the old one went to its safe state and closed and the new one
// opened.
func (h *deviceHost) swap(ctx context.Context, specs []device) (added, changed, removed []string, err error) {
	old := h.current()
	set, err := h.build(specs)
	if err != nil {
		return nil, nil, nil, err
	}
	req := swapRequest{set: set, done: make(chan error, 1)}
	select {
	case h.swaps <- req:
	case <-ctx.Done():
		return nil, nil, nil, ctx.Err() // nothing of set was opened
	}
	err = <-req.done
	for _, spec := range specs {
		name := spec.cfg.Name
		if spec.kind.sensor != nil {
			continue
		}
		if _, ok := old.slots[name]; !ok {
			added = append(added, name)
		} else if old.slots[name] != set.slots[name] {
			changed = append(changed, name+" (handed over)")
		} else if old.keys[name] != set.keys[name] {
			changed = append(changed, name+" (options changed live)")
		} else if !sameSettings(old, set, name) {
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
	if h.d != nil && h.d.history != nil {
		h.d.forgetDevices(removed) // gone from the API and the console
	}
	return added, changed, removed, err
}

// sameSettings reports whether name's full configuration is the same in
// both sets.
func sameSettings(a, b *deviceSet, name string) bool {
	key := func(s *deviceSet) string {
		for _, spec := range s.specs {
			if spec.cfg.Name == name {
				return deviceKey(spec.cfg)
			}
		}
		return ""
	}
	return key(a) == key(b)
}

// safeAll puts every open device of the running set in its safe state,
// each bounded by limit, and reports the ones that did not get there. It
// is the last word on every exit path, whatever state the stages are in.
func (h *deviceHost) safeAll(limit time.Duration, why string) error {
	var errs []error
	for _, s := range h.current().devices {
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

// closeAll closes every device of the running set, each bounded by limit.
func (h *deviceHost) closeAll(limit time.Duration) error {
	var errs []error
	for _, s := range h.current().devices {
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
// own) until ctx ends, switching sets when swap asks.
func (h *deviceHost) Run(ctx context.Context) error {
	for {
		set := h.current()
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
			h.install(req.set)
			req.done <- err
		}
	}
}
