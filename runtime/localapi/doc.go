// Package localapi is the daemon's HTTP API on the gateway itself, for the
// edged CLI, the web console and local tools: health, status, devices with
// their recent readings, services, and actuator commands with the same
// validation and once-per-id execution as commands from the cloud.
//
// GET requests from loopback need no token; every other request (any
// non-GET, and anything from beyond loopback) needs the bearer token.
// Listening beyond loopback is refused without a token; TLS is optional.
package localapi
