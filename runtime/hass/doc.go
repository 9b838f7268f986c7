// Package hass makes edged's devices appear in Home Assistant through its
// MQTT discovery, on the gateway's local broker.
//
// Each device gets one retained device discovery message (QoS 1) on
// <prefix>/device/<node>/config, with the device block (identifiers, name,
// manufacturer "edged", model = the device kind, via_device = the gateway),
// the origin, the availability topic and one component per metric: a
// sensor for each metric that has readings (unit, device class and state
// class where the unit says which), a switch or a number for each control
// of an actuator (gpio-out, pwm, writable Modbus coils and registers).
// Sensors are announced when their first reading arrives, so a device's
// metrics need no configuration; controls at start.
//
// States: every durable reading is published (QoS 0, not retained) on
// <base>/<device>/<metric> as {"value":…,"unit":…,"time":…,"seq":…}, and the
// components read it with value_template. Commands: Home Assistant
// publishes ON/OFF or a number on <base>/<device>/<metric>/set; the
// integration turns it into an edged command with an id ("ha-…") and runs it
// through the same executor as the local API and the cloud (validation,
// once per id, the durable command memory), and publishes the result on
// …/set/result. Availability: <base>/status holds a retained "online"
// while edged runs and "offline" once it stops. When Home Assistant
// announces itself (its birth message, "online" on <prefix>/status), every
// discovery message and the last states are published again.
//
// A device that leaves (a plan removed it) has its discovery message
// cleared with an empty retained payload; at start, discovery messages
// this gateway left on the broker for devices it no longer has are
// cleared too (Sweep).
//
// Everything is bounded: devices (Config.MaxDevices), components per
// device (Config.MaxEntities), the size of one discovery message
// (Config.MaxPayload), queued commands; what does not fit is counted in
// Stats and logged, never published.
package hass
