// Package localapi is the daemon's HTTP API on the gateway itself, for the
// edged CLI and local tools: health, status, and actuator commands with the
// same validation and once-per-id execution as commands from the cloud.
//
// It listens on loopback only; listening beyond loopback (with a token)
// comes with the operations work.
package localapi
