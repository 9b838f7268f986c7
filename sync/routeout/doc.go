// Package routeout holds the links of the routes that do not go to the
// cloud uplink: an HTTP endpoint (the forwarder's JSON batches, or InfluxDB
// line protocol for a local historian's /api/v2/write) and a second MQTT
// broker (through sync/uplink's client, so TLS, mTLS and reconnect back-off
// are the cloud link's own). Each is a runtime/forwarder Link: a route is a
// forwarder reading its own outbox cursor into one of these.
//
// Each destination has a Config with yaml tags, for routes[].http and
// routes[].mqtt in edged's configuration, whose Validate names the field
// (relative to the destination: "url: ...", "tls.ca_file: ...").
package routeout
