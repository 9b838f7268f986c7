package hass

import (
	"encoding/json"
	"strings"
)

// originURL is where the origin block points Home Assistant's users.
const originURL = "https://github.com/edged-gateway/edged"

// The keys of the discovery messages use Home Assistant's documented
// abbreviations throughout: dev, o, cmps, p, avty_t, uniq_id, stat_t,
// val_tpl, unit_of_meas, dev_cla, stat_cla, cmd_t, pl_on, pl_off, ent_cat
// (and ids, mf, mdl, sw in the device block); names without an
// abbreviation (name, qos, min, max, step, mode, via_device, url) are
// written out.

// devicePayload is a device's discovery message; h.mu is held.
func (h *Integration) devicePayload(name string, ds *devState) ([]byte, error) {
	cmps := make(map[string]any, len(ds.entities))
	for _, m := range ds.order {
		e := ds.entities[m]
		cmps[objectID(m)] = h.component(name, e)
	}
	return json.Marshal(map[string]any{
		"dev": map[string]any{"ids": []string{h.node(name)}, "name": name, "mf": "edged", "mdl": ds.kind,
			"sw": h.cfg.Version, "via_device": h.gatewayNode()},
		"o":      h.origin(),
		"avty_t": h.AvailabilityTopic(),
		"qos":    1,
		"cmps":   cmps,
	})
}

func (h *Integration) origin() map[string]any {
	return map[string]any{"name": "edged", "sw": h.cfg.Version, "url": originURL}
}

// component is one metric's component.
func (h *Integration) component(device string, e *entity) map[string]any {
	c := map[string]any{"name": e.metric, "uniq_id": h.node(device) + "_" + objectID(e.metric), "stat_t": h.stateTopic(device, e.metric)}
	if e.control == nil {
		c["p"] = "sensor"
		c["val_tpl"] = "{{ value_json.value }}"
		cl := classify(e.metric, e.unit)
		if cl.unit != "" {
			c["unit_of_meas"] = cl.unit
		}
		if cl.device != "" {
			c["dev_cla"] = cl.device
		}
		c["stat_cla"] = cl.state
		return c
	}
	ctl := e.control
	c["p"] = ctl.Platform
	c["cmd_t"] = h.stateTopic(device, e.metric) + "/set"
	switch ctl.Platform {
	case PlatformSwitch:
		c["pl_on"], c["pl_off"] = "ON", "OFF"
		c["val_tpl"] = "{{ 'ON' if value_json.value == 1 else 'OFF' }}"
	case PlatformNumber:
		c["val_tpl"] = "{{ value_json.value }}"
		c["min"], c["max"], c["step"] = ctl.Min, ctl.Max, ctl.Step
		c["mode"] = "box"
		if cl := classify(e.metric, ctl.Unit); cl.unit != "" {
			c["unit_of_meas"] = cl.unit
		}
	}
	return c
}

// publishGateway announces the gateway itself, the device every other is
// via: one connectivity sensor on the availability topic; h.mu is held.
func (h *Integration) publishGateway() {
	node := h.gatewayNode()
	b, _ := json.Marshal(map[string]any{
		"dev": map[string]any{"ids": []string{node}, "name": "edged " + h.cfg.Gateway, "mf": "edged", "mdl": "gateway", "sw": h.cfg.Version},
		"o":   h.origin(),
		"qos": 1,
		"cmps": map[string]any{"status": map[string]any{"p": "binary_sensor", "name": "Status", "uniq_id": node + "_status",
			"dev_cla": "connectivity", "ent_cat": "diagnostic", "stat_t": h.AvailabilityTopic(), "pl_on": "online", "pl_off": "offline"}},
	})
	h.publish(h.configTopic(node), b, true)
}

// Sweep clears discovery messages this gateway left on the broker for
// devices it has no longer: call it after SetDevices with the retained
// messages on DiscoveryFilter. A message is this gateway's when its device
// is via this gateway. Devices an mqttsensor named (model mqttsensor) are
// kept while one is configured: they come back with their next reading.
// It returns how many it cleared.
func (h *Integration) Sweep(retained map[string][]byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for topic, payload := range retained {
		if len(payload) == 0 || len(payload) > 4*h.cfg.MaxPayload {
			continue
		}
		var msg struct {
			Dev struct {
				Name string `json:"name"`
				Mdl  string `json:"mdl"`
				Via  string `json:"via_device"`
			} `json:"dev"`
		}
		if json.Unmarshal(payload, &msg) != nil || msg.Dev.Via != h.gatewayNode() {
			continue
		}
		if topic != h.configTopic(h.node(msg.Dev.Name)) {
			continue // not a name this gateway would give it
		}
		if _, ok := h.config[msg.Dev.Name]; ok {
			continue
		}
		if _, ok := h.devices[msg.Dev.Name]; ok || (h.pushed && strings.HasPrefix(msg.Dev.Mdl, "mqttsensor")) {
			continue
		}
		if h.publish(topic, nil, true) {
			h.removed.Add(1)
			n++
		}
	}
	return n
}
