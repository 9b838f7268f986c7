package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/poller"
)

// errSlotClosed is what a device slot answers once it was closed.
var errSlotClosed = errors.New("device closed")

// slot holds one configured device for the device host. The driver is
// opened by open; while that fails (a chip that does not answer, a bus the
// host lacks) the slot reads as an error, "open: <why>", so the poller
// marks it unhealthy and retries it with its back-off, and every other
// device and the rest of the gateway keep running. Once open, the slot is
// the driver: reads, commands, the safe state and a Run loop go to it.
type slot struct {
	spec device
	// open opens the driver and says whether it sits on the simulated
	// board.
	open func() (dev poller.Device, simulated bool, err error)
	// changed is told after a command changed the device, so its new
	// state is read (and reaches the services) at once; may be nil.
	changed func(name string)
	log     *slog.Logger

	mu      sync.Mutex
	dev     poller.Device // nil until opened
	sim     bool          // dev is on the simulated board
	openErr error         // why the last open failed
	closed  bool
	ready   chan struct{} // closed when dev is set or the slot closes
}

func newSlot(spec device, open func() (poller.Device, bool, error), log *slog.Logger) *slot {
	return &slot{spec: spec, open: open, log: log.With("device", spec.cfg.Name), ready: make(chan struct{})}
}

// Name is the configured device name.
func (s *slot) Name() string { return s.spec.cfg.Name }

// driver returns the opened driver, or nil.
func (s *slot) driver() poller.Device {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dev
}

// tryOpen opens the driver unless it is open already; the error says why
// it is not, starting "open: ".
func (s *slot) tryOpen() (poller.Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errSlotClosed
	}
	if s.dev != nil {
		return s.dev, nil
	}
	dev, sim, err := s.open()
	if err != nil {
		first := s.openErr == nil
		s.openErr = err
		if first {
			s.log.Warn("device did not open; retrying with back-off, the rest of the gateway runs", "err", err)
		}
		return nil, fmt.Errorf("open: %w", err)
	}
	if s.openErr != nil {
		s.log.Info("device opened after failing to", "previous_err", s.openErr)
	}
	s.dev, s.sim, s.openErr = dev, sim, nil
	close(s.ready)
	return dev, nil
}

// Read reads the driver, opening it first if it is not open yet.
func (s *slot) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	dev, err := s.tryOpen()
	if err != nil {
		return dst, err
	}
	return dev.Read(ctx, dst)
}

// Simulated reports whether the device's readings are simulated: it sits
// on the simulated board, or its driver says so (the sim kind).
func (s *slot) Simulated() bool {
	s.mu.Lock()
	dev, sim := s.dev, s.sim
	s.mu.Unlock()
	if v, ok := dev.(interface{ Simulated() bool }); ok && v.Simulated() {
		return true
	}
	return sim
}

// Run runs the driver's own loop (gpio-in's edge counter) once the driver
// is open; a driver without one, or a slot that never opens, waits for ctx.
func (s *slot) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.ready:
	}
	if r, ok := s.driver().(runner); ok {
		return r.Run(ctx)
	}
	<-ctx.Done()
	return nil
}

// Check checks a command against the driver; a device that is not open
// refuses every command, saying why.
func (s *slot) Check(action string, value any) error {
	a, err := s.actuator()
	if err != nil {
		return err
	}
	return a.Check(action, value)
}

// Do runs a command on the driver, then has its state read at once.
func (s *slot) Do(ctx context.Context, action string, value any) error {
	a, err := s.actuator()
	if err != nil {
		return err
	}
	err = a.Do(ctx, action, value)
	if s.changed != nil {
		s.changed(s.Name()) // after a failure too: the state may be unknown now
	}
	return err
}

// actuator is the open driver as an actuator; a command to a device that
// is not open tries to open it once.
func (s *slot) actuator() (commands.Actuator, error) {
	dev, err := s.tryOpen()
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", s.Name(), err)
	}
	a, ok := dev.(commands.Actuator)
	if !ok {
		return nil, fmt.Errorf("device %s does not accept commands", s.Name())
	}
	return a, nil
}

