package reading

import (
	"fmt"
	"time"
)

// Reading is one measurement: a value of a metric of a device at a time.
//
// Seq is zero until the reading is durable; the outbox then assigns the next
// per-gateway sequence number. Seqs only go up, so the cloud can detect gaps
// and drop duplicates (delivery is at-least-once, in order).
type Reading struct {
	Device string
	Metric string
	Value  float64
	Unit   string
	Time   time.Time
	Seq    uint64
	// Source is what produced the reading: empty for a device's own
	// readings, the service instance name for readings a service emitted.
	Source string
	// Hops is the reading's depth in a service chain: 0 for a device's
	// reading, one more than the deepest input of the service that emitted
	// it. The outbox stores it with the reading, so the chain limit
	// (service_chain.max_depth) holds across restarts; telemetry does not
	// carry it.
	Hops uint8
	// Simulated marks a reading from a simulated chip or source (the
	// simulated board, the sim device kind): telemetry carries
	// "simulated": true, so simulated data never passes as real.
	Simulated bool
}

// String formats the reading for logs: "demo-temp/temperature=21.5C @… #seq".
func (r Reading) String() string {
	return fmt.Sprintf("%s/%s=%g%s @%s #%d", r.Device, r.Metric, r.Value, r.Unit,
		r.Time.UTC().Format(time.RFC3339Nano), r.Seq)
}
