package main

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/edged-gateway/edged/drivers/modbus"
	"github.com/edged-gateway/edged/drivers/pwm"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/hass"
)

// IntegrationsConfig connects edged to other systems on the gateway.
type IntegrationsConfig struct {
	// HomeAssistant announces the devices to Home Assistant (MQTT
	// discovery on the local broker).
	HomeAssistant HomeAssistantConfig `yaml:"home_assistant"`
}

// HomeAssistantConfig is integrations.home_assistant.
type HomeAssistantConfig struct {
	// Enabled publishes discovery messages; default false.
	Enabled bool `yaml:"enabled"`
	// Prefix is Home Assistant's discovery prefix; default homeassistant.
	Prefix string `yaml:"prefix"`
	// MaxDevices bounds the devices announced; default 256.
	MaxDevices int `yaml:"max_devices"`
	// MaxEntities bounds the metrics and controls of one device; default 64.
	MaxEntities int `yaml:"max_entities"`
}

func defaultIntegrations() IntegrationsConfig {
	return IntegrationsConfig{HomeAssistant: HomeAssistantConfig{Prefix: hass.DefaultPrefix,
		MaxDevices: hass.DefaultMaxDevices, MaxEntities: hass.DefaultMaxEntities}}
}

// integrationsYAML is integrations and metrics in `edged config defaults`.
func integrationsYAML(c Config) string {
	h := c.Integrations.HomeAssistant
	return fmt.Sprintf(`integrations:
  home_assistant:              # devices in Home Assistant by MQTT discovery on the local broker (README "Home Assistant")
    enabled: %t
    prefix: %s         # Home Assistant's discovery prefix
    max_devices: %d
    max_entities: %d            # metrics and controls per device
metrics:
  device_gauges: %t         # last value of every device metric on /metrics as edged_device_value (README "Prometheus")
  max_series: %d
`, h.Enabled, h.Prefix, h.MaxDevices, h.MaxEntities, c.Metrics.DeviceGauges, c.Metrics.MaxSeries)
}

// validateIntegrations checks integrations.*.
func (c *Config) validateIntegrations(errs interface {
	Add(path, format string, args ...any)
}) {
	h := c.Integrations.HomeAssistant
	if err := hass.CheckPrefix(h.Prefix); err != nil {
		errs.Add("integrations.home_assistant.prefix", "%v", err)
	}
	if h.MaxDevices < 0 || h.MaxDevices > 10000 {
		errs.Add("integrations.home_assistant.max_devices", "%d is out of range: use 1 to 10000 (default 256)", h.MaxDevices)
	}
	if h.MaxEntities < 0 || h.MaxEntities > 1000 {
		errs.Add("integrations.home_assistant.max_entities", "%d is out of range: use 1 to 1000 (default 64)", h.MaxEntities)
	}
	if h.Enabled && c.LocalMQTT.Mode == localOff {
		errs.Add("integrations.home_assistant.enabled", "Home Assistant discovery goes through the local broker but local_mqtt.mode is off: use embedded or external")
	}
}

// hassBase roots edged's topics for Home Assistant on the local broker.
func (c *Config) hassBase() string { return c.Cloud.TopicPrefix + "/" + c.Gateway.ID + "/ha" }

// hassBroker is the local broker, embedded or external, as the
// integration publishes to it.
type hassBroker struct{ d *daemon }

func (b hassBroker) Publish(topic string, payload []byte, qos byte, retain bool) error {
	if b.d.broker != nil {
		return b.d.broker.PublishQoS(topic, payload, qos, retain)
	}
	_, err := b.d.local.Publish(topic, payload, qos, retain)
	return err
}

// wireHass builds the Home Assistant integration when it is enabled and
// there is a local broker: it subscribes to Home Assistant's birth message
// and the command topics, and clears what an earlier run announced for
// devices edged no longer has.
func (d *daemon) wireHass(devs []device) error {
	hc := d.cfg.Integrations.HomeAssistant
	if !hc.Enabled || (d.broker == nil && d.local == nil) {
		if hc.Enabled {
			d.log.Warn("home assistant discovery off: no local broker runs", "why", d.brokerOff)
		}
		return nil
	}
	h, err := hass.New(hass.Config{Prefix: hc.Prefix, Base: d.cfg.hassBase(), Gateway: d.cfg.Gateway.ID, Version: version,
		MaxDevices: hc.MaxDevices, MaxEntities: hc.MaxEntities, Logger: d.log.With("component", "home_assistant")},
		hassBroker{d}, d.exec)
	if err != nil {
		return err
	}
	h.SetDevices(hassDevices(devs))
	if d.local != nil {
		// The link subscribes again after every reconnect.
		for _, f := range []string{h.BirthTopic(), h.CommandFilter()} {
			if err := d.local.Subscribe(f, 1, h.Handle); err != nil {
				return err
			}
		}
	}
	d.hass = h
	return nil
}

