package mqttsensor_test

import (
	"fmt"
	"time"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/drivers/scale"
)

// Sensors publish one plain number per topic; the topic names the device
// and the metric, and the device's scale turns tenths of a degree into C.
func Example() {
	s, err := mqttsensor.New("lan-sensors", mqttsensor.Config{
		Topic: "sensors/+device/+metric",
		Unit:  "dC",
		Scale: scale.Linear{Factor: 0.1, Unit: "C"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("subscribe to", s.Filter())
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rs, _ := s.Decode("sensors/porch/temperature", []byte("215\n"), now)
	fmt.Printf("%s %s %.1f %s\n", rs[0].Device, rs[0].Metric, rs[0].Value, rs[0].Unit)
	_, err = s.Decode("sensors/porch/temperature", []byte("warm"), now)
	fmt.Println(err)
	// Output:
	// subscribe to sensors/+/+
	// porch temperature 21.5 C
	// mqttsensor lan-sensors: sensors/porch/temperature: payload "warm": not a number: publish a decimal number, e.g. 21.5 or -3e2
}

// A SenML pack names its device (bn, a URN here, normalised) and its
// metrics (n); times below 2**28 are relative to the arrival time.
func ExampleSensor_Decode_senml() {
	s, _ := mqttsensor.New("boiler", mqttsensor.Config{Topic: "boiler/senml", Format: "senml"})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rs, _ := s.Decode("boiler/senml", []byte(`[{"bn":"urn:dev:mac:0024befffe804ff1:","bu":"Cel","n":"temp","v":61.5,"t":-10},{"n":"pressure","u":"bar","v":1.8}]`), now)
	for _, r := range rs {
		fmt.Println(r)
	}
	// Output:
	// mac-0024befffe804ff1/temp=61.5Cel @2026-01-02T03:03:55Z #0
	// mac-0024befffe804ff1/pressure=1.8bar @2026-01-02T03:04:05Z #0
}

// Several metrics from one JSON message, with the sensor's own timestamp.
func ExampleSensor_Decode_json() {
	s, _ := mqttsensor.New("lan", mqttsensor.Config{
		Topic:    "zigbee/+device",
		Format:   "json",
		Fields:   map[string]string{"temperature": "$.temp", "humidity": "$.hum", "battery": `$["battery level"]`},
		TimePath: "$.ts",
	})
	rs, err := s.Decode("zigbee/kitchen", []byte(`{"temp": 21.5, "hum": 40, "battery level": 97, "ts": 1767323045}`), time.Now())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range rs {
		fmt.Println(r)
	}
	// Output:
	// kitchen/battery=97 @2026-01-02T03:04:05Z #0
	// kitchen/humidity=40 @2026-01-02T03:04:05Z #0
	// kitchen/temperature=21.5 @2026-01-02T03:04:05Z #0
}
