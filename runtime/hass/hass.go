package hass

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/internal/logevery"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/commands"
)

// Defaults of Config.
const (
	DefaultPrefix      = "homeassistant"
	DefaultMaxDevices  = 256
	DefaultMaxEntities = 64
	DefaultMaxPayload  = 32 << 10
	// maxName bounds a device or metric name that becomes a topic level.
	maxName = 64
	// commandQueue bounds the commands received and not yet run.
	commandQueue = 64
	// maxCommand bounds a command payload from Home Assistant (ON, OFF or
	// a number).
	maxCommand = 64
)

// The platforms a control is shown as.
const (
	PlatformSwitch = "switch"
	PlatformNumber = "number"
)

// Config configures the integration.
type Config struct {
	// Prefix is Home Assistant's discovery prefix; default homeassistant.
	Prefix string
	// Base roots edged's own topics for Home Assistant (states, commands,
	// availability), e.g. edged/gw-1/ha. Required.
	Base string
	// Gateway is the gateway id: the device the others are "via".
	Gateway string
	// Version is edged's version, for the device and origin blocks.
	Version string
	// MaxDevices bounds the devices announced; default 256.
	MaxDevices int
	// MaxEntities bounds the components of one device; default 64.
	MaxEntities int
	// MaxPayload bounds one discovery message, in bytes; default 32Ki.
	MaxPayload int
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Broker is the local broker, as the integration uses it.
type Broker interface {
	// Publish sends a message; qos is 0 or 1.
	Publish(topic string, payload []byte, qos byte, retain bool) error
}

// Executor runs a command on a device (runtime/commands.Executor).
type Executor interface {
	Run(ctx context.Context, device string, c commands.Command) commands.Result
}

// Device is one configured edged device.
type Device struct {
	Name string
	// Kind is the device kind (sim, bme280, gpio-out…): the model.
	Kind string
	// Controls are what commands can set, for actuators.
	Controls []Control
}

// Control is one thing a command sets on an actuator.
type Control struct {
	// Metric is the reading that reports the control's state (gpio-out's
	// "state", pwm's "duty", a Modbus register's metric); the command
	// topic is named after it.
	Metric string
	// Platform is PlatformSwitch (ON/OFF) or PlatformNumber.
	Platform string
	// Min, Max and Step bound a number.
	Min, Max, Step float64
	// Unit of a number, as the readings carry it.
	Unit string
	// Keyed commands carry {"<metric>": value} (Modbus) rather than the
	// bare value.
	Keyed bool
}

// Stats counts what the integration did.
type Stats struct {
	Devices, Entities int
	// Discovery counts discovery messages published (removals included).
	Discovery int64
	// Removed counts devices whose discovery was cleared.
	Removed int64
	// States counts state messages published.
	States int64
	// DroppedDevices, DroppedEntities and Oversized count what the bounds
	// kept out; Invalid counts names that cannot be a topic level.
	DroppedDevices, DroppedEntities, Oversized, Invalid int64
	// Commands counts commands from Home Assistant run; CommandErrors
	// those refused or failed; CommandsDropped those refused because the
	// queue was full or their topic or payload was not a command.
	Commands, CommandErrors, CommandsDropped int64
	// PublishErrors counts publishes the broker refused.
	PublishErrors int64
}

// Integration publishes discovery and states and takes commands.
type Integration struct {
	cfg  Config
	pub  Broker
	exec Executor
	log  *slog.Logger
	lim  *logevery.Limiter

	mu      sync.Mutex
	devices map[string]*devState
	config  map[string]Device
	pushed  bool // an mqttsensor device is configured: keep devices it names
	online  bool // Online was called and Offline not since

	queue chan inbound

	discovery, removed, states, droppedDevices, droppedEntities, oversized, invalid atomic.Int64
	cmds, cmdErrors, cmdDropped, pubErrors                                          atomic.Int64
}

type inbound struct {
	device, metric string
	payload        []byte
}

type devState struct {
	kind     string
	entities map[string]*entity
	order    []string // metrics in the order they came
	dirty    bool     // its discovery message needs publishing
}

type entity struct {
	metric, unit string
	control      *Control
	last         []byte // the latest state message
}

// New checks cfg and returns the integration; nothing is published until
// Online.
func New(cfg Config, pub Broker, exec Executor) (*Integration, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.MaxDevices <= 0 {
		cfg.MaxDevices = DefaultMaxDevices
	}
	if cfg.MaxEntities <= 0 {
		cfg.MaxEntities = DefaultMaxEntities
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = DefaultMaxPayload
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := CheckPrefix(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("home assistant: prefix: %w", err)
	}
	if cfg.Base == "" || strings.ContainsAny(cfg.Base, "+#\x00") {
		return nil, fmt.Errorf("home assistant: base topic %q is not a topic", cfg.Base)
	}
	if cfg.Gateway == "" {
		return nil, errors.New("home assistant: no gateway id")
	}
	if pub == nil || exec == nil {
		return nil, errors.New("home assistant: needs a broker and an executor")
	}
	return &Integration{cfg: cfg, pub: pub, exec: exec, log: cfg.Logger, lim: logevery.New(0),
		devices: map[string]*devState{}, config: map[string]Device{}, queue: make(chan inbound, commandQueue)}, nil
}

// CheckPrefix reports whether p can be the discovery prefix: one or more
// topic levels without wildcards, at most 128 bytes.
func CheckPrefix(p string) error {
	switch {
	case p == "":
		return errors.New("is empty: use homeassistant (Home Assistant's default)")
	case len(p) > 128:
		return fmt.Errorf("is %d bytes: use at most 128", len(p))
	case strings.ContainsAny(p, "+#\x00"):
		return fmt.Errorf("%q has an MQTT wildcard: use plain topic levels such as homeassistant", p)
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		return fmt.Errorf("%q has an empty topic level: use e.g. homeassistant", p)
	}
	return nil
}

// Topics edged listens on: Home Assistant's birth message and commands.
func (h *Integration) BirthTopic() string { return h.cfg.Prefix + "/status" }

// CommandFilter matches every command topic.
func (h *Integration) CommandFilter() string { return h.cfg.Base + "/+/+/set" }

// DiscoveryFilter matches every device discovery message (for Sweep).
func (h *Integration) DiscoveryFilter() string { return h.cfg.Prefix + "/device/+/config" }

// AvailabilityTopic holds "online" while edged runs.
func (h *Integration) AvailabilityTopic() string { return h.cfg.Base + "/status" }

// stateTopic is where a metric's readings go.
func (h *Integration) stateTopic(device, metric string) string {
	return h.cfg.Base + "/" + device + "/" + metric
}

func (h *Integration) gatewayNode() string { return "edged_" + objectID(h.cfg.Gateway) }

func (h *Integration) node(device string) string { return h.gatewayNode() + "_" + objectID(device) }

func (h *Integration) configTopic(node string) string {
	return h.cfg.Prefix + "/device/" + node + "/config"
}

// objectID makes s an id Home Assistant accepts ([a-zA-Z0-9_-]); a name
// that had to change gets a hash of the original, so two names never
// share an id.
func objectID(s string) string {
	var b strings.Builder
	changed := false
	for _, r := range s {
		if r < 0x80 && (r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
			changed = true
		}
	}
	if changed || s == "" {
		f := fnv.New32a()
		f.Write([]byte(s))
		fmt.Fprintf(&b, "_%08x", f.Sum32())
	}
	return b.String()
}

// topicLevel reports whether s can be one topic level of a state or
// command topic.
func topicLevel(s string) bool {
	return s != "" && len(s) <= maxName && !strings.ContainsAny(s, "/+#\x00") && !strings.HasPrefix(s, "$")
}

// SetDevices makes devs the configured devices: their controls are
// announced, and devices that were configured before and are not now lose
// their discovery message. pushed says whether an mqttsensor device is
// configured: the devices its readings named are kept while one is.
func (h *Integration) SetDevices(devs []Device, pushed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	next := map[string]Device{}
	for _, d := range devs {
		next[d.Name] = d
	}
	for name, ds := range h.devices {
		_, was := h.config[name]
		_, is := next[name]
		if is || (!was && (pushed || ds.kind != "mqttsensor")) {
			continue // kept: configured, or named by readings that may still come
		}
		delete(h.devices, name)
		if len(ds.entities) == 0 {
			continue // never announced
		}
		if h.online {
			h.publish(h.configTopic(h.node(name)), nil, true)
		}
		h.removed.Add(1)
		h.log.Info("home assistant: device removed", "device", name, "entities", len(ds.entities))
	}
	h.config, h.pushed = next, pushed
	for _, d := range devs {
		if ds := h.devices[d.Name]; ds != nil {
			ds.kind = d.Kind
		}
		if len(d.Controls) == 0 {
			continue // announced with its first reading
		}
		ds := h.device(d.Name, d.Kind)
		if ds == nil {
			continue
		}
		ds.kind = d.Kind
		for i := range d.Controls {
			c := d.Controls[i]
			if e := h.entity(d.Name, ds, c.Metric); e != nil && (e.control == nil || *e.control != c) {
				e.control, e.unit = &c, c.Unit
				ds.dirty = true
			}
		}
	}
	if h.online {
		h.flush()
	}
}

// device returns name's state, adding it within MaxDevices; h.mu is held.
func (h *Integration) device(name, kind string) *devState {
	if ds, ok := h.devices[name]; ok {
		return ds
	}
	if !topicLevel(name) {
		h.invalid.Add(1)
		h.warn("home assistant: device name cannot be a topic level, not announced", "device", name)
		return nil
	}
	if len(h.devices) >= h.cfg.MaxDevices {
		h.droppedDevices.Add(1)
		h.warn("home assistant: too many devices, not announced", "device", name, "max_devices", h.cfg.MaxDevices)
		return nil
	}
	ds := &devState{kind: kind, entities: map[string]*entity{}}
	h.devices[name] = ds
	return ds
}

// entity returns the device's entity for metric, adding it within
// MaxEntities and MaxPayload; h.mu is held.
func (h *Integration) entity(device string, ds *devState, metric string) *entity {
	if e, ok := ds.entities[metric]; ok {
		return e
	}
	if !topicLevel(metric) {
		h.invalid.Add(1)
		h.warn("home assistant: metric name cannot be a topic level, not announced", "device", device, "metric", metric)
		return nil
	}
	if len(ds.entities) >= h.cfg.MaxEntities {
		h.droppedEntities.Add(1)
		h.warn("home assistant: too many metrics on one device, not announced", "device", device, "metric", metric, "max_entities", h.cfg.MaxEntities)
		return nil
	}
	e := &entity{metric: metric}
	ds.entities[metric] = e
	ds.order = append(ds.order, metric)
	if b, err := h.devicePayload(device, ds); err != nil || len(b) > h.cfg.MaxPayload {
		delete(ds.entities, metric)
		ds.order = ds.order[:len(ds.order)-1]
		h.oversized.Add(1)
		h.warn("home assistant: device's discovery message would pass max_payload, metric not announced", "device", device, "metric", metric, "max_payload", h.cfg.MaxPayload)
		return nil
	}
	ds.dirty = true
	return e
}

// Observe publishes the state of each reading, announcing metrics seen for
// the first time. Call it with durable readings.
func (h *Integration) Observe(rs []reading.Reading) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var buf []byte
	for _, r := range rs {
		ds := h.devices[r.Device]
		if ds == nil && !topicLevel(r.Metric) {
			h.invalid.Add(1)
			h.warn("home assistant: metric name cannot be a topic level, not announced", "device", r.Device, "metric", r.Metric)
			continue
		}
		if ds == nil {
			kind := "mqttsensor"
			if d, ok := h.config[r.Device]; ok {
				kind = d.Kind
			} else if r.Source != "" {
				kind = "service " + r.Source
			}
			if ds = h.device(r.Device, kind); ds == nil {
				continue
			}
		}
		e := ds.entities[r.Metric]
		if e == nil {
			if e = h.entity(r.Device, ds, r.Metric); e == nil {
				continue
			}
			e.unit = r.Unit
		} else if e.control == nil && e.unit != r.Unit {
			e.unit = r.Unit // a sensor that changed unit is announced again
			ds.dirty = true
		}
		buf = statePayload(buf[:0], r)
		e.last = append(e.last[:0], buf...)
		if h.online {
			h.flushDevice(r.Device, ds)
			if h.publish(h.stateTopic(r.Device, r.Metric), e.last, false) {
				h.states.Add(1)
			}
		}
	}
}

// statePayload is one reading as the state topics carry it.
func statePayload(b []byte, r reading.Reading) []byte {
	b = append(b, `{"value":`...)
	b = strconv.AppendFloat(b, r.Value, 'g', -1, 64)
	b = append(b, `,"unit":`...)
	b = strconv.AppendQuote(b, r.Unit)
	b = append(b, `,"time":"`...)
	b = r.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	return append(b, '}')
}

// Online announces edged: availability online, every discovery message
// and the latest states. Call it at start and when Home Assistant comes
// online.
func (h *Integration) Online() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.online = true
	h.publish(h.AvailabilityTopic(), []byte("online"), true)
	h.publishGateway()
	for _, ds := range h.devices {
		ds.dirty = true
	}
	h.flush()
	for name, ds := range h.devices {
		for _, m := range ds.order {
			if e := ds.entities[m]; len(e.last) > 0 && h.publish(h.stateTopic(name, m), e.last, false) {
				h.states.Add(1)
			}
		}
	}
}

