package hass

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/commands"
)

// message is one publish the fake broker saw.
type message struct {
	topic   string
	payload string
	qos     byte
	retain  bool
}

// broker records publishes; it is the Broker contract's fake.
type broker struct {
	mu   sync.Mutex
	msgs []message
	fail bool
}

func (b *broker) Publish(topic string, payload []byte, qos byte, retain bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail {
		return fmt.Errorf("broker down")
	}
	b.msgs = append(b.msgs, message{topic, string(payload), qos, retain})
	return nil
}

// take returns the publishes since the last take.
func (b *broker) take() []message {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.msgs
	b.msgs = nil
	return out
}

// on returns the last publish on topic among ms.
func on(ms []message, topic string) (message, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].topic == topic {
			return ms[i], true
		}
	}
	return message{}, false
}

// executor records the commands it runs.
type executor struct {
	mu  sync.Mutex
	ran []string
}

func (e *executor) Run(_ context.Context, device string, c commands.Command) commands.Result {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, _ := json.Marshal(c.Value)
	e.ran = append(e.ran, device+" "+c.Action+" "+string(v))
	return commands.Result{ID: c.ID, OK: true, State: "on"}
}

func newTest(t *testing.T, cfg Config) (*Integration, *broker, *executor) {
	t.Helper()
	b, e := &broker{}, &executor{}
	if cfg.Base == "" {
		cfg.Base = "edged/gw/ha"
	}
	cfg.Gateway, cfg.Version = "gw", "1.2.3"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(cfg, b, e)
	if err != nil {
		t.Fatal(err)
	}
	return h, b, e
}

func decode(t *testing.T, m message) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(m.payload), &v); err != nil {
		t.Fatalf("%s: %v: %s", m.topic, err, m.payload)
	}
	return v
}

