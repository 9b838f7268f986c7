package routes

import (
	"fmt"
	"slices"

	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/reading"
)

// Filter picks the readings a route (or a cursor consumer) wants. Every
// part left empty lets everything through; the parts are and-ed.
type Filter struct {
	// Match are MQTT-style filters over "device/metric" ("boiler/+",
	// "porch/temperature", "#"); empty: every reading.
	Match []string `yaml:"match" json:"match,omitempty"`
	// Exclude are filters over "device/metric" of readings left out even
	// when Match takes them.
	Exclude []string `yaml:"exclude" json:"exclude,omitempty"`
	// Sources are where readings come from: "devices" for the readings of
	// devices (chips, MQTT sensors, Modbus), or a service's name for what
	// that service emits; empty: from anywhere.
	Sources []string `yaml:"sources" json:"sources,omitempty"`
	// Simulated is "include" (the default), "exclude" (real readings
	// only) or "only" (simulated readings only).
	Simulated string `yaml:"simulated" json:"simulated,omitempty"`
}

// SourceDevices is the Sources entry for readings of devices.
const SourceDevices = "devices"

// Problem is one thing wrong with a filter: the field (relative to the
// filter, e.g. "match[1]") and what to do.
type Problem struct {
	Field, Msg string
}

// Check lists every problem of f, each naming its field.
func (f Filter) Check() []Problem {
	var ps []Problem
	for i, m := range f.Match {
		if err := topic.ValidFilter(m); err != nil {
			ps = append(ps, Problem{fmt.Sprintf("match[%d]", i), err.Error()})
		}
	}
	for i, m := range f.Exclude {
		if err := topic.ValidFilter(m); err != nil {
			ps = append(ps, Problem{fmt.Sprintf("exclude[%d]", i), err.Error()})
		}
	}
	for i, s := range f.Sources {
		if s == "" {
			ps = append(ps, Problem{fmt.Sprintf("sources[%d]", i), `empty: name a service, or "devices" for the readings of devices`})
		}
	}
	switch f.Simulated {
	case "", "include", "exclude", "only":
	default:
		ps = append(ps, Problem{"simulated", fmt.Sprintf("%q: use include, exclude or only", f.Simulated)})
	}
	return ps
}

// Empty reports whether f lets every reading through.
func (f Filter) Empty() bool {
	return len(f.Match) == 0 && len(f.Exclude) == 0 && len(f.Sources) == 0 && (f.Simulated == "" || f.Simulated == "include")
}

// Wants reports whether r passes f.
func (f Filter) Wants(r *reading.Reading) bool {
	switch f.Simulated {
	case "exclude":
		if r.Simulated {
			return false
		}
	case "only":
		if !r.Simulated {
			return false
		}
	}
	if len(f.Sources) > 0 {
		src := r.Source
		if src == "" {
			src = SourceDevices
		}
		if !slices.Contains(f.Sources, src) {
			return false
		}
	}
	if len(f.Match) == 0 && len(f.Exclude) == 0 {
		return true
	}
	t := r.Device + "/" + r.Metric
	if len(f.Match) > 0 && !matchAny(f.Match, t) {
		return false
	}
	return !matchAny(f.Exclude, t)
}

func matchAny(filters []string, t string) bool {
	for _, f := range filters {
		if topic.Match(f, t) {
			return true
		}
	}
	return false
}
