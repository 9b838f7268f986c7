package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"go.yaml.in/yaml/v3"

	"edged/runtime/commands"
	"edged/runtime/poller"
)

// deviceSet is the polled devices of one workload, opened, with their
// poller.
type deviceSet struct {
	specs   []device
	keys    map[string]string // name → fingerprint of its config
	opened  map[string]poller.Device
	devices []poller.Device // in config order
	safe    []safer
	poller  *poller.Poller
}

// deviceKey fingerprints a device's configuration: a device whose key is
// unchanged by a plan stays open and keeps its state.
func deviceKey(d DeviceConfig) string {
	b, _ := yaml.Marshal(d)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// deviceHost runs the polled devices and swaps them for a plan's: it is
// the daemon's "devices" stage.
type deviceHost struct {
	d   *daemon
	log *slog.Logger

	mu    sync.Mutex
	cur   *deviceSet
	swaps chan swapRequest
}

type swapRequest struct {
	set  *deviceSet
	done chan struct{}
}

func newDeviceHost(d *daemon) *deviceHost {
	return &deviceHost{d: d, log: d.log.With("component", "devices"), cur: &deviceSet{keys: map[string]string{}, opened: map[string]poller.Device{}},
		swaps: make(chan swapRequest)}
}

// current is the running set.
func (h *deviceHost) current() *deviceSet {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cur
}

// build opens the devices of specs, reusing the open devices of the
// current set whose configuration did not change. On error it closes what
// it opened and the current set is untouched.
func (h *deviceHost) build(specs []device) (_ *deviceSet, err error) {
	cur := h.current()
	set := &deviceSet{specs: specs, keys: map[string]string{}, opened: map[string]poller.Device{}}
	var fresh []poller.Device
	defer func() {
		if err != nil {
			closeAll(fresh)
		}
	}()
	var entries []poller.Entry
	for _, spec := range specs {
		if spec.kind.sensor != nil {
			continue
		}
		key := deviceKey(spec.cfg)
		dev, ok := cur.opened[spec.cfg.Name]
		if !ok || cur.keys[spec.cfg.Name] != key {
			if spec.needsBoard() && h.d.board == nil {
				b, err := openBoard(h.d.cfg.Hardware, h.d.log.With("component", "hardware"))
				if err != nil {
					return nil, err
				}
				h.d.boardMu.Lock()
				h.d.board = b
				h.d.boardMu.Unlock()
			}
			if dev, err = spec.open(h.d.board); err != nil {
				return nil, err
			}
			fresh = append(fresh, dev)
		}
		set.keys[spec.cfg.Name], set.opened[spec.cfg.Name] = key, dev
		set.devices = append(set.devices, dev)
		entries = append(entries, poller.Entry{Device: dev, Interval: spec.interval, Scale: spec.scale})
		if s, ok := dev.(safer); ok {
			set.safe = append(set.safe, s)
		}
	}
	if set.poller, err = poller.New(entries, h.d.sink, poller.Config{Logger: h.d.log.With("component", "poller")}); err != nil {
		return nil, err
	}
	return set, nil
}

// actuators are the set's devices that take commands.
func (s *deviceSet) actuators() map[string]commands.Actuator {
	out := map[string]commands.Actuator{}
	for _, dev := range s.devices {
		if a, ok := dev.(commands.Actuator); ok {
			out[dev.Name()] = a
		}
	}
	return out
}

// install makes set the running one before Run starts.
func (h *deviceHost) install(set *deviceSet) {
	h.mu.Lock()
	h.cur = set
	h.mu.Unlock()
	h.d.exec.SetActuators(set.actuators())
}

// swap switches the running devices to specs: unchanged devices keep
// running, new and changed ones are opened, and the ones left behind are
// put in their safe state and closed. It returns what changed.
func (h *deviceHost) swap(ctx context.Context, specs []device) (added, changed, removed []string, err error) {
	old := h.current()
	set, err := h.build(specs)
	if err != nil {
		return nil, nil, nil, err
	}
	req := swapRequest{set: set, done: make(chan struct{})}
	select {
	case h.swaps <- req:
	case <-ctx.Done():
		closeAll(newIn(set, old))
		return nil, nil, nil, ctx.Err()
	}
	<-req.done
	for name, key := range set.keys {
		if k, ok := old.keys[name]; !ok {
			added = append(added, name)
		} else if k != key {
			changed = append(changed, name)
		}
	}
	var gone []poller.Device
	for _, dev := range old.devices {
		if set.opened[dev.Name()] != dev {
			if _, ok := set.keys[dev.Name()]; !ok {
				removed = append(removed, dev.Name())
			}
			gone = append(gone, dev)
		}
	}
	var errs []error
	for _, dev := range gone {
		if s, ok := dev.(safer); ok {
			if err := s.Safe(ctx); err != nil {
				errs = append(errs, fmt.Errorf("safe state of %s: %w", dev.Name(), err))
			}
		}
	}
	closeAll(gone)
	slices.Sort(added)
	slices.Sort(changed)
	slices.Sort(removed)
	return added, changed, removed, errors.Join(errs...)
}

// newIn lists the devices of set that old does not have open.
func newIn(set, old *deviceSet) []poller.Device {
	var out []poller.Device
	for _, dev := range set.devices {
		if old.opened[dev.Name()] != dev {
			out = append(out, dev)
		}
	}
	return out
}

func closeAll(devs []poller.Device) {
	for _, dev := range devs {
		if c, ok := dev.(io.Closer); ok {
			c.Close()
		}
	}
}

// Run polls the current set (and runs the devices with loops of their
// own) until ctx ends, switching sets when swap asks.
func (h *deviceHost) Run(ctx context.Context) error {
	for {
		set := h.current()
		sctx, cancel := context.WithCancel(ctx)
		done := make(chan error, len(set.devices)+1)
		n := 1
		go func() { done <- set.poller.Run(sctx) }()
		for _, dev := range set.devices {
			if r, ok := dev.(runner); ok {
				n++
				go func() { done <- r.Run(sctx) }()
			}
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
			h.install(req.set)
			close(req.done)
		}
	}
}
