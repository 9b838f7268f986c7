// Package forwarder moves durable readings from the outbox to a destination
// (the cloud uplink or another route's link).
//
// It peeks the oldest readings, groups them into one JSON message per device
// (up to Batch readings each, in seq order), keeps up to Inflight QoS 1
// publishes outstanding, and acks readings in the outbox only after the
// broker's PUBACK for the message that carried them. When a publish fails or
// the link reconnects it starts again from the oldest unacknowledged reading,
// so delivery is at-least-once and in order per device: duplicates are
// possible after a failure, gaps are not.
//
// A failed publish is retried with exponential back-off (Config.Backoff).
// A batch the destination refuses is split down to single readings; a
// single reading refused for good (a Link's error marked Permanent), or
// MaxAttempts times when failures are not classified, or older than the
// route's TTL, goes to the dead letters and is acked, so the rest flows.
//
// Several forwarders (routes) may each drain their own cursor of the log
// into their own Link; routes that share one Link share its in-flight
// window through Shared, by priority.
//
// The store and the link are interfaces defined here; cmd/edged wires the
// outbox (or an outbox cursor) and the uplink or a sync/routeout link to
// them.
package forwarder
