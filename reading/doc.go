// Package reading defines the one value that flows through edged: a single
// measurement from a device, made durable and numbered by the outbox and
// delivered to the cloud by the uplink.
//
// It is a leaf package (standard library only) so that drivers, runtime and
// sync packages can all share the type without importing each other.
package reading