// Offline marks edged's devices unavailable (edged stops).
func (h *Integration) Offline() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.online = false
	h.publish(h.AvailabilityTopic(), []byte("offline"), true)
}

// flush publishes the discovery messages that changed; h.mu is held.
func (h *Integration) flush() {
	names := make([]string, 0, len(h.devices))
	for n := range h.devices {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		h.flushDevice(n, h.devices[n])
	}
}

func (h *Integration) flushDevice(name string, ds *devState) {
	if !ds.dirty || len(ds.entities) == 0 {
		return
	}
	b, err := h.devicePayload(name, ds)
	if err != nil {
		h.warn("home assistant: discovery message not built", "device", name, "err", err)
		return
	}
	if h.publish(h.configTopic(h.node(name)), b, true) {
		ds.dirty = false
	}
}

// publish sends one message, discovery and availability at QoS 1; h.mu is
// held. It reports success.
func (h *Integration) publish(topic string, payload []byte, retain bool) bool {
	qos := byte(0)
	if retain {
		qos = 1
	}
	if err := h.pub.Publish(topic, payload, qos, retain); err != nil {
		h.pubErrors.Add(1)
		h.warn("home assistant: publish failed", "topic", topic, "err", err)
		return false
	}
	if strings.HasPrefix(topic, h.cfg.Prefix+"/") {
		h.discovery.Add(1)
	}
	return true
}

