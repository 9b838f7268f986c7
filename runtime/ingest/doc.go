// Package ingest makes pushed readings durable: readings that arrive on
// their own (MQTT sensors, services) rather than from a poll. Submitters
// hand over readings with a callback; one loop gathers whatever is queued
// into one append to the Sink (so many small messages share a transaction
// and an fsync) and then calls every callback with the outcome, in the
// order the readings were submitted.
package ingest
