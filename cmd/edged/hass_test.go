package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
	"github.com/edged-gateway/edged/sync/broker"
)

// haMsg is one message a real MQTT client received.
type haMsg struct {
	retained bool
	qos      string
	topic    string
	payload  string
}

// haSub is a mosquitto_sub running for the whole test, as Home Assistant's
// MQTT client would: QoS 1, printing the retained flag and QoS of each
// message.
type haSub struct {
	mu   sync.Mutex
	msgs []haMsg
}

func subscribeHA(t *testing.T, addr string, filters ...string) *haSub {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mosquitto_sub missing (apt-get install mosquitto-clients); CI is set")
		}
		t.Skip("mosquitto_sub missing (apt-get install mosquitto-clients)")
	}
	host, port, _ := net.SplitHostPort(addr)
	args := []string{"-h", host, "-p", port, "-q", "1", "-F", "%r %q %t %p"}
	for _, f := range filters {
		args = append(args, "-t", f)
	}
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &haSub{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), " ", 4)
			if len(f) < 3 {
				continue
			}
			m := haMsg{retained: f[0] == "1", qos: f[1], topic: f[2]}
			if len(f) == 4 {
				m.payload = f[3]
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); <-done })
	return s
}

// wait returns the first message from index from on that match says, or
// fails the test after the hang guard.
func (s *haSub) wait(t *testing.T, what string, from int, match func(haMsg) bool) (haMsg, int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		s.mu.Lock()
		for i := from; i < len(s.msgs); i++ {
			if match(s.msgs[i]) {
				m := s.msgs[i]
				s.mu.Unlock()
				return m, i
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *haSub) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Home Assistant's documented discovery schema, as far as edged uses it:
// the abbreviations (homeassistant/components/mqtt/abbreviations.py) and
// which keys each part requires.
var (
	haRootKeys = map[string]bool{"dev": true, "o": true, "cmps": true, "avty_t": true, "qos": true}
	haDevKeys  = map[string]bool{"ids": true, "name": true, "mf": true, "mdl": true, "sw": true, "via_device": true}
	haOKeys    = map[string]bool{"name": true, "sw": true, "url": true}
	haCmpKeys  = map[string]bool{"p": true, "name": true, "uniq_id": true, "stat_t": true, "val_tpl": true, "unit_of_meas": true, "dev_cla": true,
		"stat_cla": true, "cmd_t": true, "pl_on": true, "pl_off": true, "min": true, "max": true, "step": true, "mode": true, "ent_cat": true}
	// haLong are the unabbreviated names of the keys above: a message
	// mixing both forms is refused here.
	haLong = []string{"device", "origin", "components", "availability_topic", "platform", "unique_id", "state_topic", "value_template",
		"unit_of_measurement", "device_class", "state_class", "command_topic", "payload_on", "payload_off", "entity_category", "identifiers",
		"manufacturer", "model", "sw_version", "support_url"}
	haNode     = regexp.MustCompile(`^homeassistant/device/[a-zA-Z0-9_-]+/config$`)
	haPlatform = map[string][]string{"sensor": {"stat_t"}, "binary_sensor": {"stat_t"}, "switch": {"cmd_t"}, "number": {"cmd_t"}}
)

// checkDiscovery checks one device discovery message against the schema
// and returns its decoded payload.
func checkDiscovery(t *testing.T, m haMsg, uniq map[string]string) map[string]any {
	t.Helper()
	if !haNode.MatchString(m.topic) {
		t.Errorf("%s: not <prefix>/device/<[a-zA-Z0-9_-]+>/config", m.topic)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(m.payload), &doc); err != nil {
		t.Fatalf("%s: not JSON: %v: %s", m.topic, err, m.payload)
	}
	known := func(where string, obj map[string]any, keys map[string]bool) {
		for k := range obj {
			if !keys[k] {
				t.Errorf("%s: %s has key %q, not one edged's abbreviations", m.topic, where, k)
			}
			for _, l := range haLong {
				if k == l {
					t.Errorf("%s: %s mixes the long name %q with abbreviations", m.topic, where, k)
				}
			}
		}
	}
	str := func(where string, obj map[string]any, key string) string {
		v, ok := obj[key].(string)
		if !ok || v == "" {
			t.Errorf("%s: %s.%s is %v, want a non-empty string", m.topic, where, key, obj[key])
		}
		return v
	}
	known("root", doc, haRootKeys)
	dev, ok := doc["dev"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no dev block", m.topic)
	}
	known("dev", dev, haDevKeys)
	ids, ok := dev["ids"].([]any)
	if !ok || len(ids) == 0 {
		t.Errorf("%s: dev.ids is %v, want a list of identifiers", m.topic, dev["ids"])
	}
	str("dev", dev, "name")
	if dev["mf"] != "edged" {
		t.Errorf("%s: dev.mf %v", m.topic, dev["mf"])
	}
	str("dev", dev, "mdl")
	o, ok := doc["o"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no origin (o), which device discovery requires", m.topic)
	}
	known("o", o, haOKeys)
	str("o", o, "name")
	if q, ok := doc["qos"].(float64); !ok || q != 1 {
		t.Errorf("%s: qos %v", m.topic, doc["qos"])
	}
	cmps, ok := doc["cmps"].(map[string]any)
	if !ok || len(cmps) == 0 {
		t.Fatalf("%s: cmps %v, want at least one component", m.topic, doc["cmps"])
	}
	for id, c := range cmps {
		if !regexp.MustCompile(`^[a-zA-Z0-9_-]+$`).MatchString(id) {
			t.Errorf("%s: component id %q", m.topic, id)
		}
		cmp, ok := c.(map[string]any)
		if !ok {
			t.Fatalf("%s: component %s is %T", m.topic, id, c)
		}
		known("cmps."+id, cmp, haCmpKeys)
		p := str("cmps."+id, cmp, "p")
		req, ok := haPlatform[p]
		if !ok {
			t.Errorf("%s: component %s: platform %q", m.topic, id, p)
		}
		for _, k := range req {
			str("cmps."+id, cmp, k)
		}
		u := str("cmps."+id, cmp, "uniq_id")
		if prev, dup := uniq[u]; dup && prev != m.topic {
			t.Errorf("unique_id %s in %s and %s", u, prev, m.topic)
		}
		uniq[u] = m.topic
		if p == "number" {
			lo, ok1 := cmp["min"].(float64)
			hi, ok2 := cmp["max"].(float64)
			step, ok3 := cmp["step"].(float64)
			if !ok1 || !ok2 || !ok3 || !(lo < hi) || !(step > 0) {
				t.Errorf("%s: number %s: min %v max %v step %v", m.topic, id, cmp["min"], cmp["max"], cmp["step"])
			}
		}
	}
	return doc
}

// TestHomeAssistantDiscoveryAndCommands runs edged with Home Assistant
// discovery on the simulated board and a Modbus simulator and acts as Home
// Assistant with mosquitto_sub and mosquitto_pub: every discovery message
// is retained at QoS 1 and follows the documented schema, sensors carry
// their units and classes, states flow, ON and numbers published on the
// command topics switch the simulated outputs through edged's command path
// (with ids in the command memory), Home Assistant's birth message has
// everything published again, and a plan that removes devices clears their
// discovery.
func TestHomeAssistantDiscoveryAndCommands(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		t.Fatal(err)
	}
	mb := freePort(t)
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-ha}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s/data
hardware: {board: sim}
plans: {trusted_keys: [%s/ops.pub]}
integrations: {home_assistant: {enabled: true}}
devices:
  - {name: env, kind: sim, interval: 50ms, options: {metric: temperature, unit: C}}
  - {name: fan, kind: gpio-out, pin: GPIO27, interval: 50ms}
  - {name: fan-speed, kind: pwm, pin: GPIO18, interval: 50ms, options: {frequency: 25kHz}}
  - {name: slaves, kind: modbus-sim, interval: 1s, options: {listen: %q}}
  - name: vfd
    kind: modbus
    interval: 50ms
    options:
      url: tcp://%s
      unit: 2
      registers: [{metric: setpoint, table: holding, address: 0, scale: 0.01, unit: Hz, writable: true, max: 60, safe: 0}]
`, dir, dir, mb, mb)))
	stop = sync.OnceValue(stop)
	defer stop()
	addr := d.broker.Addr()
	live := subscribeHA(t, addr, "homeassistant/#", "edged/gw-ha/ha/#")
	node := func(dev string) string { return "homeassistant/device/edged_gw-ha_" + dev + "/config" }
	devices := []string{"env", "fan", "fan-speed", "slaves", "vfd"}
	for _, dev := range devices {
		live.wait(t, "discovery of "+dev, 0, func(m haMsg) bool { return m.topic == node(dev) && m.payload != "" })
	}

	// A client that comes now (Home Assistant starting) gets every
	// discovery message retained, at QoS 1.
	ha := subscribeHA(t, addr, "homeassistant/#")
	uniq := map[string]string{}
	docs := map[string]map[string]any{}
	for _, topic := range append([]string{"homeassistant/device/edged_gw-ha/config"}, node("env"), node("fan"), node("fan-speed"), node("slaves"), node("vfd")) {
		m, _ := ha.wait(t, topic, 0, func(m haMsg) bool { return m.topic == topic })
		if !m.retained || m.qos != "1" {
			t.Errorf("%s: retained %v, QoS %s; want a retained QoS 1 message", topic, m.retained, m.qos)
		}
		docs[topic] = checkDiscovery(t, m, uniq)
	}
	cmp := func(dev, metric string) map[string]any {
		c, _ := docs[node(dev)]["cmps"].(map[string]any)[metric].(map[string]any)
		if c == nil {
			t.Fatalf("%s has no component %s: %v", dev, metric, docs[node(dev)])
		}
		return c
	}
	gw := docs["homeassistant/device/edged_gw-ha/config"]["dev"].(map[string]any)
	for _, dev := range devices {
		dv := docs[node(dev)]["dev"].(map[string]any)
		if dv["via_device"] != gw["ids"].([]any)[0] || dv["name"] != dev || docs[node(dev)]["avty_t"] != "edged/gw-ha/ha/status" {
			t.Errorf("%s: device %v, availability %v", dev, dv, docs[node(dev)]["avty_t"])
		}
	}
	if m := docs[node("vfd")]["dev"].(map[string]any)["mdl"]; m != "modbus" {
		t.Errorf("vfd model %v", m)
	}
	temp := cmp("env", "temperature")
	if temp["p"] != "sensor" || temp["unit_of_meas"] != "°C" || temp["dev_cla"] != "temperature" || temp["stat_cla"] != "measurement" {
		t.Errorf("env temperature %v", temp)
	}
	sw, duty, set := cmp("fan", "state"), cmp("fan-speed", "duty"), cmp("vfd", "setpoint")
	if sw["p"] != "switch" || duty["p"] != "number" || duty["max"] != 1.0 || set["p"] != "number" || set["max"] != 60.0 || set["unit_of_meas"] != "Hz" {
		t.Errorf("controls: %v %v %v", sw, duty, set)
	}
	if avail, _ := live.wait(t, "availability", 0, func(m haMsg) bool { return m.topic == "edged/gw-ha/ha/status" }); avail.payload != "online" {
		t.Errorf("availability %q", avail.payload)
	}

	// The state topics carry edged's readings.
	m, _ := live.wait(t, "a temperature state", 0, func(m haMsg) bool { return m.topic == temp["stat_t"] })
	var st struct {
		Value *float64 `json:"value"`
		Unit  string   `json:"unit"`
		Seq   uint64   `json:"seq"`
	}
	if err := json.Unmarshal([]byte(m.payload), &st); err != nil || st.Value == nil || st.Unit != "C" || st.Seq == 0 {
		t.Fatalf("state %s: %q %v", m.topic, m.payload, err)
	}

	// Commands exactly as Home Assistant sends them.
	result := func(cmdTopic, payload string) commands.Result {
		t.Helper()
		from := live.len()
		if err := mosquittoPub(t, addr, "", "-q", "1", "-t", cmdTopic, "-m", payload); err != nil {
			t.Fatal(err)
		}
		m, _ := live.wait(t, "the result of "+payload+" on "+cmdTopic, from, func(m haMsg) bool { return m.topic == cmdTopic+"/result" })
		var r commands.Result
		if err := json.Unmarshal([]byte(m.payload), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	lastValue := func(dev, metric string) (float64, bool) {
		var doc struct{ Devices []deviceDoc }
		if _, err := callAPI(context.Background(), "GET", "http://"+d.api.Addr()+"/api/v1/devices", "", nil, &doc, apiTimeout); err != nil {
			t.Fatal(err)
		}
		for _, dd := range doc.Devices {
			for _, r := range dd.Last {
				if dd.Name == dev && r.Metric == metric {
					return r.Value, true
				}
			}
		}
		return 0, false
	}
	for _, c := range []struct {
		dev, metric, payload string
		want                 float64
	}{{"fan", "state", "ON", 1}, {"fan-speed", "duty", "0.4", 0.4}, {"vfd", "setpoint", "12.5", 12.5}, {"fan", "state", "OFF", 0}} {
		ctl := cmp(c.dev, c.metric)
		r := result(ctl["cmd_t"].(string), c.payload)
		if !r.OK || !strings.HasPrefix(r.ID, "ha-") {
			t.Fatalf("%s %s: %+v", c.dev, c.payload, r)
		}
		if _, ok, err := d.cmdMem.Load(c.dev + "\x00" + r.ID); !ok || err != nil {
			t.Errorf("%s: command %s not in the command memory (%v)", c.dev, r.ID, err)
		}
		waitUntil(t, fmt.Sprintf("%s %s = %g in the API", c.dev, c.metric, c.want), func() bool {
			v, ok := lastValue(c.dev, c.metric)
			return ok && v == c.want
		})
		from := live.len()
		live.wait(t, "the new state on "+ctl["stat_t"].(string), from, func(m haMsg) bool {
			return m.topic == ctl["stat_t"] && strings.HasPrefix(m.payload, fmt.Sprintf(`{"value":%g,`, c.want))
		})
	}
	pin, _ := d.board.Simulated().Pin("GPIO27")
	if h := pin.History(); len(h) < 3 {
		t.Errorf("the relay's pin saw %v, want safe, on, off", h)
	}
	if r := result(sw["cmd_t"].(string), "toggle"); r.OK || !strings.Contains(r.Error, "not ON or OFF") {
		t.Errorf("toggle: %+v", r)
	}

	// Home Assistant's birth message: discovery again, live.
	from := live.len()
	if err := mosquittoPub(t, addr, "", "-t", "homeassistant/status", "-m", "online"); err != nil {
		t.Fatal(err)
	}
	for _, dev := range devices {
		live.wait(t, "discovery of "+dev+" again after the birth message", from, func(m haMsg) bool { return m.topic == node(dev) && m.payload != "" })
	}

	// A plan that keeps env and the simulator: the others' discovery is
	// cleared.
	from = live.len()
	p := fmt.Sprintf("version: 1\ngateway: {id: gw-ha}\ndevices:\n  - {name: env, kind: sim, interval: 50ms, options: {metric: temperature, unit: C}}\n"+
		"  - {name: slaves, kind: modbus-sim, interval: 1s, options: {listen: %q}}\n", mb)
	if st := <-d.plans.orch.Submit(plan.Sign(priv, []byte(p)).Encode(), orchestrator.SourceAPI); st.State != orchestrator.StateApplied {
		t.Fatalf("plan: %s %s", st.State, st.Error)
	}
	for _, dev := range []string{"fan", "fan-speed", "vfd"} {
		live.wait(t, "an empty discovery for "+dev, from, func(m haMsg) bool { return m.topic == node(dev) && m.payload == "" })
	}
	left := retainedOn(t, d.broker, "homeassistant/device/+/config")
	if _, ok := left[node("env")]; !ok || len(left) != 3 {
		t.Errorf("retained discovery after the plan: %v, want the gateway's, env's and slaves'", keys(left))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// retainedOn returns the retained messages on filter.
func retainedOn(t *testing.T, b *broker.Broker, filter string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var mu sync.Mutex // a live publish may arrive on another goroutine before unsub
	unsub, err := b.Subscribe(filter, func(topic string, payload []byte, retained bool) {
		mu.Lock()
		defer mu.Unlock()
		if retained {
			out[topic] = string(payload)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	unsub()
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(out)
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestHomeAssistantForgetsDevicesRemovedFromTheConfig: edged stops with
// "offline" retained on its availability topic, and a device taken out of
// the config file has its discovery cleared at the next start.
func TestHomeAssistantForgetsDevicesRemovedFromTheConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := func(devices string) string {
		return writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-hb}
http: {listen: ""}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
integrations: {home_assistant: {enabled: true, prefix: ha/discovery}}
devices:
%s`, dir, devices))
	}
	env := "  - {name: env, kind: sim, interval: 20ms, options: {metric: temperature, unit: C}}\n"
	hum := "  - {name: hum, kind: sim, interval: 20ms, options: {metric: humidity, unit: \"%\"}}\n"
	d, stop := startDaemon(t, cfg(env+hum))
	// Stats count an entity when it is added, before its discovery message
	// is published: wait for the retained messages themselves.
	waitUntil(t, "the gateway, env and hum announced (retained)", func() bool {
		return d.hass.Stats().Entities == 2 && len(retainedOn(t, d.broker, "ha/discovery/device/+/config")) == 3
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// What the broker kept in its store: "offline", and the discovery.
	b, err := broker.New(broker.Config{Listen: "127.0.0.1:0", AllowAnonymous: true, StorePath: filepath.Join(dir, "broker.db")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Ready()
	if got := retainedOn(t, b, "edged/gw-hb/ha/status"); got["edged/gw-hb/ha/status"] != "offline" {
		t.Errorf("availability after a stop: %v, want offline", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	d, stop = startDaemon(t, cfg(env))
	defer stop()
	waitUntil(t, "hum's discovery cleared and edged online", func() bool {
		return d.hass.Stats().Removed == 1 && retainedOn(t, d.broker, "edged/gw-hb/ha/status")["edged/gw-hb/ha/status"] == "online"
	})
	got := retainedOn(t, d.broker, "ha/discovery/device/+/config")
	if _, ok := got["ha/discovery/device/edged_gw-hb_env/config"]; !ok || len(got) != 2 {
		t.Fatalf("retained discovery %v, want the gateway and env", keys(got))
	}
}
