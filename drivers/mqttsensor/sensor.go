package mqttsensor

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/reading"
)

// MaxPayload is the largest payload Decode parses, in bytes; longer ones
// are rejected unread.
const MaxPayload = 64 << 10

// Sensor turns the messages published on one topic pattern into readings.
// Its methods are safe for concurrent use.
type Sensor struct {
	zone     *time.Location // offset-less times at timePath
	name     string
	pattern  Pattern
	format   string
	metric   string    // when the topic has no +metric
	path     jsonPath  // json with one value
	fields   []field   // json with several values, by metric
	timePath *jsonPath // json: where the time is; nil means receive time
	unit     string    // raw unit
	units    map[string]string
	// unitPaths are json paths to units in the payload, by metric.
	unitPaths      map[string]jsonPath
	scale          scale.Linear
	stats          counters
	restamp        bool // bad_time: receive
	missingSkip    bool // missing: skip
	wildcardMetric bool // wildcard_key: metric
	senmlJoin      bool // senml_names: join
	prefix         string
	homie          homieState
}

// MaxReadings bounds the readings of one message; a message with more is
// malformed.
const MaxReadings = 256

// field is one metric of a json message with Fields.
type field struct {
	metric string
	path   jsonPath
	// optional: a preset's field, which a device may not have at all
	optional bool
}

