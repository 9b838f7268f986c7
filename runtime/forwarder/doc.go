// Package forwarder moves durable readings from the outbox to the cloud.
//
// It peeks the oldest readings, groups them into one JSON message per device
// (up to Batch readings each, in seq order), keeps up to Inflight QoS 1
// publishes outstanding, and acks readings in the outbox only after the
// broker's PUBACK for the message that carried them. When a publish fails or
// the link reconnects it starts again from the oldest unacknowledged reading,
// so delivery is at-least-once and in order per device: duplicates are
// possible after a failure, gaps are not.
//
// The store and the link are interfaces defined here; cmd/edged wires the
// outbox and the uplink to them.
package forwarder