// State is the open driver's state after a command, when it can say.
func (s *slot) State() string {
	if st, ok := s.driver().(commands.Stater); ok {
		return st.State()
	}
	return ""
}

// isActuator reports whether the device takes commands: its kind says
// so, or its open driver does.
func (s *slot) isActuator() bool {
	if s.spec.kind.actuator {
		return true
	}
	_, ok := s.driver().(commands.Actuator)
	return ok
}

// Safe puts an open actuator in its safe state. A device that never
// opened drove nothing, so it has nothing to undo.
func (s *slot) Safe(ctx context.Context) error {
	if sf, ok := s.driver().(safer); ok {
		return sf.Safe(ctx)
	}
	return nil
}

// hasSafe reports whether the open driver has a safe state.
func (s *slot) hasSafe() bool {
	_, ok := s.driver().(safer)
	return ok
}

// Close closes the driver, if it opened; a closed slot never opens again.
func (s *slot) Close() error {
	s.mu.Lock()
	dev, was := s.dev, s.closed
	s.closed = true
	if !was && dev == nil {
		close(s.ready)
	}
	s.mu.Unlock()
	if was {
		return nil
	}
	if c, ok := dev.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// liveConfigurer is a driver that takes some of its options while it
// runs: a device whose change is limited to those options (besides its
// interval and scale) keeps its open driver, which gets the new options
// with Reconfigure, instead of being closed and opened again.
type liveConfigurer interface {
	// LiveOptions are the options keys Reconfigure takes.
	LiveOptions() []string
	// Reconfigure makes the driver use options (the kind's checked
	// options value) from its next read; an error leaves it as it was.
	Reconfigure(options any) error
}

// takesLive reports whether the slot's open driver can take the change
// from old to spec live: the two differ only in interval, scale and the
// driver's LiveOptions. A driver that is not open (or not a
// liveConfigurer) reopens as before.
func (s *slot) takesLive(old, spec device) bool {
	lc, ok := liveOf(s.driver())
	if !ok || old.cfg.Name == "" {
		return false
	}
	live := lc.LiveOptions()
	a, errA := liveIdentityKey(old.cfg, live)
	b, errB := liveIdentityKey(spec.cfg, live)
	return errA == nil && errB == nil && a == b
}

// liveOf is dev as a liveConfigurer, looking through the wrapper that
// hides a read-only modbus device's commands.
func liveOf(dev poller.Device) (liveConfigurer, bool) {
	if ro, ok := dev.(readOnly); ok {
		dev = ro.Device
	}
	lc, ok := dev.(liveConfigurer)
	return lc, ok
}

// liveIdentityKey is identityKey without the options keys in live.
func liveIdentityKey(d DeviceConfig, live []string) (string, error) {
	if d.Options.Kind != 0 {
		var opts map[string]yaml.Node
		if err := d.Options.Decode(&opts); err != nil {
			return "", err
		}
		for _, k := range live {
			delete(opts, k)
		}
		var n yaml.Node
		if err := n.Encode(opts); err != nil {
			return "", err
		}
		d.Options = n
	}
	return identityKey(d), nil
}

// reconfigure gives the open driver spec's options (takesLive said it
// takes them); should the slot ever open again, it opens spec.
func (s *slot) reconfigure(spec device, open func() (poller.Device, bool, error)) error {
	lc, ok := liveOf(s.driver())
	if !ok {
		return fmt.Errorf("device %s: its driver does not take options live", s.Name())
	}
	if err := lc.Reconfigure(spec.options); err != nil {
		return err
	}
	s.mu.Lock()
	s.open = open
	s.mu.Unlock()
	return nil
}

// bounded runs f and waits for it at most limit: a driver that ignores its
// context (or blocks in a syscall) cannot hold a shutdown or a swap. The
// goroutine of an f that overruns is left to finish on its own.
func bounded(limit time.Duration, what string, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("%s: panic: %v", what, p)
			}
		}()
		done <- f(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-time.After(limit):
		return fmt.Errorf("%s: did not finish within %s", what, limit)
	}
}
