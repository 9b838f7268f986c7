package mqttsensor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// maxUnix is the last second of year 9999, the latest time a reading may
// carry (and the last RFC 3339 can write).
const maxUnix = 253402300799

// decodeJSON reads the value at the sensor's path, or one per field, and
// the time at its time path. It returns the metrics whose value was
// missing or null and skipped (missing: skip); with missing: error such a
// field fails the message.
func (s *Sensor) decodeJSON(device, metric string, payload []byte, now time.Time) ([]reading.Reading, []string, error) {
	doc, err := parseJSON(payload)
	if err != nil {
		return nil, nil, err
	}
	t := now
	if s.timePath != nil {
		if t, err = jsonTime(doc, *s.timePath, s.zone); err != nil {
			return nil, nil, err
		}
	}
	fields := s.fields
	if len(fields) == 0 {
		fields = []field{{metric: metric, path: s.path}}
	}
	var (
		rs      = make([]reading.Reading, 0, len(fields))
		missing []string
	)
	for _, f := range fields {
		ms, err := f.path.evalAll(doc)
		if errors.Is(err, errMissing) && s.missingSkip {
			if !f.optional || isNull(err) {
				missing = append(missing, f.metric)
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		unit := s.unitOf(f.metric, s.payloadUnit(doc, f.metric))
		for _, m := range ms {
			v, err := jsonNumber(m.value, f.path.text)
			if err != nil {
				return nil, nil, err
			}
			dev, met := device, f.metric
			if f.path.wildcard >= 0 {
				key := normalName(m.key)
				if s.wildcardMetric {
					met = f.metric + "." + key
				} else {
					dev = device + "." + key
				}
				if err := checkName(dev); err != nil {
					return nil, nil, fmt.Errorf("%s: device %s (with the key * matched) %w", f.path.text, quoteString(dev), err)
				}
				if err := checkName(met); err != nil {
					return nil, nil, fmt.Errorf("%s: metric %s (with the key * matched) %w", f.path.text, quoteString(met), err)
				}
			}
			if len(rs) == MaxReadings {
				return nil, nil, fmt.Errorf("more than %d readings in one message: the limit keeps a message bounded", MaxReadings)
			}
			r, err := s.newReading(dev, met, v, unit, t)
			if err != nil {
				return nil, nil, err
			}
			rs = append(rs, r)
		}
	}
	return rs, missing, nil
}

// payloadUnit is the unit at metric's unit path in doc, or "" when it has
// none or it is not a valid unit string.
func (s *Sensor) payloadUnit(doc any, metric string) string {
	p, ok := s.unitPaths[metric]
	if !ok {
		return ""
	}
	v, err := p.eval(doc)
	if err != nil {
		return ""
	}
	u, _ := v.(string)
	if checkUnit(u) != nil {
		return ""
	}
	return u
}

// MaxDepth bounds how deeply a JSON payload may nest arrays and objects.
const MaxDepth = 32

// checkDepth refuses JSON nesting deeper than MaxDepth before it is
// decoded. b need not be valid JSON: brackets inside strings are skipped.
func checkDepth(b []byte) error {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			if depth++; depth > MaxDepth {
				return fmt.Errorf("nests deeper than %d levels: the limit keeps a message bounded", MaxDepth)
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// parseJSON decodes one JSON document, keeping numbers as text.
func parseJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty: publish a JSON document")
	}
	if err := checkDepth(b); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not JSON: more data after the first value")
	}
	return v, nil
}

// jsonNumber turns the value found at path into a float64: a finite number,
// or a boolean as 1 or 0. Strings are refused even when they hold a number.
func jsonNumber(v any, path string) (float64, error) {
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%s: number %s is out of range of a float64", path, quoteString(string(v)))
		}
		return f, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case string:
		if _, err := strconv.ParseFloat(v, 64); err == nil {
			return 0, fmt.Errorf("%s is a string (%s), not a number: strings are not converted, publish the number without quotes", path, quoteString(v))
		}
		return 0, fmt.Errorf("%s is a string (%s), not a number", path, quoteString(v))
	}
	return 0, fmt.Errorf("%s is %s, not a number", path, jsonKind(v))
}

// localLayouts are the offset-less times jsonTime accepts, read in the
// sensor's time_zone (Tasmota's "Time":"2024-01-01T12:00:00").
var localLayouts = []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999"}

// jsonTime reads the time at p in doc: an RFC 3339 string, an RFC 3339 time
// without an offset (taken in zone), or a number of Unix seconds.
func jsonTime(doc any, p jsonPath, zone *time.Location) (time.Time, error) {
	v, err := p.eval(doc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time: %w", err)
	}
	switch v := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			return time.Time{}, fmt.Errorf("time %s: number %s is out of range", p.text, quoteString(string(v)))
		}
		t, err := unixSeconds(f)
		if err != nil {
			return time.Time{}, fmt.Errorf("time %s: %w", p.text, err)
		}
		return t, nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, v)
		for _, layout := range localLayouts {
			if err == nil {
				break
			}
			var lerr error
			if t, lerr = time.ParseInLocation(layout, v, zone); lerr == nil {
				err = nil
			}
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("time %s: %s is not an RFC 3339 time such as 2026-01-02T15:04:05Z (or one without an offset, read in options.time_zone)", p.text, quoteString(v))
		}
		if t.Unix() < 0 {
			return time.Time{}, fmt.Errorf("time %s: %s is before 1970", p.text, quoteString(v))
		}
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("time %s is %s, not an RFC 3339 string or Unix seconds", p.text, jsonKind(v))
}

// unixSeconds converts seconds since 1970 (fractions allowed) to a time in
// UTC, refusing times before 1970 or after 9999.
func unixSeconds(f float64) (time.Time, error) {
	switch {
	case math.IsNaN(f) || f < 0:
		return time.Time{}, fmt.Errorf("%g seconds is before 1970", f)
	case f > maxUnix && f/1000 <= maxUnix:
		return time.Time{}, fmt.Errorf("%g seconds is after year 9999: is it milliseconds? publish seconds", f)
	case f > maxUnix:
		return time.Time{}, fmt.Errorf("%g seconds is after year 9999", f)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
}
