package mqttsensor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edged-gateway/edged/reading"
)

// senmlVersion is the SenML version this package reads (RFC 8428); a pack
// with a higher bver is refused.
const senmlVersion = 10

// relativeTime is the bound below which a SenML time is relative to now
// (RFC 8428 section 4.5.3: 2**28 seconds).
const relativeTime = 1 << 28

// oldestRelative bounds how far back a relative SenML time may go, in
// seconds (about 136 years), so that it converts to a time.Duration.
const oldestRelative = -(1 << 32)

// senmlBase is the base fields in force: they apply to the record that
// sets them and to every later one until set again.
type senmlBase struct {
	name, unit     string
	time, val, sum float64
}

// senmlRecord is the regular fields of one record, decoded.
type senmlRecord struct {
	name, unit   string
	t, v, s      float64
	hasV, hasS   bool
	vb           *bool
	textValues   int  // vs and vd
	regularField bool // n, u, t or a value: not base fields only
}

// decodeSenML reads a SenML JSON pack. It returns the readings and how many
// records held no numeric value (vs or vd only) and were skipped.
func (s *Sensor) decodeSenML(device string, payload []byte, now time.Time) ([]reading.Reading, int, error) {
	if b := bytes.TrimSpace(payload); len(b) == 0 || b[0] != '[' {
		return nil, 0, errors.New("not a SenML pack: publish a JSON array of records, e.g. [{\"n\":\"temp\",\"v\":21.5}]")
	}
	if err := checkDepth(payload); err != nil {
		return nil, 0, err
	}
	recs, err := parseSenMLPack(payload)
	if err != nil {
		return nil, 0, err
	}
	var (
		base    senmlBase
		rs      = make([]reading.Reading, 0, len(recs))
		skipped int
	)
	for i, fields := range recs {
		rec, err := parseSenMLRecord(fields, &base)
		if err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
		var v float64
		switch {
		case rec.hasV:
			v = base.val + rec.v
		case rec.vb != nil:
			v = 0
			if *rec.vb {
				v = 1
			}
		case rec.textValues > 0:
			skipped++
			continue
		case rec.hasS:
			v = base.sum + rec.s
		case !rec.regularField:
			continue // base fields only: they apply to the records after
		default:
			return nil, 0, fmt.Errorf("record %d has no value: it needs v, vb, vs, vd or s", i)
		}
		if math.IsInf(v, 0) {
			return nil, 0, fmt.Errorf("record %d: value overflows a float64", i)
		}
		unit := rec.unit
		if unit == "" {
			unit = base.unit
		}
		dev, name, err := s.senmlNames(device, base.name, rec.name, unit)
		if err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
		t, err := senmlTime(base.time+rec.t, now)
		if err != nil {
			return nil, 0, fmt.Errorf("record %d: time (bt+t) %w", i, err)
		}
		unit = s.unitOf(name, unit)
		if err := checkUnit(unit); err != nil {
			return nil, 0, fmt.Errorf("record %d: unit %s %w", i, quoteString(unit), err)
		}
		r, err := s.newReading(dev, name, v, unit, t)
		if err != nil {
			return nil, 0, fmt.Errorf("record %d: %w", i, err)
		}
		if len(rs) == MaxReadings {
			return nil, 0, fmt.Errorf("more than %d readings in one pack: the limit keeps a message bounded", MaxReadings)
		}
		rs = append(rs, r)
	}
	if len(rs) == 0 {
		return nil, 0, fmt.Errorf("no readings: %d records, %d of them without a numeric value (vs or vd only)", len(recs), skipped)
	}
	return rs, skipped, nil
}

// senmlNames maps a record's base name bn and name n to a device and a
// metric. join: the metric is bn+n, the device the topic's or the
// sensor's. split: a name bn+n of the form urn:dev:<type>:<id>[:<rest>]
// (RFC 9039 device URNs, as in RFC 8428's examples) is device <type>-<id>
// and metric <rest>; otherwise bn, normalised, is the device and n,
// normalised, the metric, and without bn the device is the topic's or the
// sensor's. device_prefix goes before a device taken from a name. A record
// without a metric name takes its unit as the metric (RFC 8428 section
// 5.1.3 tells %RH, lat and lon apart only by unit), else "value".
func (s *Sensor) senmlNames(device, bn, n, unit string) (string, string, error) {
	if s.senmlJoin {
		name := bn + n
		if name == "" {
			return "", "", errors.New("has no name: set n, or bn in this or an earlier record")
		}
		if err := checkName(name); err != nil {
			return "", "", fmt.Errorf("metric name %s (bn+n) %w", quoteString(name), err)
		}
		return device, name, nil
	}
	full := bn + n
	var metric string
	if len(full) > 8 && strings.EqualFold(full[:8], "urn:dev:") {
		parts := strings.SplitN(full[8:], ":", 3)
		device = s.prefix + normalName(strings.Join(parts[:min(2, len(parts))], "-"))
		if len(parts) == 3 {
			metric = normalName(parts[2])
		}
	} else {
		metric = normalName(n)
		if bn != "" {
			d := normalName(bn)
			if d == "" {
				return "", "", fmt.Errorf("base name %s has no characters left for a device name", quoteString(bn))
			}
			device = s.prefix + d
		}
	}
	if metric == "" {
		metric = normalName(unit)
	}
	if metric == "" {
		metric = "value"
	}
	if err := checkName(device); err != nil {
		return "", "", fmt.Errorf("device name %s (from bn) %w", quoteString(device), err)
	}
	if err := checkName(metric); err != nil {
		return "", "", fmt.Errorf("metric name %s (from n) %w", quoteString(metric), err)
	}
	return device, metric, nil
}

