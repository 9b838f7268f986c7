package mqttsensor

import (
	"maps"
	"sync"
	"sync/atomic"
)

// MaxTrackedDevices is how many device names Stats.MalformedByDevice keeps;
// malformed messages of further devices count in MalformedOther.
const MaxTrackedDevices = 256

// Stats counts what a Sensor has decoded since New. Every message counts
// in Messages and in at most one of Unmatched and Malformed.
type Stats struct {
	// Messages is every call of Decode.
	Messages uint64
	// Readings is how many readings Decode returned in all.
	Readings uint64
	// Unmatched is messages whose topic did not match the pattern.
	Unmatched uint64
	// Malformed is messages refused for their payload or for an invalid
	// device or metric name in the topic.
	Malformed uint64
	// Skipped is SenML records without a numeric value (only vs or vd)
	// that were left out of otherwise good messages.
	Skipped uint64
	// MalformedByDevice splits Malformed by device (from the topic's
	// +device, else the sensor's name) for the first MaxTrackedDevices
	// valid names seen. Callers own the map.
	MalformedByDevice map[string]uint64
	// MalformedOther is the malformed messages of devices past that limit
	// or whose name in the topic is invalid.
	MalformedOther uint64
}

// counters are a Sensor's live Stats.
type counters struct {
	messages, readings, unmatched, skipped atomic.Uint64

	mu        sync.Mutex
	bad       uint64
	badOther  uint64
	badByName map[string]uint64
}

// malformed counts a malformed message of device.
func (c *counters) malformed(device string) {
	valid := checkName(device) == nil
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad++
	if _, ok := c.badByName[device]; valid && (ok || len(c.badByName) < MaxTrackedDevices) {
		if c.badByName == nil {
			c.badByName = make(map[string]uint64)
		}
		c.badByName[device]++
		return
	}
	c.badOther++
}

// Stats returns a snapshot of the sensor's counters. It reads Messages
// last, so Messages ≥ Unmatched + Malformed holds in every snapshot.
func (s *Sensor) Stats() Stats {
	c := &s.stats
	var st Stats
	c.mu.Lock()
	st.Malformed, st.MalformedOther = c.bad, c.badOther
	st.MalformedByDevice = maps.Clone(c.badByName)
	c.mu.Unlock()
	if st.MalformedByDevice == nil {
		st.MalformedByDevice = map[string]uint64{}
	}
	st.Skipped = c.skipped.Load()
	st.Readings = c.readings.Load()
	st.Unmatched = c.unmatched.Load()
	st.Messages = c.messages.Load()
	return st
}