func TestDiscoveryAnnouncesControlsAtOnceAndSensorsOnTheirFirstReading(t *testing.T) {
	h, b, _ := newTest(t, Config{})
	h.SetDevices([]Device{{Name: "fan", Kind: "gpio-out", Controls: []Control{{Metric: "state", Platform: PlatformSwitch}}},
		{Name: "env", Kind: "bme280"}}, false)
	if ms := b.take(); len(ms) != 0 {
		t.Fatalf("published before Online: %v", ms)
	}
	h.Online()
	ms := b.take()
	avail, ok := on(ms, "edged/gw/ha/status")
	if !ok || avail.payload != "online" || !avail.retain || avail.qos != 1 {
		t.Fatalf("availability: %+v", avail)
	}
	gw, ok := on(ms, "homeassistant/device/edged_gw/config")
	if !ok || !gw.retain || gw.qos != 1 {
		t.Fatalf("gateway discovery: %+v", gw)
	}
	fan, ok := on(ms, "homeassistant/device/edged_gw_fan/config")
	if !ok || !fan.retain || fan.qos != 1 {
		t.Fatalf("fan discovery: %+v in %v", fan, ms)
	}
	doc := decode(t, fan)
	dev := doc["dev"].(map[string]any)
	if dev["name"] != "fan" || dev["mf"] != "edged" || dev["mdl"] != "gpio-out" || dev["via_device"] != "edged_gw" || dev["sw"] != "1.2.3" {
		t.Errorf("device block %v", dev)
	}
	sw := doc["cmps"].(map[string]any)["state"].(map[string]any)
	if sw["p"] != "switch" || sw["cmd_t"] != "edged/gw/ha/fan/state/set" || sw["stat_t"] != "edged/gw/ha/fan/state" || sw["uniq_id"] != "edged_gw_fan_state" {
		t.Errorf("switch %v", sw)
	}
	if _, ok := on(ms, "homeassistant/device/edged_gw_env/config"); ok {
		t.Fatal("env announced before it had a reading")
	}

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h.Observe([]reading.Reading{{Device: "env", Metric: "temperature", Value: 21.5, Unit: "C", Time: at, Seq: 7},
		{Device: "env", Metric: "pressure", Value: 1013.2, Unit: "hPa", Time: at, Seq: 8},
		{Device: "fan", Metric: "state", Value: 1, Time: at, Seq: 9}})
	ms = b.take()
	env, ok := on(ms, "homeassistant/device/edged_gw_env/config")
	if !ok {
		t.Fatalf("env not announced: %v", ms)
	}
	cmps := decode(t, env)["cmps"].(map[string]any)
	temp := cmps["temperature"].(map[string]any)
	if temp["p"] != "sensor" || temp["unit_of_meas"] != "°C" || temp["dev_cla"] != "temperature" || temp["stat_cla"] != "measurement" || temp["val_tpl"] != "{{ value_json.value }}" {
		t.Errorf("temperature %v", temp)
	}
	if p := cmps["pressure"].(map[string]any); p["unit_of_meas"] != "hPa" || p["dev_cla"] != "pressure" {
		t.Errorf("pressure %v", p)
	}
	st, ok := on(ms, "edged/gw/ha/env/temperature")
	if !ok || st.retain || st.payload != `{"value":21.5,"unit":"C","time":"2026-01-02T03:04:05Z","seq":7}` {
		t.Errorf("state %+v", st)
	}
	if _, ok := on(ms, "homeassistant/device/edged_gw_fan/config"); ok {
		t.Error("the fan's unchanged discovery was published again on a reading")
	}
	// A second reading publishes its state, and no discovery.
	h.Observe([]reading.Reading{{Device: "env", Metric: "temperature", Value: 22, Unit: "C", Time: at, Seq: 10}})
	if ms := b.take(); len(ms) != 1 || ms[0].topic != "edged/gw/ha/env/temperature" {
		t.Errorf("second reading published %v", ms)
	}

	// Home Assistant's birth: everything again, with the last states.
	h.Handle("homeassistant/status", []byte("online"))
	ms = b.take()
	for _, topic := range []string{"edged/gw/ha/status", "homeassistant/device/edged_gw/config", "homeassistant/device/edged_gw_fan/config",
		"homeassistant/device/edged_gw_env/config", "edged/gw/ha/env/temperature", "edged/gw/ha/fan/state"} {
		if _, ok := on(ms, topic); !ok {
			t.Errorf("birth did not republish %s", topic)
		}
	}
	h.Handle("homeassistant/status", []byte("offline"))
	if ms := b.take(); len(ms) != 0 {
		t.Errorf("Home Assistant going offline published %v", ms)
	}
	h.Offline()
	if m, ok := on(b.take(), "edged/gw/ha/status"); !ok || m.payload != "offline" || !m.retain {
		t.Errorf("offline: %+v", m)
	}
}

