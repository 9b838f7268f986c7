package mqttsensor

import (
	"fmt"
	"maps"
	"slices"
)

// Presets name the usual configurations of common firmware, so that the
// usual case is one line: preset: zigbee2mqtt. A preset fills the keys
// its device's configuration leaves empty; fields, units and unit_paths
// are merged per metric, the device's own entries winning.
var presets = map[string]Config{
	// Zigbee2MQTT publishes each device's state as one JSON object on
	// zigbee2mqtt/<friendly name>. Voltage has no unit here: battery
	// devices report mV (Aqara: 3005), plugs V (230.5); set units.voltage.
	"zigbee2mqtt": {
		Topic:  "zigbee2mqtt/+device",
		Format: FormatJSON,
		Fields: map[string]string{
			"temperature": "$.temperature", "humidity": "$.humidity", "pressure": "$.pressure",
			"battery": "$.battery", "voltage": "$.voltage", "linkquality": "$.linkquality",
			"illuminance": "$.illuminance", "power": "$.power", "energy": "$.energy",
			"current": "$.current", "co2": "$.co2", "occupancy": "$.occupancy", "contact": "$.contact",
		},
		Units: map[string]string{
			"temperature": "°C", "humidity": "%", "pressure": "hPa", "battery": "%",
			"linkquality": "lqi", "illuminance": "lx", "power": "W", "energy": "kWh",
			"current": "A", "co2": "ppm",
		},
	},
	// Tasmota publishes tele/<topic>/SENSOR every TelePeriod, one object
	// per sensor model (BME280, SHT3X, DS18B20-1, ENERGY, …): * matches
	// the model, which becomes part of the device (<device>.BME280).
	"tasmota": {
		Topic:       "tele/+device/SENSOR",
		Format:      FormatJSON,
		WildcardKey: WildcardDevice,
		Fields: map[string]string{
			"temperature": "$.*.Temperature", "humidity": "$.*.Humidity", "pressure": "$.*.Pressure",
			"dew_point": "$.*.DewPoint", "illuminance": "$.*.Illuminance", "power": "$.*.Power",
			"voltage": "$.*.Voltage", "current": "$.*.Current", "energy_total": "$.*.Total",
			"energy_today": "$.*.Today",
		},
		Units: map[string]string{
			"temperature": "°C", "dew_point": "°C", "humidity": "%", "pressure": "hPa",
			"illuminance": "lx", "power": "W", "voltage": "V", "current": "A",
			"energy_total": "kWh", "energy_today": "kWh",
		},
		UnitPaths: map[string]string{"temperature": "$.TempUnit", "dew_point": "$.TempUnit", "pressure": "$.PressureUnit"},
	},
	// Shelly Gen2/Gen3 (Plus, Pro) publish each component's status on
	// <device id>/status/<component>; this is the first switch.
	"shelly-gen2": {
		Topic:  "+device/status/switch:0",
		Format: FormatJSON,
		Fields: map[string]string{
			"power": "$.apower", "voltage": "$.voltage", "current": "$.current",
			"energy": "$.aenergy.total", "temperature": "$.temperature.tC", "output": "$.output",
			"frequency": "$.freq", "power_factor": "$.pf",
		},
		Units: map[string]string{
			"power": "W", "voltage": "V", "current": "A", "energy": "Wh", "temperature": "°C", "frequency": "Hz",
		},
	},
	// ESPHome's MQTT component publishes each sensor's state as plain
	// text on <node>/sensor/<object id>/state; "nan" means no value.
	"esphome": {
		Topic:  "+device/sensor/+metric/state",
		Format: FormatPlain,
	},
	// Homie v4 (homie/<device>/<node>/<property>) and v5
	// (homie/5/<device>/…), attributes included.
	"homie": {
		Topic:  "homie/+device/#",
		Format: FormatHomie,
	},
	// SenML JSON packs (RFC 8428) on senml/<device>: bn names the device.
	"senml": {
		Topic:      "senml/+device",
		Format:     FormatSenML,
		SenMLNames: SenMLSplit,
	},
}

// PresetNames lists the presets, sorted.
func PresetNames() []string { return slices.Sorted(maps.Keys(presets)) }

// withPreset returns c with its preset's keys filled in where c leaves them
// empty (fields, units and unit_paths merged per metric, c's own entries
// winning). An unknown preset is an error naming the nearest one; c is then
// returned as it is.
func (c Config) withPreset() (Config, error) {
	if c.Preset == "" {
		return c, nil
	}
	p, ok := presets[c.Preset]
	if !ok {
		return c, fmt.Errorf("%s is not a preset%s", quoteString(c.Preset), didYouMean(c.Preset, PresetNames()))
	}
	if c.Topic == "" {
		c.Topic = p.Topic
	}
	if c.Format == "" {
		c.Format = p.Format
	}
	if c.WildcardKey == "" && c.format() == FormatJSON {
		c.WildcardKey = p.WildcardKey
	}
	if c.SenMLNames == "" && c.format() == FormatSenML {
		c.SenMLNames = p.SenMLNames
	}
	// A preset's fields and unit paths only go with its own format and
	// when the device picks no single path.
	if c.format() == p.Format && c.Path == "" && c.Metric == "" {
		for m := range p.Fields {
			if _, own := c.Fields[m]; !own {
				if c.presetFields == nil {
					c.presetFields = map[string]bool{}
				}
				c.presetFields[m] = true
			}
		}
		c.Fields = merged(p.Fields, c.Fields)
		c.UnitPaths = merged(p.UnitPaths, c.UnitPaths)
		c.Units = merged(p.Units, c.Units)
	}
	c.Preset = ""
	return c, nil
}

// merged is base with over's entries on top, or nil when both are empty.
func merged(base, over map[string]string) map[string]string {
	if len(base) == 0 && len(over) == 0 {
		return nil
	}
	m := maps.Clone(base)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, over)
	return m
}

// EffectiveTopic is the topic pattern the sensor subscribes with: the
// topic option, else its preset's.
func (c Config) EffectiveTopic() string {
	r, _ := c.withPreset()
	return r.Topic
}
