package mqttsensor

import (
	"math"
	"strings"
	"testing"
	"unicode"

	"github.com/edged-gateway/edged/drivers/scale"
)

// fuzzSensors are the configurations FuzzDecode picks from with its first
// argument: one per format and shape of json, some with a scale that can
// overflow.
func fuzzSensors(f *testing.F) []*Sensor {
	cfgs := []Config{
		{Topic: "sensors/+device/+metric", Unit: "C"},
		{Topic: "sensors/+device/+metric", Format: "json", Path: `$.data[0]["v"]`, TimePath: "$.ts", Scale: scale.Linear{Factor: 1e300}},
		{Topic: "sensors/+device/+metric", Format: "json"},
		{Topic: "sensors/+device/json", Format: "json", Fields: map[string]string{"temperature": "$.temp", "humidity": "$.hum"}, TimePath: "$.ts"},
		{Topic: "sensors/+device/+", Format: "senml", Unit: "C"},
		{Topic: "sensors/#", Format: "senml", Scale: scale.Linear{Factor: -1e10, Offset: 1, Unit: "x"}},
		{Topic: "sensors/+device/+metric", Format: "auto", Unit: "C"},
		{Preset: "zigbee2mqtt"},
		{Preset: "tasmota"},
		{Preset: "shelly-gen2"},
		{Preset: "esphome"},
		{Preset: "homie", DevicePrefix: "h-"},
		{Preset: "senml", DevicePrefix: "s-"},
		{Topic: "sensors/+device/+", Format: "json", Fields: map[string]string{"t": "$.*.T", "a": "$[*]"}, WildcardKey: "metric", UnitPaths: map[string]string{"t": "$.u"}},
	}
	ss := make([]*Sensor, len(cfgs))
	for i, c := range cfgs {
		s, err := New("lan", c)
		if err != nil {
			f.Fatal(err)
		}
		ss[i] = s
	}
	return ss
}

// FuzzDecode checks, for every format, that no payload or topic panics,
// that an error comes with no readings and is one short printable line,
// and that every reading has a finite value, valid names and unit, and a time
// between 1970 and 9999.
func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), "sensors/porch/temperature", []byte("21.5"))
	f.Add(uint8(1), "sensors/porch/t", []byte(`{"data":[{"v":1.5}],"ts":1700000000}`))
	f.Add(uint8(2), "sensors/porch/door", []byte(`true`))
	f.Add(uint8(3), "sensors/porch/json", []byte(`{"temp":21.5,"hum":40,"ts":"2026-01-02T03:04:05Z"}`))
	f.Add(uint8(4), "sensors/porch/senml", []byte(`[{"bn":"env:","bt":-5,"n":"t","v":1},{"n":"fw","vs":"1"}]`))
	f.Add(uint8(5), "sensors/a/b/c", []byte(`[{"bn":"m","bv":1,"s":2,"bs":3}]`))
	f.Add(uint8(6), "sensors/porch/temperature", []byte(`{"value":21.5,"unit":"C"}`))
	f.Add(uint8(13), "sensors/porch/x", []byte(`{"a":{"T":1},"b":{"T":null},"u":"C"}`))
	sensors := fuzzSensors(f)
	f.Fuzz(func(t *testing.T, kind uint8, topic string, payload []byte) {
		s := sensors[int(kind)%len(sensors)]
		rs, err := s.Decode(topic, payload, now)
		if err != nil {
			if rs != nil {
				t.Fatalf("Decode returned %v with error %v", rs, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "mqttsensor lan: ") || len(msg) > 600 || strings.IndexFunc(msg, unicode.IsControl) >= 0 {
				t.Fatalf("error %q: want one short printable line naming the sensor", msg)
			}
			return
		}
		if len(rs) > MaxReadings {
			t.Fatalf("%d readings, over MaxReadings", len(rs))
		}
		for _, r := range rs {
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
				t.Fatalf("reading %v: value not finite", r)
			}
			if err := checkName(r.Device); err != nil {
				t.Fatalf("reading %v: device %v", r, err)
			}
			if err := checkName(r.Metric); err != nil {
				t.Fatalf("reading %v: metric %v", r, err)
			}
			if err := checkUnit(r.Unit); err != nil {
				t.Fatalf("reading %v: unit %v", r, err)
			}
			if r.Seq != 0 || r.Time.Unix() < 0 || r.Time.Unix() > maxUnix {
				t.Fatalf("reading %v: seq or time out of range", r)
			}
		}
	})
}
