package series

import "time"

// Reading is one value of one metric of one device at one instant, as the
// services receive and emit it.
type Reading struct {
	// Device names the device the value belongs to, e.g. "porch".
	Device string
	// Metric names what is measured, e.g. "temperature".
	Metric string
	// Value is the measured or derived value.
	Value float64
	// Unit is the unit of Value, e.g. "C"; may be empty.
	Unit string
	// Time is when the value was measured (or, for derived readings, the
	// instant the service dates it to).
	Time time.Time
	// Source names who produced the reading: a driver, or the service
	// ("aggregate", "rules", "anomaly") for derived ones.
	Source string
}

// Command asks an actuator to do something. Its yaml tags let a service's
// configuration write one directly (then: {command: {device: fan-relay,
// action: set, value: on}}).
type Command struct {
	// Device names the actuator, e.g. "fan-relay".
	Device string `yaml:"device"`
	// Action is what to do, e.g. "set"; the driver defines its actions.
	Action string `yaml:"action"`
	// Value is the action's argument (a string, number, bool, list or map
	// as written in the configuration), or nil.
	Value any `yaml:"value"`
}

// Key names one series: a device and one of its metrics. It is comparable
// and, as a map key, costs no allocation to look up.
type Key struct {
	Device, Metric string
}

// KeyOf returns the series r belongs to.
func KeyOf(r Reading) Key { return Key{Device: r.Device, Metric: r.Metric} }

// String returns "device/metric", the topic Filters match.
func (k Key) String() string { return k.Device + "/" + k.Metric }