// runHass is the "home assistant" stage. On the embedded broker it waits
// for the broker to load what it retained, clears the discovery an earlier
// run left for devices edged no longer has, and subscribes to Home
// Assistant's birth message and the command topics; then it announces
// edged and runs commands until ctx ends, and marks edged offline.
func (d *daemon) runHass(ctx context.Context) error {
	h := d.hass
	if b := d.broker; b != nil {
		select {
		case <-b.Ready():
		case <-ctx.Done():
			return nil
		}
		max := 4*d.cfg.Integrations.HomeAssistant.MaxDevices + 16
		retained := map[string][]byte{}
		stop, err := b.Subscribe(h.DiscoveryFilter(), func(topic string, payload []byte, isRetained bool) {
			if isRetained && len(retained) < max {
				retained[topic] = payload
			}
		})
		if err != nil {
			return err
		}
		stop() // the retained messages came during Subscribe
		if n := h.Sweep(retained); n > 0 {
			d.log.Info("home assistant: cleared the discovery of devices edged no longer has", "devices", n)
		}
		for _, f := range []string{h.BirthTopic(), h.CommandFilter()} {
			stop, err := b.Subscribe(f, func(topic string, payload []byte, isRetained bool) {
				if !isRetained { // a retained command or birth is not news
					h.Handle(topic, payload)
				}
			})
			if err != nil {
				return err
			}
			defer stop()
		}
	}
	return h.Run(ctx)
}

// hassDevices describes the configured devices to the integration: kind,
// and the controls of actuators.
func hassDevices(devs []device) (out []hass.Device, pushed bool) {
	for _, d := range devs {
		hd := hass.Device{Name: d.cfg.Name, Kind: d.cfg.Kind}
		switch opts := d.options.(type) {
		case modbus.Config:
			for _, r := range opts.Registers {
				if r.Writable {
					hd.Controls = append(hd.Controls, modbusControl(r))
				}
			}
		case pwm.Config:
			lo, hi := opts.MinDuty, opts.MaxDuty
			if hi == 0 {
				hi = 1
			}
			hd.Controls = append(hd.Controls, hass.Control{Metric: "duty", Platform: hass.PlatformNumber, Min: lo, Max: hi, Step: 0.01})
		}
		if d.cfg.Kind == "gpio-out" {
			hd.Controls = append(hd.Controls, hass.Control{Metric: "state", Platform: hass.PlatformSwitch})
		}
		if d.kind.sensor != nil {
			pushed = true
		}
		out = append(out, hd)
	}
	return out, pushed
}

// modbusControl is a writable register or coil as a switch (coils and
// bools) or a number, within its min and max, else its type's range.
func modbusControl(r modbus.Register) hass.Control {
	if strings.EqualFold(r.Table, "coil") || strings.EqualFold(r.Type, "bool") || r.Bit != nil {
		return hass.Control{Metric: r.Metric, Platform: hass.PlatformSwitch, Keyed: true}
	}
	lo, hi := -1e9, 1e9
	switch strings.ToLower(r.Type) {
	case "", "uint16":
		lo, hi = 0, math.MaxUint16
	case "int16":
		lo, hi = math.MinInt16, math.MaxInt16
	}
	if r.Scale != nil && *r.Scale > 0 {
		lo, hi = lo**r.Scale+r.Offset, hi**r.Scale+r.Offset
	}
	if r.Min != nil {
		lo = *r.Min
	}
	if r.Max != nil {
		hi = *r.Max
	}
	step := 1.0
	if r.Scale != nil && *r.Scale > 0 && *r.Scale < 1 {
		step = *r.Scale
	}
	return hass.Control{Metric: r.Metric, Platform: hass.PlatformNumber, Min: lo, Max: hi, Step: step, Unit: r.Unit, Keyed: true}
}

// devicesChanged tells the integrations a plan changed the devices: Home
// Assistant loses the devices that left, and so does /metrics.
func (d *daemon) devicesChanged(devs []device) {
	if d.hass != nil {
		d.hass.SetDevices(hassDevices(devs))
	}
	if d.gauges != nil {
		now := map[string]bool{}
		for _, dv := range devs {
			now[dv.cfg.Name] = true
		}
		before := d.gaugeDevices
		d.gauges.Forget(func(dev string) bool { return now[dev] || !before[dev] })
		d.gaugeDevices = now
	}
}

// observers are what follows durable readings, when configured: Home
// Assistant's states and the device gauges. Both are built before any
// reading flows.
func (d *daemon) observers() []func([]reading.Reading) {
	var out []func([]reading.Reading)
	if d.cfg.Integrations.HomeAssistant.Enabled {
		out = append(out, func(rs []reading.Reading) {
			if d.hass != nil {
				d.hass.Observe(rs)
			}
		})
	}
	if d.gauges != nil {
		out = append(out, d.gauges.Observe)
	}
	return out
}

// observingSink hands durable readings to the integrations that follow
// them (Home Assistant's states, the device gauges).
type observingSink struct {
	store interface {
		Append(ctx context.Context, rs []reading.Reading) error
	}
	observe []func([]reading.Reading)
}

func (s observingSink) Append(ctx context.Context, rs []reading.Reading) error {
	if err := s.store.Append(ctx, rs); err != nil {
		return err
	}
	for _, f := range s.observe {
		f(rs)
	}
	return nil
}

// hassExec lets the command executor serve the integration.
var _ hass.Executor = (*commands.Executor)(nil)