func (h *Integration) warn(msg string, args ...any) {
	if n, ok := h.lim.Allow(msg, time.Now()); ok {
		h.log.Warn(msg, append(args, "suppressed", n)...)
	}
}

// Stats returns the counters.
func (h *Integration) Stats() Stats {
	h.mu.Lock()
	devices, entities := len(h.devices), 0
	for _, ds := range h.devices {
		entities += len(ds.entities)
	}
	h.mu.Unlock()
	return Stats{Devices: devices, Entities: entities, Discovery: h.discovery.Load(), Removed: h.removed.Load(), States: h.states.Load(),
		DroppedDevices: h.droppedDevices.Load(), DroppedEntities: h.droppedEntities.Load(), Oversized: h.oversized.Load(), Invalid: h.invalid.Load(),
		Commands: h.cmds.Load(), CommandErrors: h.cmdErrors.Load(), CommandsDropped: h.cmdDropped.Load(), PublishErrors: h.pubErrors.Load()}
}

// Handle takes a message on BirthTopic or CommandFilter. It does not block:
// commands wait in a bounded queue for Run.
func (h *Integration) Handle(topic string, payload []byte) {
	if topic == h.BirthTopic() {
		if string(payload) == "online" {
			h.log.Info("home assistant came online: discovery published again")
			h.Online()
		}
		return
	}
	rest, ok := strings.CutPrefix(topic, h.cfg.Base+"/")
	rest, ok2 := strings.CutSuffix(rest, "/set")
	device, metric, ok3 := strings.Cut(rest, "/")
	if !ok || !ok2 || !ok3 || strings.Contains(metric, "/") {
		h.cmdDropped.Add(1)
		return
	}
	select {
	case h.queue <- inbound{device: device, metric: metric, payload: payload}:
	default:
		h.cmdDropped.Add(1)
		h.warn("home assistant: command dropped, too many queued", "device", device, "metric", metric)
	}
}

