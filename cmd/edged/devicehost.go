package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/runtime/devicehost"
	"github.com/edged-gateway/edged/runtime/poller"
)

// The polled devices run in runtime/devicehost; what stays here turns the
// config's devices into its specs (names, fingerprints, the open through
// the board) and keeps, beside the running set, every configured device
// (MQTT sensors too, which the host does not poll).

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

// hostSpec is the device host's spec of a polled device, opened by open.
func hostSpec(spec device, open func() (poller.Device, bool, error)) devicehost.Spec {
	return devicehost.Spec{
		Name:     spec.cfg.Name,
		Identity: identityKey(spec.cfg),
		Settings: deviceKey(spec.cfg),
		Interval: spec.interval,
		Scale:    spec.scale,
		Actuator: spec.kind.actuator,
		Options:  spec.options,
		LiveIdentity: func(live []string) (string, error) {
			return liveIdentityKey(spec.cfg, live)
		},
		Open: open,
	}
}

// Unwrap is the Modbus device a readOnly hides the commands of: the device
// host looks through it for the driver's live options.
func (r readOnly) Unwrap() poller.Device { return r.Device }

// deviceSet is the running devices: the host's set and the configured
// devices it was built from, MQTT sensors included.
type deviceSet struct {
	*devicehost.Set
	specs []device
}

// deviceHost runs the polled devices and swaps them for a plan's: it is
// the daemon's "devices" stage (Run, SafeAll, CloseAll come from
// devicehost.Host).
type deviceHost struct {
	*devicehost.Host
	d *daemon

	mu    sync.Mutex
	cur   deviceSet
	built map[*devicehost.Set][]device // sets built and not yet installed, with their devices
}

func newDeviceHost(d *daemon) *deviceHost {
	h := &deviceHost{d: d, built: map[*devicehost.Set][]device{}}
	h.Host = devicehost.New(devicehost.Config{Sink: d.sink, Logger: d.log.With("component", "devices"),
		PollerLogger: d.log.With("component", "poller"), SafeTimeout: d.cfg.Hardware.SafeTimeoutOrDefault(), Installed: h.installed})
	h.cur = deviceSet{Set: h.Current()}
	return h
}

// installed is told each set that becomes the running one: commands go to
// its actuators from now on.
func (h *deviceHost) installed(set *devicehost.Set) {
	h.mu.Lock()
	h.cur = deviceSet{Set: set, specs: h.built[set]}
	delete(h.built, set)
	h.mu.Unlock()
	h.d.exec.SetActuators(set.Actuators())
}

// current is the running set.
func (h *deviceHost) current() deviceSet {
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

// build prepares the set for devs (their polled ones) without touching the
// running one; Install or swap makes it the running one.
func (h *deviceHost) build(devs []device) (*devicehost.Set, error) {
	var specs []devicehost.Spec
	for _, spec := range devs {
		if spec.kind.sensor != nil {
			continue
		}
		specs = append(specs, hostSpec(spec, h.openSlot(spec)))
	}
	set, err := h.Build(specs)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.built[set] = devs
	h.mu.Unlock()
	return set, nil
}

// swap switches the running devices to devs (devicehost.Host.Swap says
// how and what it returns) and forgets what the API and the console show
// of the removed ones.
func (h *deviceHost) swap(ctx context.Context, devs []device) (added, changed, removed []string, err error) {
	set, err := h.build(devs)
	if err != nil {
		return nil, nil, nil, err
	}
	added, changed, removed, err = h.Swap(ctx, set)
	h.mu.Lock()
	delete(h.built, set) // still there when ctx ended before the set ran
	h.mu.Unlock()
	if h.d.history != nil {
		h.d.forgetDevices(removed) // gone from the API and the console
	}
	return added, changed, removed, err
}