func TestDevicesThatLeaveLoseTheirDiscovery(t *testing.T) {
	h, b, _ := newTest(t, Config{})
	h.SetDevices([]Device{{Name: "fan", Kind: "gpio-out", Controls: []Control{{Metric: "state", Platform: PlatformSwitch}}},
		{Name: "lan", Kind: "mqttsensor"}}, true)
	h.Online()
	h.Observe([]reading.Reading{{Device: "kitchen", Metric: "t", Value: 1, Unit: "C"}, {Device: "svc-out", Metric: "x", Value: 1, Source: "avg"}})
	b.take()
	// A plan drops the fan: its discovery is cleared; the sensor the LAN
	// named stays while an mqttsensor device is configured.
	h.SetDevices([]Device{{Name: "lan", Kind: "mqttsensor"}}, true)
	ms := b.take()
	if m, ok := on(ms, "homeassistant/device/edged_gw_fan/config"); !ok || m.payload != "" || !m.retain {
		t.Fatalf("fan not cleared: %v", ms)
	}
	if _, ok := on(ms, "homeassistant/device/edged_gw_kitchen/config"); ok {
		t.Fatalf("kitchen touched: %v", ms)
	}
	// No mqttsensor device left: what they named goes too; a service's
	// output stays.
	h.SetDevices(nil, false)
	ms = b.take()
	if m, ok := on(ms, "homeassistant/device/edged_gw_kitchen/config"); !ok || m.payload != "" {
		t.Fatalf("kitchen not cleared: %v", ms)
	}
	if _, ok := on(ms, "homeassistant/device/edged_gw_svc-out/config"); ok {
		t.Fatalf("a service's device cleared: %v", ms)
	}
	if st := h.Stats(); st.Removed != 2 || st.Devices != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSweepClearsOnlyThisGatewaysLeftovers(t *testing.T) {
	h, b, _ := newTest(t, Config{})
	h.SetDevices([]Device{{Name: "env", Kind: "sim"}}, false)
	mine := func(name, mdl string) []byte {
		return fmt.Appendf(nil, `{"dev":{"ids":["x"],"name":%q,"mdl":%q,"via_device":"edged_gw"},"cmps":{}}`, name, mdl)
	}
	n := h.Sweep(map[string][]byte{
		"homeassistant/device/edged_gw_env/config":    mine("env", "sim"),                                                       // configured
		"homeassistant/device/edged_gw_old/config":    mine("old", "sim"),                                                       // gone
		"homeassistant/device/edged_gw_lan1/config":   mine("lan1", "mqttsensor"),                                               // gone, no mqttsensor
		"homeassistant/device/edged_gw_x_y/config":    []byte(`{"dev":{"name":"y","via_device":"edged_gw_x"}}`),                 // another gateway
		"homeassistant/device/zigbee_1/config":        []byte(`{"dev":{"name":"1"}}`),                                           // not edged
		"homeassistant/device/edged_gw_other/config":  mine("renamed", "sim"),                                                   // not a name edged gives
		"homeassistant/device/edged_gw_broken/config": []byte(`{"dev":`),                                                        // not JSON
		"homeassistant/device/edged_gw/config":        []byte(`{"dev":{"ids":["edged_gw"],"name":"edged gw","mdl":"gateway"}}`), // the gateway
	})
	ms := b.take()
	if n != 2 || len(ms) != 2 {
		t.Fatalf("cleared %d: %v", n, ms)
	}
	for _, m := range ms {
		if m.payload != "" || !m.retain || (m.topic != "homeassistant/device/edged_gw_old/config" && m.topic != "homeassistant/device/edged_gw_lan1/config") {
			t.Errorf("cleared %+v", m)
		}
	}
}

func TestBoundsAreCountedNotPublished(t *testing.T) {
	h, b, _ := newTest(t, Config{MaxDevices: 2, MaxEntities: 2, MaxPayload: 600})
	h.Online()
	h.Observe([]reading.Reading{
		{Device: "a", Metric: "m1"}, {Device: "a", Metric: "m2"}, {Device: "a", Metric: "m3"}, // m3 over max_entities
		{Device: "b", Metric: "x/y"},                                  // not a topic level
		{Device: "b+", Metric: "m"},                                   // not a topic level
		{Device: "c", Metric: "m"},                                    // c is the second device
		{Device: "d", Metric: "m"},                                    // over max_devices
		{Device: "c", Metric: strings.Repeat("long-metric-name-", 3)}, // passes max_payload
	})
	st := h.Stats()
	if st.DroppedEntities != 1 || st.DroppedDevices != 1 || st.Invalid != 2 || st.Oversized != 1 || st.Devices != 2 {
		t.Fatalf("stats %+v", st)
	}
	for _, m := range b.take() {
		if strings.Contains(m.topic, "/d/") || strings.Contains(m.topic, "edged_gw_d/") || strings.Contains(m.topic, "m3") || len(m.payload) > 600 {
			t.Errorf("published %s (%d bytes)", m.topic, len(m.payload))
		}
	}
}

func TestCommandsFromHomeAssistantRunWithAnID(t *testing.T) {
	h, b, e := newTest(t, Config{})
	h.SetDevices([]Device{
		{Name: "fan", Kind: "gpio-out", Controls: []Control{{Metric: "state", Platform: PlatformSwitch}}},
		{Name: "vfd", Kind: "modbus", Controls: []Control{{Metric: "speed", Platform: PlatformNumber, Min: 0, Max: 50, Step: 0.1, Keyed: true},
			{Metric: "run", Platform: PlatformSwitch, Keyed: true}}},
		{Name: "env", Kind: "sim"},
	}, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.Run(ctx) }()
	for _, c := range [][2]string{{"edged/gw/ha/fan/state/set", "ON"}, {"edged/gw/ha/vfd/speed/set", "12.5"}, {"edged/gw/ha/vfd/run/set", "OFF"},
		{"edged/gw/ha/vfd/speed/set", "99"}, {"edged/gw/ha/env/temperature/set", "1"}} {
		h.Handle(c[0], []byte(c[1]))
	}
	var results []commands.Result
	deadline := time.Now().Add(60 * time.Second)
	for len(results) < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("results: %v", results)
		}
		results = results[:0]
		b.mu.Lock()
		for _, m := range b.msgs {
			if strings.HasSuffix(m.topic, "/set/result") {
				var r commands.Result
				json.Unmarshal([]byte(m.payload), &r)
				results = append(results, r)
			}
		}
		b.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	e.mu.Lock()
	ran := strings.Join(e.ran, "; ")
	e.mu.Unlock()
	if ran != `fan set true; vfd set {"speed":12.5}; vfd set {"run":0}` {
		t.Fatalf("ran %s", ran)
	}
	for i, r := range results[:3] {
		if !r.OK || !strings.HasPrefix(r.ID, "ha-") || len(r.ID) != 19 {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if results[0].ID == results[1].ID {
		t.Error("two commands shared an id")
	}
	if r := results[3]; r.OK || !strings.Contains(r.Error, "out of range 0..50") {
		t.Errorf("out of range: %+v", r)
	}
	if r := results[4]; r.OK || !strings.Contains(r.Error, "takes no commands") {
		t.Errorf("a sensor: %+v", r)
	}
	if st := h.Stats(); st.Commands != 5 || st.CommandErrors != 2 {
		t.Errorf("stats %+v", st)
	}
	if m, ok := on(b.take(), "edged/gw/ha/status"); !ok || m.payload != "offline" {
		t.Errorf("Run did not end offline: %+v", m)
	}
}

func TestParseCommand(t *testing.T) {
	sw := Control{Metric: "state", Platform: PlatformSwitch}
	num := Control{Metric: "duty", Platform: PlatformNumber, Min: 0, Max: 1}
	for _, c := range []struct {
		ctl     Control
		payload string
		value   string
		err     string
	}{
		{sw, "ON", "true", ""},
		{sw, "off", "false", ""},
		{sw, " OFF\n", "false", ""},
		{sw, "1", "", `"1" is not ON or OFF`},
		{num, "0.25", "0.25", ""},
		{num, "1.5", "", "out of range 0..1"},
		{num, "NaN", "", "not a number"},
		{num, "1e999", "", "not a number"},
		{num, "", "", "not a number"},
		{num, strings.Repeat("1", 65), "", "65 bytes"},
		{Control{Metric: "speed", Platform: PlatformNumber, Max: 10, Keyed: true}, "3", `{"speed":3}`, ""},
		{Control{Metric: "run", Platform: PlatformSwitch, Keyed: true}, "ON", `{"run":1}`, ""},
		{Control{Metric: "x", Platform: "sensor"}, "1", "", "takes no commands"},
	} {
		got, err := ParseCommand(c.ctl, []byte(c.payload))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s %q: error %v, want %q", c.ctl.Platform, c.payload, err, c.err)
			}
			continue
		}
		v, _ := json.Marshal(got.Value)
		if err != nil || got.Action != "set" || string(v) != c.value {
			t.Errorf("%s %q: %+v %s %v, want %s", c.ctl.Platform, c.payload, got, v, err, c.value)
		}
	}
}

