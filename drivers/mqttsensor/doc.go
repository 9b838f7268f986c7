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
// -3, .5 or 1e3, with optional surrounding whitespace. Empty payloads, NaN,
// Inf, hex, underscores and anything else are refused.
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
// (any member name; \\, \" and \' are the only escapes). Wildcards,
// recursive descent (..), slices, negative indexes and filters are not
// supported.
//
// senml: a SenML JSON pack (RFC 8428), an array of records. Supported: bn,
// bt, bu, bv, bs, bver (at most 10), n, u, v, vb (true 1, false 0), s
// (used when a record has no v or vb), t; ut is ignored, as are unknown
// fields unless their name ends in _ (must-understand, refused). The
// metric is bn+n; the device comes from the topic's +device or is the
// device's name. The time is bt+t: at or after 2**28 it is Unix seconds,
// below it is relative to the arrival time (negative is the past). The
// unit is u, else bu, else the unit option. Records holding only text or
// data (vs, vd) are skipped and counted in Stats.Skipped; a pack with no
// numeric value at all is an error, as is a record with no value field.
// Records that hold base fields only just set them for the records after.
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
// (also by device, for up to 256 device names) and skipped SenML records.
package mqttsensor
