package pluginapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi/internal/pluginpb"
)

// Reading is one measurement: a value of a metric of a device at a time. It
// mirrors the daemon's reading type, plus Source; the contract keeps its own
// copy so that it depends on nothing else in edged.
type Reading struct {
	Device string
	Metric string
	Value  float64
	Unit   string
	// Time is carried as unix nanoseconds; the zero Time stays zero.
	Time time.Time
	// Seq is the gateway's durable sequence number, 0 until durable.
	Seq uint64
	// Source names what produced the reading (a driver, a service).
	Source string
}

// Config is a service's configuration: what the host sends with Configure
// and what Service.Configure receives.
type Config struct {
	// Name is the service's instance name in the plan.
	Name string
	// JSON is the service's own configuration (an object, or empty).
	JSON json.RawMessage
	// Subscriptions are topic filters over "device/metric", MQTT style: "+"
	// matches one level, a final "#" matches the rest ("boiler/+", "#").
	Subscriptions []string
}

// ConfigureRequest is the host's name for the Config it sends.
type ConfigureRequest = Config

// Validate checks the name, that JSON is empty or one JSON value, and the
// topic filters.
func (c Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("config: name is empty")
	}
	if len(bytes.TrimSpace(c.JSON)) > 0 && !json.Valid(c.JSON) {
		return fmt.Errorf("config of service %q is not valid JSON", c.Name)
	}
	for i, f := range c.Subscriptions {
		if err := validFilter(f); err != nil {
			return fmt.Errorf("config of service %q: subscriptions[%d]: %w", c.Name, i, err)
		}
	}
	return nil
}

// Decode decodes JSON into v strictly: unknown fields and trailing data are
// errors. Empty JSON leaves v as it is (its defaults).
func (c Config) Decode(v any) error {
	if len(bytes.TrimSpace(c.JSON)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(c.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config of service %q: %w", c.Name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("config of service %q: data after the JSON value", c.Name)
	}
	return nil
}

// validFilter checks an MQTT-style filter over "device/metric".
func validFilter(f string) error {
	if f == "" {
		return errors.New(`empty topic filter; use "#" for everything`)
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("filter %q: # must be the last level", f)
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return fmt.Errorf("filter %q: + and # must fill a whole level", f)
		}
	}
	return nil
}

// Command is a service's request to act on a device.
type Command struct {
	// ID is unique within the session (the SDK numbers them); a host that
	// needs ids unique across services and restarts prefixes them.
	ID     string
	Device string
	Action string
	// Value is JSON (true, 42, "on", {...}).
	Value json.RawMessage
}

// Result is the host's answer to a Command.
type Result struct {
	OK bool
	// Error says why, when OK is false.
	Error string
}

// toPB converts readings to the wire form.
func toPB(rs []Reading) []*pluginpb.Reading {
	out := make([]*pluginpb.Reading, len(rs))
	backing := make([]pluginpb.Reading, len(rs))
	for i := range rs {
		r := &rs[i]
		p := &backing[i]
		p.Device, p.Metric, p.Value, p.Unit = r.Device, r.Metric, r.Value, r.Unit
		if !r.Time.IsZero() {
			p.Time = r.Time.UnixNano()
		}
		p.Seq, p.Source = r.Seq, r.Source
		out[i] = p
	}
	return out
}

// fromPB converts readings from the wire form.
func fromPB(ps []*pluginpb.Reading) []Reading {
	out := make([]Reading, len(ps))
	for i, p := range ps {
		if p == nil {
			continue
		}
		r := &out[i]
		r.Device, r.Metric, r.Value, r.Unit = p.GetDevice(), p.GetMetric(), p.GetValue(), p.GetUnit()
		if t := p.GetTime(); t != 0 {
			r.Time = time.Unix(0, t)
		}
		r.Seq, r.Source = p.GetSeq(), p.GetSource()
	}
	return out
}

// chunks splits rs into parts of at most MaxBatch readings.
func chunks(rs []Reading) [][]Reading {
	if len(rs) <= MaxBatch {
		return [][]Reading{rs}
	}
	out := make([][]Reading, 0, (len(rs)+MaxBatch-1)/MaxBatch)
	for len(rs) > 0 {
		n := min(len(rs), MaxBatch)
		out = append(out, rs[:n])
		rs = rs[n:]
	}
	return out
}
