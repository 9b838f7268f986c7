package mqttsensor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// MaxHomieProperties bounds how many properties' attributes a homie sensor
// remembers; attributes of further properties are read and not kept.
const MaxHomieProperties = 4096

// homieState is what a homie sensor has learnt from attribute topics:
// each property's name, unit and datatype, by device/node/property.
type homieState struct {
	mu    sync.Mutex
	props map[string]homieProp
}

// homieProp is the attributes of one property.
type homieProp struct {
	Name     string `json:"name"`
	Unit     string `json:"unit"`
	Datatype string `json:"datatype"`
}

func (h *homieState) get(key string) homieProp {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.props[key]
}

// update applies f to the property at key, unless the state is full.
func (h *homieState) update(key string, f func(*homieProp)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.props[key]
	if !ok && len(h.props) >= MaxHomieProperties {
		return
	}
	if h.props == nil {
		h.props = make(map[string]homieProp)
	}
	f(&p)
	h.props[key] = p
}

// decodeHomie reads one Homie message: rest is the topic below the
// device (<node>/<property>, <node>/<property>/$unit, $description, …).
// v5 topics (homie/5/<device>/…) arrive with device "5": the device is
// then rest's first level. Values become the metric <node>.<property>;
// attribute topics ($name, $unit, $datatype, v5's $description) are
// remembered for the values after them and yield no reading, as do other
// $-topics and /set. It returns the readings, how many attribute messages
// it read, and how many values it skipped for a datatype that is not a
// number (string, enum, color, datetime, duration, json).
func (s *Sensor) decodeHomie(device, rest string, payload []byte, now time.Time) ([]reading.Reading, int, int, error) {
	raw := strings.TrimPrefix(device, s.prefix)
	if raw == "5" && rest != "" {
		raw, rest, _ = strings.Cut(rest, "/")
		device = s.prefix + raw
		if err := checkName(device); err != nil {
			return nil, 0, 0, fmt.Errorf("device name %s in the topic %w", quoteString(device), err)
		}
	}
	levels := strings.Split(rest, "/")
	for _, l := range levels {
		if strings.HasPrefix(l, "$") {
			return nil, 1, 0, s.homieAttribute(device, levels, payload)
		}
	}
	switch {
	case rest == "":
		return nil, 1, 0, nil // the device topic itself carries nothing
	case len(levels) == 3 && levels[2] == "set":
		return nil, 1, 0, nil // a command to the device, not a value
	case len(levels) != 2 || levels[0] == "" || levels[1] == "":
		return nil, 0, 0, errors.New("the topic below the device is not <node>/<property> or an attribute ($name, $unit, …)")
	}
	metric := levels[0] + "." + levels[1]
	if err := checkName(metric); err != nil {
		return nil, 0, 0, fmt.Errorf("metric name %s (<node>.<property>) %w", quoteString(metric), err)
	}
	p := s.homie.get(device + "/" + rest)
	var v float64
	switch p.Datatype {
	case "", "integer", "float":
		f, err := parsePlain(payload)
		if err != nil {
			return nil, 0, 0, err
		}
		v = f
	case "boolean":
		switch string(bytes.TrimSpace(payload)) {
		case "true":
			v = 1
		case "false":
		default:
			return nil, 0, 0, errors.New(`not a Homie boolean: publish true or false`)
		}
	default:
		return nil, 0, 1, nil
	}
	if p.Name != "" {
		s.stats.named(device, metric, p.Name)
	}
	r, err := s.newReading(device, metric, v, s.unitOf(metric, p.Unit), now)
	if err != nil {
		return nil, 0, 0, err
	}
	return []reading.Reading{r}, 0, 0, nil
}

// homieAttribute remembers a property's $name, $unit or $datatype, or
// every property's from a v5 $description; other attributes are ignored.
func (s *Sensor) homieAttribute(device string, levels []string, payload []byte) error {
	if len(levels) == 1 && levels[0] == "$description" {
		return s.homieDescription(device, payload)
	}
	if len(levels) != 3 || strings.HasPrefix(levels[0], "$") || strings.HasPrefix(levels[1], "$") {
		return nil // $state, $nodes, $homie, node attributes, …
	}
	val := string(payload)
	if err := checkUnit(val); err != nil {
		return fmt.Errorf("attribute %s: %s %w", quoteString(levels[2]), quote(payload), err)
	}
	key := device + "/" + levels[0] + "/" + levels[1]
	switch levels[2] {
	case "$name":
		s.homie.update(key, func(p *homieProp) { p.Name = val })
		s.stats.named(device, levels[0]+"."+levels[1], val)
	case "$unit":
		s.homie.update(key, func(p *homieProp) { p.Unit = val })
	case "$datatype":
		s.homie.update(key, func(p *homieProp) { p.Datatype = val })
	}
	return nil
}

// homieDescription reads a Homie v5 device description: its nodes'
// properties' names, units and datatypes.
func (s *Sensor) homieDescription(device string, payload []byte) error {
	if err := checkDepth(payload); err != nil {
		return err
	}
	var d struct {
		Nodes map[string]struct {
			Properties map[string]homieProp `json:"properties"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(payload, &d); err != nil {
		return fmt.Errorf("$description is not a Homie v5 description: %w", err)
	}
	for node, n := range d.Nodes {
		for prop, p := range n.Properties {
			if checkUnit(p.Name) != nil || checkUnit(p.Unit) != nil || checkUnit(p.Datatype) != nil {
				return fmt.Errorf("$description: property %s/%s has a name, unit or datatype with control characters or over %d bytes", quoteString(node), quoteString(prop), MaxNameLen)
			}
			s.homie.update(device+"/"+node+"/"+prop, func(q *homieProp) { *q = p })
			if p.Name != "" {
				s.stats.named(device, node+"."+prop, p.Name)
			}
		}
	}
	return nil
}