// New returns the sensor for the device called name. name is the device of
// every reading unless the topic captures +device. cfg must pass Validate.
func New(name string, cfg Config) (*Sensor, error) {
	if err := checkName(name); err != nil {
		return nil, fmt.Errorf("mqttsensor: device name %s %w", quoteString(name), err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mqttsensor %s: %w", name, err)
	}
	// Validate has parsed everything once; these cannot fail.
	cfg, _ = cfg.withPreset()
	p, _ := ParsePattern(cfg.Topic)
	s := &Sensor{name: name, pattern: p, format: cfg.format(), metric: cfg.Metric, unit: cfg.Unit, scale: cfg.Scale,
		restamp: cfg.BadTime == BadTimeReceive, units: maps.Clone(cfg.Units), missingSkip: cfg.missingSkip(),
		wildcardMetric: cfg.WildcardKey == WildcardMetric, senmlJoin: cfg.SenMLNames == SenMLJoin, prefix: cfg.DevicePrefix}
	if len(cfg.UnitPaths) > 0 {
		s.unitPaths = make(map[string]jsonPath, len(cfg.UnitPaths))
		for m, path := range cfg.UnitPaths {
			s.unitPaths[m], _ = parsePath(path)
		}
	}
	if s.format == FormatJSON {
		for _, m := range cfg.fieldNames() {
			jp, _ := parsePath(cfg.Fields[m])
			s.fields = append(s.fields, field{metric: m, path: jp, optional: cfg.presetFields[m]})
		}
		s.path, _ = parsePath(cfg.path())
		if cfg.TimePath != "" {
			tp, _ := parsePath(cfg.TimePath)
			s.timePath = &tp
		}
		s.zone, _ = cfg.zone()
	}
	return s, nil
}

// Restamp reports whether a reading whose time the gateway will not store
// takes the receive time instead of being refused (bad_time: receive).
func (s *Sensor) Restamp() bool { return s.restamp }

// Name is the device's configured name.
func (s *Sensor) Name() string { return s.name }

// Filter is the MQTT subscription filter that delivers this sensor's
// messages, e.g. sensors/+/+.
func (s *Sensor) Filter() string { return s.pattern.Filter() }

// Matches reports whether topic matches the sensor's pattern, so that a
// router can pick the sensor for a message before decoding it. It does not
// allocate or count.
func (s *Sensor) Matches(topic string) bool {
	_, ok := s.pattern.Match(topic)
	return ok
}

// Decode turns one message into readings: every reading the payload holds,
// scaled, with the device and metric from the topic or the configuration,
// and Seq 0. It fails, with no readings, when the topic does not match the
// pattern (wrapping ErrNoMatch), a captured name is invalid, or the payload
// is malformed in any part. now is when the message arrived.
func (s *Sensor) Decode(topic string, payload []byte, now time.Time) ([]reading.Reading, error) {
	s.stats.messages.Add(1)
	m, ok := s.pattern.Match(topic)
	if !ok {
		s.stats.unmatched.Add(1)
		return nil, fmt.Errorf("mqttsensor %s: %s: %w %s", s.name, topicText(topic), ErrNoMatch, s.pattern)
	}
	device, metric := s.name, s.metric
	if s.pattern.hasDevice {
		device = s.prefix + m.Device
		if err := checkName(device); err != nil {
			return nil, s.malformed(topic, device, fmt.Errorf("device name %s in the topic %w", quoteString(device), err))
		}
	}
	if s.pattern.hasMetric {
		metric = m.Metric
		if err := checkName(metric); err != nil {
			return nil, s.malformed(topic, device, fmt.Errorf("metric name %s in the topic %w", quoteString(metric), err))
		}
	}
	if len(payload) > MaxPayload {
		return nil, s.malformed(topic, device, fmt.Errorf("payload of %d bytes is over the %d KiB limit", len(payload), MaxPayload>>10))
	}
	var (
		rs      []reading.Reading
		skipped int
		missing []string
		attrs   int
		err     error
	)
	switch s.format {
	case FormatJSON:
		rs, missing, err = s.decodeJSON(device, metric, payload, now)
	case FormatSenML:
		rs, skipped, err = s.decodeSenML(device, payload, now)
	case FormatHomie:
		rs, attrs, skipped, err = s.decodeHomie(device, m.Rest, payload, now)
	case FormatAuto:
		var r reading.Reading
		if r, err = s.decodeAuto(device, metric, payload, now); err == nil {
			rs = []reading.Reading{r}
		}
	default:
		if s.missingSkip && isNaNText(payload) {
			missing = []string{metric}
			break
		}
		var r reading.Reading
		if r, err = s.decodePlain(device, metric, payload, now); err == nil {
			rs = []reading.Reading{r}
		}
	}
	if err != nil {
		return nil, s.malformed(topic, device, fmt.Errorf("payload %s: %w", quote(payload), err))
	}
	s.stats.readings.Add(uint64(len(rs)))
	s.stats.skipped.Add(uint64(skipped))
	s.stats.attributes.Add(uint64(attrs))
	for _, m := range missing {
		s.stats.missed(m)
	}
	s.stats.seen(rs)
	return rs, nil
}

// isNaNText reports whether a plain payload is "nan" in any case, which
// ESPHome publishes for a sensor that has no value.
func isNaNText(b []byte) bool {
	return strings.EqualFold(string(bytes.TrimSpace(b)), "nan")
}

// unitOf is the unit of metric: the payload's unit when it carries one,
// else the units option's for metric, else the unit option.
func (s *Sensor) unitOf(metric, payload string) string {
	if payload != "" {
		return payload
	}
	if u, ok := s.units[metric]; ok {
		return u
	}
	return s.unit
}

// normalName turns a name taken from a payload (a member name, a SenML
// name) into a valid device or metric name: a URN's urn:dev: scheme and
// trailing separators dropped, colons and / as -, +, # and control
// characters as _, cut to MaxNameLen bytes on a rune boundary. It may
// return "" for a name of separators only.
func normalName(n string) string {
	n = strings.ToValidUTF8(n, "_")
	if len(n) > 4 && strings.EqualFold(n[:4], "urn:") {
		n = n[4:]
		if len(n) > 4 && strings.EqualFold(n[:4], "dev:") {
			n = n[4:]
		}
	}
	n = strings.Trim(n, ":/._-")
	n = strings.Map(func(r rune) rune {
		switch {
		case r == ':' || r == '/':
			return '-'
		case r == '+' || r == '#' || unicode.IsControl(r):
			return '_'
		}
		return r
	}, n)
	if len(n) > MaxNameLen {
		cut := MaxNameLen
		for cut > 0 && !utf8.RuneStart(n[cut]) {
			cut--
		}
		n = n[:cut]
	}
	return n
}

// malformed counts a rejected message of device and names the sensor and
// topic in err.
func (s *Sensor) malformed(topic, device string, err error) error {
	s.stats.malformed(device)
	return fmt.Errorf("mqttsensor %s: %s: %w", s.name, topicText(topic), err)
}

// newReading scales v and builds the reading, refusing a value the scale
// takes out of the finite numbers.
func (s *Sensor) newReading(device, metric string, v float64, unit string, t time.Time) (reading.Reading, error) {
	out := s.scale.Apply(v)
	if math.IsNaN(out) || math.IsInf(out, 0) {
		return reading.Reading{}, fmt.Errorf("%s: value %g scales to %g, not a finite number", metric, v, out)
	}
	return reading.Reading{Device: device, Metric: metric, Value: out, Unit: s.scale.UnitOr(unit), Time: t}, nil
}

// decodePlain reads a payload that is one decimal number.
func (s *Sensor) decodePlain(device, metric string, payload []byte, now time.Time) (reading.Reading, error) {
	v, err := parsePlain(payload)
	if err != nil {
		return reading.Reading{}, err
	}
	return s.newReading(device, metric, v, s.unitOf(metric, ""), now)
}

// parsePlain parses a decimal number (sign, digits, fraction, exponent)
// with optional surrounding whitespace. NaN, Inf, hex and Go's underscores
// are refused.
func parsePlain(b []byte) (float64, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return 0, errors.New("empty: publish a number, e.g. 21.5")
	}
	if !isDecimal(b) {
		return 0, errors.New("not a number: publish a decimal number, e.g. 21.5 or -3e2")
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, errors.New("number out of range of a float64")
	}
	return v, nil
}

// isDecimal reports whether b is [+-]digits[.digits][e[+-]digits], where
// either side of the point may be empty but not both.
func isDecimal(b []byte) bool {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		digits++
	}
	if i < len(b) && b[i] == '.' {
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
		if i == exp {
			return false
		}
	}
	return i == len(b)
}