// FuzzParseCommand: whatever Home Assistant (or anyone on the broker)
// publishes on a command topic is refused with an error or becomes a set
// command within the control's range.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"ON", "OFF", "0.5", "-1", "1e308", "NaN", "Inf", "0x10", ""} {
		f.Add(s)
	}
	ctls := []Control{{Metric: "state", Platform: PlatformSwitch}, {Metric: "duty", Platform: PlatformNumber, Min: -2, Max: 2},
		{Metric: "speed", Platform: PlatformNumber, Min: 0, Max: 50, Keyed: true}}
	f.Fuzz(func(t *testing.T, payload string) {
		for _, c := range ctls {
			cmd, err := ParseCommand(c, []byte(payload))
			if err != nil {
				continue
			}
			if cmd.Action != "set" || len(payload) > maxCommand {
				t.Fatalf("%q: %+v", payload, cmd)
			}
			v := cmd.Value
			if m, ok := v.(map[string]any); ok {
				v = m[c.Metric]
			}
			if f, ok := v.(float64); ok && (f < c.Min || f > c.Max || f != f) {
				t.Fatalf("%q: %v out of %g..%g", payload, f, c.Min, c.Max)
			}
			if _, err := json.Marshal(cmd); err != nil {
				t.Fatalf("%q: %v", payload, err)
			}
		}
	})
}

