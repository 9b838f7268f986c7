package mqttsensor

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// decodeAuto reads what sensors most often publish without configuration:
// a plain number (21.5), or a JSON object with "value" (a number or a
// boolean) and, optionally, "unit": {"value": 21.5, "unit": "C"}. The
// object's unit takes precedence over the configured one.
func (s *Sensor) decodeAuto(device, metric string, payload []byte, now time.Time) (reading.Reading, error) {
	b := bytes.TrimSpace(payload)
	if len(b) == 0 || b[0] != '{' {
		return s.decodePlain(device, metric, payload, now)
	}
	doc, err := parseJSON(b)
	if err != nil {
		return reading.Reading{}, err
	}
	obj, _ := doc.(map[string]any)
	v, ok := obj["value"]
	if !ok {
		return reading.Reading{}, errors.New(`a JSON payload needs "value": publish e.g. {"value": 21.5, "unit": "C"} or a plain number`)
	}
	f, err := jsonNumber(v, "$.value")
	if err != nil {
		return reading.Reading{}, err
	}
	unit := s.unitOf(metric, "")
	if u, has := obj["unit"]; has {
		us, isString := u.(string)
		if !isString {
			return reading.Reading{}, errors.New(`"unit" is not a string`)
		}
		if err := checkUnit(us); err != nil {
			return reading.Reading{}, fmt.Errorf("unit %s %w", quoteString(us), err)
		}
		unit = us
	}
	return s.newReading(device, metric, f, unit, now)
}
