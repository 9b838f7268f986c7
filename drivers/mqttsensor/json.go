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
// the time at its time path.
func (s *Sensor) decodeJSON(device, metric string, payload []byte, now time.Time) ([]reading.Reading, error) {
	doc, err := parseJSON(payload)
	if err != nil {
		return nil, err
	}
	t := now
	if s.timePath != nil {
		if t, err = jsonTime(doc, *s.timePath, s.zone); err != nil {
			return nil, err
		}
	}
	if len(s.fields) == 0 {
		r, err := s.jsonReading(doc, s.path, device, metric, t)
		if err != nil {
			return nil, err
		}
		return []reading.Reading{r}, nil
	}
	rs := make([]reading.Reading, 0, len(s.fields))
	for _, f := range s.fields {
		r, err := s.jsonReading(doc, f.path, device, f.metric, t)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// jsonReading is the reading of metric at path p of doc.
func (s *Sensor) jsonReading(doc any, p jsonPath, device, metric string, t time.Time) (reading.Reading, error) {
	v, err := p.eval(doc)
	if err != nil {
		return reading.Reading{}, err
	}
	f, err := jsonNumber(v, p.text)
	if err != nil {
		return reading.Reading{}, err
	}
	return s.newReading(device, metric, f, s.unit, t)
}

// parseJSON decodes one JSON document, keeping numbers as text.
func parseJSON(b []byte) (any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("empty: publish a JSON document")
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
