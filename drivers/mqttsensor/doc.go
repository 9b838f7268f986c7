// Package mqttsensor is the "mqttsensor" device kind: sensors that publish
// their values on the gateway's local MQTT broker. A Sensor turns one
// message (topic, payload, arrival time) into readings; subscribing and
// routing messages to it is the daemon's job, so this package knows no MQTT
// library.
//
//	devices:
//	  - name: lan-sensors
//	    kind: mqttsensor
//	    scale: {factor: 0.1, unit: C}   # applied to every value
//	    options:
//	      topic: sensors/+device/+metric
//	      format: plain
//
// # Topics
//
// The topic option is an MQTT topic filter whose single-level wildcards may
// be named: +device captures the device of the readings (default: the
// device's own name) and +metric the metric. A bare + matches any one
// level, and a last # zero or more levels (a/# matches a, as in MQTT).
// Filter gives the plain filter to subscribe to (sensors/+/+) and Matches
// tells a router whether a topic is this sensor's. Topics starting with $
// never match a filter that starts with a wildcard.
//
// # Formats
//
// plain (the default): the payload is one decimal number such as 21.5,
// -3, .5 or 1e3, with optional surrounding whitespace. Empty payloads,
// Inf, hex, underscores and anything else are refused; nan (in any case,
// what ESPHome publishes for a sensor without a value) is a missing value:
// skipped and counted (missing: skip, the default) or refused (error).
//
// json: a JSON document. path (default $) says where the value is; fields
// instead maps several metrics to paths, giving one reading each. A value
// must be a finite JSON number or a boolean (true 1, false 0); a string is
// refused even when it holds a number, so that a sensor that quotes its
// numbers is noticed rather than silently parsed. time_path optionally
// names where the time is, as an RFC 3339 string or a number of Unix
// seconds; otherwise readings take the arrival time.
//
// Paths are a small subset of JSONPath (RFC 9535): $ (the document), then
// any number of .name (a member whose name has no . [ ] quote, * or
// space), [index] (a non-negative array index) and ["name"] or ['name']
// (any member name; \\, \" and \' are the only escapes), and at most one
// .* or [*], which matches every member of an object (or element of an
// array) at one level: $.*.Temperature reads Tasmota's BME280, SHT3X and
// DS18B20-1 alike. A member where the rest of the path leads nowhere is
// passed over; more than MaxMatches matches fail the message. The key
// matched goes into the device (<device>.<key>, wildcard_key: device, the
// default) or the metric (<field>.<key>, wildcard_key: metric). Recursive
// descent (..), slices, negative indexes and filters are not supported;
// payloads nesting deeper than MaxDepth are refused.
//
// A field (or path) that is absent or null is left out and counted by
// metric in Stats.Missing while the rest of the message is stored
// (missing: skip, the default), or fails the message (missing: error).
// Fields a preset adds that a device does not publish at all are not
// counted; a null one is.
//
// homie: the Homie convention, v4 (homie/<device>/<node>/<property>) and
// v5 (homie/5/<device>/…, seen as device "5" and read one level down). The
// topic must capture +device and end in #. A value's metric is
// <node>.<property>; its unit and datatype come from the property's $unit
// and $datatype attribute topics (v5: the $description document) seen
// before it, and its $name is kept in Stats.Metrics. Attribute topics and
// /set commands yield no reading and count in Stats.Attributes; values of
// a non-numeric datatype (string, enum, …) count in Stats.Skipped;
// booleans are 1 and 0.
//
// senml: a SenML JSON pack (RFC 8428), an array of records. Supported: bn,
// bt, bu, bv, bs, bver (at most 10), n, u, v, vb (true 1, false 0), s
// (used when a record has no v or vb), t; ut is ignored, as are unknown
// fields unless their name ends in _ (must-understand, refused). With
// senml_names: split (the default), a name bn+n of the form
// urn:dev:<type>:<id>[:<rest>] is device <type>-<id> and metric <rest>;
// otherwise bn, normalised (separators trimmed, : and / as -), is the
// device and n the metric; without bn the device is the topic's +device
// or the device's name; a record with no metric name takes its unit as
// the metric (RFC 8428 5.1.3's %RH, lat, lon), else "value". With
// senml_names: join the metric is bn+n and the device the topic's. The
// time is bt+t: at or after 2**28 it is Unix seconds,
// below it is relative to the arrival time (negative is the past). The
// unit is u, else bu, else the unit option. Records holding only text or
// data (vs, vd) are skipped and counted in Stats.Skipped; a pack with no
// numeric value at all is an error, as is a record with no value field.
// Records that hold base fields only just set them for the records after.
//
// # Units and presets
//
// units gives each metric its unit ({temperature: °C}); unit_paths reads
// it from the payload (Tasmota's $.TempUnit). A unit the payload carries
// wins over units, which wins over unit; the scale's unit over all.
// preset (zigbee2mqtt, tasmota, shelly-gen2, esphome, homie, senml) fills
// topic, format, fields, units and unit_paths; keys set beside it win,
// per metric for the maps. device_prefix goes before every device name a
// topic or payload supplies.
//
// # Values, names and errors
//
// Every value is mapped by the scale (v*factor+offset) and takes the
// scale's unit when it has one. Values must be finite before and after
// scaling. Device and metric names must be 1–64 bytes of UTF-8 without /,
// +, # or control characters, because the daemon puts them in MQTT topics;
// units (including SenML's u and bu) at most 64 bytes without control
// characters.
// Payloads over 64 KiB are refused unread. A message yields all its
// readings or an error, never part of them; Seq is left 0.
//
// Errors name the device, the topic and the problem, quoting up to 40
// bytes of the payload with non-printable bytes escaped:
//
//	mqttsensor porch: sensors/porch/temperature: payload "abc": not a number: …
//
// Stats counts messages, readings, unmatched topics, malformed messages
// (also by device, for up to 256 device names), skipped SenML records and
// Homie values, missing fields by metric, Homie attributes, and lists
// each device and metric decoded with its unit (Stats.Metrics). A message
// yields at most MaxReadings readings.
package mqttsensor