func TestObjectIDsAreHomeAssistantsAndDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, s := range []string{"env", "env.1", "env_1", "env-1", "Küche", "a b", "a_b", ""} {
		id := objectID(s)
		for _, r := range id {
			if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				t.Errorf("%q → %q has %q", s, id, r)
			}
		}
		if prev, ok := seen[id]; ok {
			t.Errorf("%q and %q share %q", s, prev, id)
		}
		seen[id] = s
	}
	if objectID("env") != "env" || objectID("env.1") != objectID("env.1") {
		t.Error("ids are not stable")
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		metric, unit string
		want         class
	}{
		{"temperature", "C", class{"°C", "temperature", "measurement"}},
		{"temp", "°C", class{"°C", "temperature", "measurement"}},
		{"humidity", "%", class{"%", "humidity", "measurement"}},
		{"battery", "%", class{"%", "battery", "measurement"}},
		{"duty", "%", class{"%", "", "measurement"}},
		{"rh", "%RH", class{"%", "humidity", "measurement"}},
		{"pressure", "hPa", class{"hPa", "pressure", "measurement"}},
		{"voltage", "V", class{"V", "voltage", "measurement"}},
		{"power", "W", class{"W", "power", "measurement"}},
		{"energy", "kWh", class{"kWh", "energy", "total_increasing"}},
		{"co2", "ppm", class{"ppm", "carbon_dioxide", "measurement"}},
		{"edges", "", class{"", "", "measurement"}},
		{"flow", "gal/min", class{"gal/min", "", "measurement"}},
	} {
		if got := classify(c.metric, c.unit); got != c.want {
			t.Errorf("%s %q: %+v, want %+v", c.metric, c.unit, got, c.want)
		}
	}
}

func TestConfigIsChecked(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Prefix: "home/+", Base: "b", Gateway: "g"}, "wildcard"},
		{Config{Prefix: "/ha", Base: "b", Gateway: "g"}, "empty topic level"},
		{Config{Base: "b/#", Gateway: "g"}, "not a topic"},
		{Config{Base: "b"}, "no gateway"},
	} {
		if _, err := New(c.cfg, &broker{}, &executor{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}
