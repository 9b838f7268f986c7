package mqttsensor

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/edged-gateway/edged/reading"
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
	// Missing counts, by metric, the fields (or paths, or ESPHome "nan"
	// values) that were absent or null and skipped (missing: skip) while
	// the rest of the message was stored; for the first MaxTrackedDevices
	// metric names, the others in MissingOther. Callers own the map.
	Missing      map[string]uint64
	MissingOther uint64
	// Attributes is Homie attribute messages ($name, $unit, …) read.
	Attributes uint64
	// Metrics is the device and metric of every reading decoded so far
	// (the first MaxTrackedMetrics), with its latest unit and, for Homie,
	// its $name: what a reader such as Home Assistant discovery needs to
	// describe the sensor. Sorted by device, then metric.
	Metrics []MetricInfo
}

// MaxTrackedMetrics is how many device/metric pairs Stats.Metrics keeps.
const MaxTrackedMetrics = 1024

// MetricInfo describes one metric of one device a sensor has decoded.
type MetricInfo struct {
	Device string `json:"device"`
	Metric string `json:"metric"`
	Unit   string `json:"unit"`
	// Name is a human name for the metric when the payload gave one
	// (Homie's $name).
	Name string `json:"name,omitempty"`
}

// counters are a Sensor's live Stats.
type counters struct {
	messages, readings, unmatched, skipped, attributes atomic.Uint64

	mu        sync.Mutex
	bad       uint64
	badOther  uint64
	badByName map[string]uint64
	miss      map[string]uint64
	missOther uint64
	metrics   map[[2]string]MetricInfo
}

// missed counts a skipped missing value of metric.
func (c *counters) missed(metric string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.miss[metric]; ok || len(c.miss) < MaxTrackedDevices {
		if c.miss == nil {
			c.miss = make(map[string]uint64)
		}
		c.miss[metric]++
		return
	}
	c.missOther++
}

// seen records the device, metric and unit of rs.
func (c *counters) seen(rs []reading.Reading) {
	if len(rs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.metrics == nil {
		c.metrics = make(map[[2]string]MetricInfo)
	}
	for _, r := range rs {
		k := [2]string{r.Device, r.Metric}
		mi, ok := c.metrics[k]
		if !ok && len(c.metrics) >= MaxTrackedMetrics {
			continue
		}
		if ok && mi.Unit == r.Unit {
			continue
		}
		mi.Device, mi.Metric, mi.Unit = r.Device, r.Metric, r.Unit
		c.metrics[k] = mi
	}
}

// named records a human name for device's metric.
func (c *counters) named(device, metric, name string) {
	if checkName(device) != nil || checkName(metric) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{device, metric}
	mi, ok := c.metrics[k]
	if !ok && len(c.metrics) >= MaxTrackedMetrics {
		return
	}
	if c.metrics == nil {
		c.metrics = make(map[[2]string]MetricInfo)
	}
	mi.Device, mi.Metric, mi.Name = device, metric, name
	c.metrics[k] = mi
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
	st.Missing, st.MissingOther = maps.Clone(c.miss), c.missOther
	st.Metrics = slices.SortedFunc(maps.Values(c.metrics), func(a, b MetricInfo) int {
		return cmp.Or(strings.Compare(a.Device, b.Device), strings.Compare(a.Metric, b.Metric))
	})
	c.mu.Unlock()
	if st.Missing == nil {
		st.Missing = map[string]uint64{}
	}
	st.Attributes = c.attributes.Load()
	if st.MalformedByDevice == nil {
		st.MalformedByDevice = map[string]uint64{}
	}
	st.Skipped = c.skipped.Load()
	st.Readings = c.readings.Load()
	st.Unmatched = c.unmatched.Load()
	st.Messages = c.messages.Load()
	return st
}
