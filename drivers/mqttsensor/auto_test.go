package mqttsensor

import (
	"strings"
	"testing"

	"github.com/edged-gateway/edged/reading"
)

func TestDecodeAuto(t *testing.T) {
	cfg := Config{Topic: "sensors/+device/+metric", Format: FormatAuto, Unit: "C"}
	tests := []struct {
		name    string
		payload string
		want    reading.Reading
		err     string
	}{
		{name: "plain number", payload: "21.5", want: reading.Reading{Device: "porch", Metric: "temperature", Value: 21.5, Unit: "C", Time: now}},
		{name: "value", payload: `{"value": 19}`, want: reading.Reading{Device: "porch", Metric: "temperature", Value: 19, Unit: "C", Time: now}},
		{name: "value and unit", payload: ` {"value": 294.15, "unit": "K", "rssi": -70}`, want: reading.Reading{Device: "porch", Metric: "temperature", Value: 294.15, Unit: "K", Time: now}},
		{name: "boolean", payload: `{"value": true}`, want: reading.Reading{Device: "porch", Metric: "temperature", Value: 1, Unit: "C", Time: now}},
		{name: "no value", payload: `{"temp": 3}`, err: `needs "value"`},
		{name: "null value", payload: `{"value": null}`, err: "$.value"},
		{name: "unit not a string", payload: `{"value": 1, "unit": 3}`, err: `"unit" is not a string`},
		{name: "not JSON", payload: `{"value": 1`, err: "not JSON"},
		{name: "text", payload: `warm`, err: "not a number"},
		{name: "array", payload: `[1]`, err: "not a number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, "lan", cfg)
			rs, err := s.Decode("sensors/porch/temperature", []byte(tt.payload), now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Decode(%s) = %v, %v; want an error containing %q", tt.payload, rs, err, tt.err)
				}
				return
			}
			if err != nil || len(rs) != 1 || rs[0] != tt.want {
				t.Fatalf("Decode(%s) = %v, %v; want [%v]", tt.payload, rs, err, tt.want)
			}
		})
	}
}
