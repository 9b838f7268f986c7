package mqttsensor

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// maxTopicLen is the longest topic or filter MQTT can carry (a UTF-8
// string with a 16-bit length).
const maxTopicLen = 65535

// Pattern is an MQTT topic filter whose single-level wildcards may be
// named: +device and +metric capture the level they match. Build one with
// ParsePattern; the zero Pattern matches nothing.
type Pattern struct {
	text   string
	filter string
	levels []level
	// multi is set when the filter ends in # (matching zero or more
	// further levels).
	multi bool
	// hasDevice and hasMetric tell whether +device and +metric appear.
	hasDevice, hasMetric bool
}

// level is one level of a pattern before any trailing #.
type level struct {
	kind levelKind
	lit  string // the literal level when kind is literalLevel
}

type levelKind uint8

const (
	literalLevel levelKind = iota
	anyLevel               // +
	deviceLevel            // +device
	metricLevel            // +metric
)

// Match is what a topic's named wildcards captured; a name the pattern does
// not have is empty. The strings share the topic's memory.
type Match struct {
	Device string
	Metric string
	// Rest is what a trailing # matched, without its leading /.
	Rest string
}

// ParsePattern parses s, an MQTT topic filter in which a level may be +
// (any one level), +device or +metric (one level, captured; each at most
// once), or, as the last level, # (zero or more levels). It refuses an
// empty filter, a first level starting with $ (broker-internal topics), a
// # that is not the last level, + or # mixed with other characters in a
// level, and unknown wildcard names. Empty levels are allowed, as in MQTT.
func ParsePattern(s string) (Pattern, error) {
	switch {
	case s == "":
		return Pattern{}, fmt.Errorf("topic pattern is empty: use e.g. sensors/+device/+metric")
	case len(s) > maxTopicLen:
		return Pattern{}, fmt.Errorf("topic pattern is %d bytes, over MQTT's %d", len(s), maxTopicLen)
	case !utf8.ValidString(s):
		return Pattern{}, fmt.Errorf("topic pattern %q is not valid UTF-8", s)
	case strings.IndexByte(s, 0) >= 0:
		return Pattern{}, fmt.Errorf("topic pattern %q contains a NUL character", s)
	case s[0] == '$':
		return Pattern{}, fmt.Errorf("topic pattern %q starts with $: $-topics belong to the broker, not to sensors", s)
	}
	p := Pattern{text: s}
	parts := strings.Split(s, "/")
	filter := make([]string, 0, len(parts))
	for i, part := range parts {
		switch {
		case part == "#":
			if i != len(parts)-1 {
				return Pattern{}, fmt.Errorf("topic pattern %q: # must be the last level", s)
			}
			p.multi = true
			filter = append(filter, "#")
			continue
		case part == "+":
			p.levels = append(p.levels, level{kind: anyLevel})
		case part == "+device" || part == "+metric":
			kind, seen := deviceLevel, &p.hasDevice
			if part == "+metric" {
				kind, seen = metricLevel, &p.hasMetric
			}
			if *seen {
				return Pattern{}, fmt.Errorf("topic pattern %q: %s appears twice: capture each name at most once", s, part)
			}
			*seen = true
			p.levels = append(p.levels, level{kind: kind})
			part = "+"
		case strings.HasPrefix(part, "+") && !strings.ContainsAny(part[1:], "+#"):
			return Pattern{}, fmt.Errorf("topic pattern %q: unknown wildcard name %q: use +device, +metric or a bare +", s, part)
		case strings.ContainsAny(part, "+#"):
			return Pattern{}, fmt.Errorf("topic pattern %q: level %q mixes a wildcard with other characters: + and # must fill a whole level", s, part)
		default:
			p.levels = append(p.levels, level{kind: literalLevel, lit: part})
		}
		filter = append(filter, part)
	}
	p.filter = strings.Join(filter, "/")
	return p, nil
}

// String returns the pattern as it was written, names included.
func (p Pattern) String() string { return p.text }

// Filter returns the plain MQTT subscription filter: the pattern with its
// names removed (sensors/+device/+metric → sensors/+/+).
func (p Pattern) Filter() string { return p.filter }

// HasDevice reports whether the pattern captures +device.
func (p Pattern) HasDevice() bool { return p.hasDevice }

// HasMetric reports whether the pattern captures +metric.
func (p Pattern) HasMetric() bool { return p.hasMetric }

// Match reports whether topic matches the pattern by MQTT's rules and what
// the named wildcards captured. A topic starting with $ never matches a
// pattern whose first level is a wildcard; a trailing # also matches its
// parent level (a/# matches a). Topics that MQTT does not allow to be
// published (empty, or containing +, # or NUL) never match. Match does not
// allocate.
func (p Pattern) Match(topic string) (Match, bool) {
	if topic == "" || len(topic) > maxTopicLen || (len(p.levels) == 0 && !p.multi) {
		return Match{}, false
	}
	if topic[0] == '$' && (len(p.levels) == 0 || p.levels[0].kind != literalLevel) {
		return Match{}, false
	}
	if strings.ContainsAny(topic, "+#\x00") {
		return Match{}, false
	}
	var m Match
	rest, exhausted := topic, false
	for _, l := range p.levels {
		if exhausted {
			return Match{}, false
		}
		seg := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			exhausted = true
		}
		switch l.kind {
		case literalLevel:
			if seg != l.lit {
				return Match{}, false
			}
		case deviceLevel:
			m.Device = seg
		case metricLevel:
			m.Metric = seg
		}
	}
	if !exhausted && !p.multi {
		return Match{}, false
	}
	if !exhausted {
		m.Rest = rest
	}
	return m, true
}