// Run announces edged, runs commands until ctx ends, then marks edged
// offline.
func (h *Integration) Run(ctx context.Context) error {
	h.Online()
	defer h.Offline()
	for {
		select {
		case <-ctx.Done():
			return nil
		case in := <-h.queue:
			h.run(ctx, in)
		}
	}
}

// run turns one Home Assistant command into an edged command, runs it and
// publishes the result on the command topic's /result.
func (h *Integration) run(ctx context.Context, in inbound) {
	h.mu.Lock()
	var ctl *Control
	if ds := h.devices[in.device]; ds != nil {
		if e := ds.entities[in.metric]; e != nil && e.control != nil {
			c := *e.control
			ctl = &c
		}
	}
	h.mu.Unlock()
	var res commands.Result
	if ctl == nil {
		res.Error = fmt.Sprintf("%s/%s takes no commands", in.device, in.metric)
	} else if cmd, err := ParseCommand(*ctl, in.payload); err != nil {
		res.Error = err.Error()
	} else {
		cmd.ID = newID()
		res = h.exec.Run(ctx, in.device, cmd)
	}
	h.cmds.Add(1)
	if !res.OK {
		h.cmdErrors.Add(1)
		h.log.Warn("home assistant command refused or failed", "device", in.device, "metric", in.metric, "id", res.ID, "err", res.Error)
	} else {
		h.log.Info("home assistant command executed", "device", in.device, "metric", in.metric, "id", res.ID, "state", res.State)
	}
	b, _ := json.Marshal(res)
	h.mu.Lock()
	h.publish(h.stateTopic(in.device, in.metric)+"/set/result", b, false)
	h.mu.Unlock()
}

