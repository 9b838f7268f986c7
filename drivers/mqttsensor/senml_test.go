package mqttsensor

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/reading"
)

func TestDecodeSenML(t *testing.T) {
	abs := time.Unix(1700000000, 0).UTC()
	tests := []struct {
		name, payload string
		cfg           Config
		want          []reading.Reading
	}{
		{name: "one record, now", payload: `[{"n":"temp","v":21.5,"u":"Cel"}]`,
			want: []reading.Reading{{Device: "porch", Metric: "temp", Value: 21.5, Unit: "Cel", Time: now}}},
		{name: "RFC 8428 base fields", payload: `[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.7e9,"bu":"A","bver":10,"n":"voltage","u":"V","v":120.1},{"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3}]`,
			want: []reading.Reading{
				{Device: "porch", Metric: "urn:dev:ow:10e2073a01080063:voltage", Value: 120.1, Unit: "V", Time: abs},
				{Device: "porch", Metric: "urn:dev:ow:10e2073a01080063:current", Value: 1.2, Unit: "A", Time: abs.Add(-5 * time.Second)},
				{Device: "porch", Metric: "urn:dev:ow:10e2073a01080063:current", Value: 1.3, Unit: "A", Time: abs.Add(-4 * time.Second)},
			}},
		{name: "relative times", payload: `[{"bn":"env:","bt":-60,"n":"t","v":1},{"n":"t","t":30,"v":2},{"bt":0,"n":"t","t":0.5,"v":3}]`,
			want: []reading.Reading{
				{Device: "porch", Metric: "env:t", Value: 1, Time: now.Add(-time.Minute)},
				{Device: "porch", Metric: "env:t", Value: 2, Time: now.Add(-30 * time.Second)},
				{Device: "porch", Metric: "env:t", Value: 3, Time: now.Add(500 * time.Millisecond)},
			}},
		{name: "bn alone names", payload: `[{"bn":"temperature","v":20}]`,
			want: []reading.Reading{{Device: "porch", Metric: "temperature", Value: 20, Time: now}}},
		{name: "base value and sum", payload: `[{"bn":"m","bv":100,"bs":1000,"v":1},{"v":-1,"s":5},{"s":7}]`,
			want: []reading.Reading{{Device: "porch", Metric: "m", Value: 101, Time: now}, {Device: "porch", Metric: "m", Value: 99, Time: now}, {Device: "porch", Metric: "m", Value: 1007, Time: now}}},
		{name: "booleans", payload: `[{"n":"door","vb":true},{"n":"lock","vb":false,"bv":5}]`,
			want: []reading.Reading{{Device: "porch", Metric: "door", Value: 1, Time: now}, {Device: "porch", Metric: "lock", Value: 0, Time: now}}},
		{name: "text skipped", payload: `[{"n":"fw","vs":"1.2.3"},{"n":"temp","v":1},{"n":"blob","vd":"AQID"}]`,
			want: []reading.Reading{{Device: "porch", Metric: "temp", Value: 1, Time: now}}},
		{name: "base-only record", payload: `[{"bn":"x:","bu":"C"},{"n":"t","v":1}]`,
			want: []reading.Reading{{Device: "porch", Metric: "x:t", Value: 1, Unit: "C", Time: now}}},
		{name: "unit option, ut and unknown fields ignored", cfg: Config{Unit: "C"}, payload: `[{"n":"t","v":1,"ut":60,"vendor":{"x":1}}]`,
			want: []reading.Reading{{Device: "porch", Metric: "t", Value: 1, Unit: "C", Time: now}}},
		{name: "scale", cfg: Config{Scale: scale.Linear{Factor: 2, Unit: "bar"}}, payload: `[{"n":"p","u":"V","v":1.5}]`,
			want: []reading.Reading{{Device: "porch", Metric: "p", Value: 3, Unit: "bar", Time: now}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Topic, tt.cfg.Format, tt.cfg.SenMLNames = "sensors/+device/senml", "senml", "join"
			s := mustNew(t, "lan", tt.cfg)
			rs, err := s.Decode("sensors/porch/senml", []byte(tt.payload), now)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rs, tt.want) {
				t.Fatalf("Decode =\n%v\nwant\n%v", rs, tt.want)
			}
		})
	}
}

func TestDecodeSenMLDeviceFromName(t *testing.T) {
	s := mustNew(t, "boiler", Config{Topic: "boiler/senml", Format: "senml"})
	rs, err := s.Decode("boiler/senml", []byte(`[{"n":"t","v":60}]`), now)
	if err != nil || len(rs) != 1 || rs[0].Device != "boiler" {
		t.Fatalf("Decode = %v, %v; want device boiler", rs, err)
	}
}

