package mqttsensor

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/reading"
)

func TestDecodeJSON(t *testing.T) {
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name, payload string
		cfg           Config
		want          []reading.Reading
	}{
		{name: "bare number", cfg: Config{Metric: "t"}, payload: " 21.5 ",
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 21.5, Time: now}}},
		{name: "path", cfg: Config{Metric: "t", Path: "$.sensors[1].value", Unit: "C"}, payload: `{"sensors":[{"value":1},{"value":-2.5e1}]}`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: -25, Unit: "C", Time: now}}},
		{name: "quoted key", cfg: Config{Metric: "t", Path: `$["odd key"]`}, payload: `{"odd key": 3}`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 3, Time: now}}},
		{name: "true", cfg: Config{Metric: "door", Path: "$.open"}, payload: `{"open": true}`,
			want: []reading.Reading{{Device: "porch", Metric: "door", Value: 1, Time: now}}},
		{name: "false", cfg: Config{Metric: "door", Path: "$.open"}, payload: `{"open": false}`,
			want: []reading.Reading{{Device: "porch", Metric: "door", Value: 0, Time: now}}},
		{name: "fields sorted by metric", cfg: Config{Fields: map[string]string{"temperature": "$.temp", "humidity": "$.hum"}}, payload: `{"temp": 21.5, "hum": 40}`,
			want: []reading.Reading{{Device: "porch", Metric: "humidity", Value: 40, Time: now}, {Device: "porch", Metric: "temperature", Value: 21.5, Time: now}}},
		{name: "RFC 3339 time", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": "2026-01-02T04:04:05.25+01:00"}`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 1, Time: ts.Add(250 * time.Millisecond)}}},
		{name: "Tasmota time without offset, UTC by default", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.Time"}, payload: `{"v": 1, "Time": "2026-01-02T03:04:05"}`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 1, Time: ts}}},
		{name: "time without offset in time_zone", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.Time", TimeZone: "Europe/Berlin"}, payload: `{"v": 1, "Time": "2026-01-02T04:04:05"}`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 1, Time: ts}}},
		{name: "time without offset at a fixed offset", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.Time", TimeZone: "-02:00"}, payload: `{"v": 1, "Time": "2026-01-02 01:04:05.5"}`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 1, Time: ts.Add(500 * time.Millisecond)}}},
		{name: "unix time", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": 1767323045.5}`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 1, Time: ts.Add(500 * time.Millisecond)}}},
		{name: "scale", cfg: Config{Metric: "t", Path: "$.raw", Unit: "dC", Scale: scale.Linear{Factor: 0.1, Unit: "C"}}, payload: `{"raw": 215}`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 21.5, Unit: "C", Time: now}}},
		{name: "big integer", cfg: Config{Metric: "n"}, payload: `123456789012345678901234567890`,
			want: []reading.Reading{{Device: "porch", Metric: "n", Value: 1.2345678901234568e29, Time: now}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Topic, tt.cfg.Format = "sensors/+device/json", "json"
			s := mustNew(t, "lan", tt.cfg)
			rs, err := s.Decode("sensors/porch/json", []byte(tt.payload), now)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rs, tt.want) {
				t.Fatalf("Decode = %v\nwant %v", rs, tt.want)
			}
		})
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	tests := []struct {
		name, payload string
		cfg           Config
		want          string // the error after "mqttsensor lan: sensors/porch/json: "
	}{
		{name: "empty", cfg: Config{Metric: "t"}, payload: "", want: `payload "": empty: publish a JSON document`},
		{name: "not JSON", cfg: Config{Metric: "t"}, payload: "{temp: 1}", want: `payload "{temp: 1}": not JSON: invalid character 't' looking for beginning of object key string`},
		{name: "trailing data", cfg: Config{Metric: "t"}, payload: "1 2", want: `payload "1 2": not JSON: more data after the first value`},
		{name: "truncated", cfg: Config{Metric: "t", Path: "$.a"}, payload: `{"a": 1`, want: `payload "{\"a\": 1": not JSON: unexpected EOF`},
		{name: "string number", cfg: Config{Metric: "t", Path: "$.temp"}, payload: `{"temp": "21.5"}`,
			want: `payload "{\"temp\": \"21.5\"}": $.temp is a string ("21.5"), not a number: strings are not converted, publish the number without quotes`},
		{name: "string", cfg: Config{Metric: "t", Path: "$.temp"}, payload: `{"temp": "warm"}`, want: `$.temp is a string ("warm"), not a number`},
		{name: "null", cfg: Config{Metric: "t", Path: "$.temp", Missing: "error"}, payload: `{"temp": null}`, want: `$.temp is null`},
		{name: "object", cfg: Config{Metric: "t"}, payload: `{"temp": 1}`, want: `: $ is an object, not a number`},
		{name: "array", cfg: Config{Metric: "t", Path: "$.a"}, payload: `{"a": [1]}`, want: `$.a is an array, not a number`},
		{name: "missing field", cfg: Config{Metric: "t", Path: "$.temp", Missing: "error"}, payload: `{"tmp": 1}`, want: `: $ has no field "temp"`},
		{name: "out of range", cfg: Config{Metric: "t"}, payload: `-1e999`, want: `payload "-1e999": $: number "-1e999" is out of range of a float64`},
		{name: "one field bad", cfg: Config{Fields: map[string]string{"a": "$.a", "b": "$.b"}}, payload: `{"a": 1, "b": "2"}`, want: `$.b is a string ("2"), not a number`},
		{name: "one field missing", cfg: Config{Fields: map[string]string{"a": "$.a", "b": "$.b"}, Missing: "error"}, payload: `{"b": 2}`, want: `$ has no field "a"`},
		{name: "time missing", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1}`, want: `time: $ has no field "ts"`},
		{name: "time not RFC 3339", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": "yesterday"}`,
			want: `time $.ts: "yesterday" is not an RFC 3339 time such as 2026-01-02T15:04:05Z`},
		{name: "time before 1970", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": "1969-12-31T23:59:59Z"}`, want: `time $.ts: "1969-12-31T23:59:59Z" is before 1970`},
		{name: "time in milliseconds", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": 1767323045000}`,
			want: `time $.ts: 1.767323045e+12 seconds is after year 9999: is it milliseconds? publish seconds`},
		{name: "time far", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": 1e300}`, want: `time $.ts: 1e+300 seconds is after year 9999`},
		{name: "time negative", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": -1}`, want: `time $.ts: -1 seconds is before 1970`},
		{name: "time overflow", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": 1e999}`, want: `time $.ts: number "1e999" is out of range`},
		{name: "time bool", cfg: Config{Metric: "t", Path: "$.v", TimePath: "$.ts"}, payload: `{"v": 1, "ts": true}`, want: `time $.ts is a boolean, not an RFC 3339 string or Unix seconds`},
		{name: "scaled overflow", cfg: Config{Metric: "t", Scale: scale.Linear{Offset: 1e308}}, payload: `1.7e308`, want: `t: value 1.7e+308 scales to +Inf, not a finite number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Topic, tt.cfg.Format = "sensors/+device/json", "json"
			s := mustNew(t, "lan", tt.cfg)
			rs, err := s.Decode("sensors/porch/json", []byte(tt.payload), now)
			if err == nil || rs != nil {
				t.Fatalf("Decode = %v, %v; want an error", rs, err)
			}
			const prefix = "mqttsensor lan: sensors/porch/json: payload "
			if got := err.Error(); !strings.HasPrefix(got, prefix) || !strings.Contains(got, tt.want) {
				t.Fatalf("Decode error\n got %s\nwant %s…%s", got, prefix, tt.want)
			}
		})
	}
}