// newID is a command id: "ha-" and 16 random hex digits.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "ha-" + hex.EncodeToString(b[:])
}

// ParseCommand turns what Home Assistant publishes on a command topic
// (ON/OFF for a switch, a number for a number) into an edged set command
// for c, without an id. Payloads over 64 bytes, other words and numbers
// out of c's range are errors that say what is allowed.
func ParseCommand(c Control, payload []byte) (commands.Command, error) {
	if len(payload) > maxCommand {
		return commands.Command{}, fmt.Errorf("command payload is %d bytes: a switch takes ON or OFF, a number a number", len(payload))
	}
	s := strings.TrimSpace(string(payload))
	var v any
	switch c.Platform {
	case PlatformSwitch:
		switch strings.ToUpper(s) {
		case "ON":
			v = true
		case "OFF":
			v = false
		default:
			return commands.Command{}, fmt.Errorf("%q is not ON or OFF", s)
		}
	case PlatformNumber:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f != f || f > 1e300 || f < -1e300 {
			return commands.Command{}, fmt.Errorf("%q is not a number", s)
		}
		if f < c.Min || f > c.Max {
			return commands.Command{}, fmt.Errorf("%g is out of range %g..%g", f, c.Min, c.Max)
		}
		v = f
	default:
		return commands.Command{}, fmt.Errorf("platform %q takes no commands", c.Platform)
	}
	if c.Keyed {
		if b, ok := v.(bool); ok {
			v = map[string]any{c.Metric: boolNum(b)}
		} else {
			v = map[string]any{c.Metric: v}
		}
	}
	return commands.Command{Action: "set", Value: v}, nil
}

func boolNum(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