func TestDecodeSenMLErrors(t *testing.T) {
	tests := []struct {
		name, payload, want string
	}{
		{name: "object", payload: `{"n":"t","v":1}`, want: `not a SenML pack: publish a JSON array of records`},
		{name: "empty", payload: ``, want: `payload "": not a SenML pack`},
		{name: "not JSON", payload: `[{"n":"t","v":1}`, want: `not JSON: unexpected end of JSON input`},
		{name: "no records", payload: `[]`, want: `no readings: 0 records, 0 of them without a numeric value`},
		{name: "only text", payload: `[{"n":"fw","vs":"1"},{"n":"raw","vd":"AA=="}]`, want: `no readings: 2 records, 2 of them without a numeric value (vs or vd only)`},
		{name: "record not object", payload: `[{"n":"t","v":1},3]`, want: `record 1: is a number, not an object`},
		{name: "null record", payload: `[null]`, want: `record 0: is null, not an object`},
		{name: "no name", payload: `[{"v":1}]`, want: `record 0: has no name: set n, or bn in this or an earlier record`},
		{name: "bad name", payload: `[{"bn":"dev/","n":"t","v":1}]`, want: `record 0: metric name "dev/t" (bn+n) contains '/', which MQTT topics reserve`},
		{name: "long name", payload: `[{"n":"` + strings.Repeat("n", 65) + `","v":1}]`, want: `(bn+n) is 65 bytes, over the 64-byte limit`},
		{name: "no value", payload: `[{"n":"t","v":1},{"n":"t","t":5}]`, want: `record 1 has no value: it needs v, vb, vs, vd or s`},
		{name: "two values", payload: `[{"n":"t","v":1,"vb":true}]`, want: `record 0: has 2 value fields (v, vb, vs, vd): a record holds one`},
		{name: "v string", payload: `[{"n":"t","v":"21.5"}]`, want: `record 0: v is a string, not a number`},
		{name: "v null", payload: `[{"n":"t","v":null}]`, want: `record 0: v is null, not a number`},
		{name: "vb number", payload: `[{"n":"t","vb":1}]`, want: `record 0: vb is a number, not a boolean`},
		{name: "n number", payload: `[{"n":1,"v":1}]`, want: `record 0: n is a number, not a string`},
		{name: "vs number", payload: `[{"n":"t","vs":1}]`, want: `record 0: vs is a number, not a string`},
		{name: "bt string", payload: `[{"bt":"now","n":"t","v":1}]`, want: `record 0: bt is a string, not a number`},
		{name: "v out of range", payload: `[{"n":"t","v":1e309}]`, want: `record 0: v: number "1e309" is out of range of a float64`},
		{name: "bv+v overflows", payload: `[{"n":"t","bv":1.7e308,"v":1.7e308}]`, want: `record 0: value overflows a float64`},
		{name: "bver 11", payload: `[{"bver":11,"n":"t","v":1}]`, want: `record 0: bver 11 is newer than SenML version 10, which this reads`},
		{name: "bver fraction", payload: `[{"bver":1.5,"n":"t","v":1}]`, want: `record 0: bver 1.5 is not a version number`},
		{name: "must understand", payload: `[{"n":"t","v":1,"x_":1}]`, want: `record 0: field "x_" must be understood (its name ends in _) and is not supported`},
		{name: "time after 9999", payload: `[{"n":"t","v":1,"t":1e15}]`, want: `record 0: time (bt+t) 1e+15 seconds is after year 9999`},
		{name: "time in milliseconds", payload: `[{"n":"t","v":1,"bt":1.7e12}]`, want: `is it milliseconds?`},
		{name: "relative before 1970", payload: `[{"n":"t","v":1,"t":-1e10}]`, want: `record 0: time (bt+t) -1e+10 seconds relative to now is before 1970`},
		{name: "relative before 1970, near", payload: `[{"n":"t","v":1,"t":-2e9}]`, want: `record 0: time (bt+t) -2e+09 seconds relative to now is before 1970`},
		{name: "unit with control character", payload: `[{"n":"t","u":"C\u0000","v":1}]`, want: `record 0: unit "C\x00" contains the control character '\x00'`},
		{name: "long base unit", payload: `[{"bu":"` + strings.Repeat("u", 65) + `","n":"t","v":1}]`, want: `record 0: unit "uuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuuu"... (65 bytes) is 65 bytes, over the 64-byte limit`},
		{name: "a bad record spoils the pack", payload: `[{"n":"a","v":1},{"n":"b","v":"x"}]`, want: `record 1: v is a string, not a number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustNew(t, "lan", Config{Topic: "sensors/+device/senml", Format: "senml", SenMLNames: "join"})
			rs, err := s.Decode("sensors/porch/senml", []byte(tt.payload), now)
			if err == nil || rs != nil {
				t.Fatalf("Decode = %v, %v; want an error", rs, err)
			}
			const prefix = "mqttsensor lan: sensors/porch/senml: payload "
			if got := err.Error(); !strings.HasPrefix(got, prefix) || !strings.Contains(got, tt.want) {
				t.Fatalf("Decode error\n got %s\nwant %s…%s", got, prefix, tt.want)
			}
		})
	}
}