// parseSenMLPack decodes the array of records, each a map of its fields.
func parseSenMLPack(payload []byte) ([]map[string]json.RawMessage, error) {
	var recs []map[string]json.RawMessage
	err := json.Unmarshal(payload, &recs)
	if err == nil {
		for i, r := range recs {
			if r == nil {
				return nil, fmt.Errorf("record %d: is null, not an object", i)
			}
		}
		return recs, nil
	}
	// Decode again to say which record is wrong, in JSON's terms.
	var raws []json.RawMessage
	if err := json.Unmarshal(payload, &raws); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	for i, raw := range raws {
		if raw[0] != '{' {
			return nil, fmt.Errorf("record %d: is %s, not an object", i, rawKind(raw))
		}
	}
	return nil, fmt.Errorf("not JSON: %w", err)
}

// parseSenMLRecord decodes the fields of one record, updating base with
// its base fields.
func parseSenMLRecord(fields map[string]json.RawMessage, base *senmlBase) (senmlRecord, error) {
	var rec senmlRecord
	values, regular := 0, 0
	// Sorted, so that a record with several problems always reports the
	// same one.
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := fields[k]
		var err error
		switch k {
		case "bn":
			base.name, err = rawString(k, v)
		case "bt":
			base.time, err = rawNumber(k, v)
		case "bu":
			base.unit, err = rawString(k, v)
		case "bv":
			base.val, err = rawNumber(k, v)
		case "bs":
			base.sum, err = rawNumber(k, v)
		case "bver":
			var ver float64
			if ver, err = rawNumber(k, v); err == nil && (ver != math.Trunc(ver) || ver < 1) {
				err = fmt.Errorf("bver %g is not a version number", ver)
			} else if err == nil && ver > senmlVersion {
				err = fmt.Errorf("bver %g is newer than SenML version %d, which this reads", ver, senmlVersion)
			}
		case "n":
			rec.name, err = rawString(k, v)
			regular++
		case "u":
			rec.unit, err = rawString(k, v)
			regular++
		case "t":
			rec.t, err = rawNumber(k, v)
			regular++
		case "v":
			rec.v, err = rawNumber(k, v)
			rec.hasV = true
			values++
		case "vb":
			var b bool
			b, err = rawBool(k, v)
			rec.vb = &b
			values++
		case "vs", "vd":
			_, err = rawString(k, v)
			rec.textValues++
			values++
		case "s":
			rec.s, err = rawNumber(k, v)
			rec.hasS = true
			regular++
		case "ut":
			// The update time only hints when to expect the next value.
		default:
			if strings.HasSuffix(k, "_") {
				err = fmt.Errorf("field %s must be understood (its name ends in _) and is not supported", quoteString(k))
			}
		}
		if err != nil {
			return rec, err
		}
	}
	if values > 1 {
		return rec, fmt.Errorf("has %d value fields (v, vb, vs, vd): a record holds one", values)
	}
	rec.regularField = regular+values > 0
	return rec, nil
}

// senmlTime resolves a record's time, bt+t in seconds: at or past 2**28 it
// is Unix time, below that relative to now (RFC 8428 section 4.5.3).
func senmlTime(sec float64, now time.Time) (time.Time, error) {
	if sec >= relativeTime {
		return unixSeconds(sec)
	}
	if sec < oldestRelative {
		return time.Time{}, fmt.Errorf("%g seconds relative to now is before 1970", sec)
	}
	t := now.Add(time.Duration(math.Round(sec * float64(time.Second))))
	if t.Unix() < 0 {
		return time.Time{}, fmt.Errorf("%g seconds relative to now is before 1970", sec)
	}
	return t, nil
}

// rawNumber decodes the number of field k.
func rawNumber(k string, raw json.RawMessage) (float64, error) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, fmt.Errorf("%s is %s, not a number", k, rawKind(raw))
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%s: number %s is out of range of a float64", k, quote(raw))
	}
	return f, nil
}

// rawString decodes the string of field k.
func rawString(k string, raw json.RawMessage) (string, error) {
	var s string
	if len(raw) == 0 || raw[0] != '"' {
		return "", fmt.Errorf("%s is %s, not a string", k, rawKind(raw))
	}
	// The pack is valid JSON, so a string without escapes is its bytes.
	if in := raw[1 : len(raw)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in), nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%s: %w", k, err)
	}
	return s, nil
}

// rawBool decodes the boolean of field k.
func rawBool(k string, raw json.RawMessage) (bool, error) {
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s is %s, not a boolean", k, rawKind(raw))
}

// rawKind names the JSON type of raw, with an article, for errors.
func rawKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "missing"
	}
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return "a number"
}
