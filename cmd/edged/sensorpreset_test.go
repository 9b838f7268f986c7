package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
)

// presetMessages reads drivers/mqttsensor/testdata/devices/<file>: one
// "topic payload" per line, as real firmware publishes them (sources in
// that directory's README), # lines being comments.
func presetMessages(t *testing.T, file string) [][2]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "drivers", "mqttsensor", "testdata", "devices", file))
	if err != nil {
		t.Fatal(err)
	}
	var ms [][2]string
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		topic, payload, _ := strings.Cut(line, " ")
		ms = append(ms, [2]string{topic, payload})
	}
	return ms
}

// TestPresetsEndToEnd runs a daemon whose devices are one line each
// (preset: …), publishes what Zigbee2MQTT, Tasmota, Shelly Gen2, ESPHome,
// Homie v4/v5 and SenML devices publish with mosquitto_pub (QoS 1) to its
// embedded broker, and checks the stored readings' device, metric, value
// and unit, the counters in edged status, and that a device name claimed
// by one sensor is refused to another.
func TestPresetsEndToEnd(t *testing.T) {
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, `http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: `+dir+`
devices:
  - {name: zigbee, kind: mqttsensor, options: {preset: zigbee2mqtt, units: {voltage: mV}}}
  - {name: tasmota, kind: mqttsensor, options: {preset: tasmota}}
  - {name: shelly, kind: mqttsensor, options: {preset: shelly-gen2}}
  - {name: homie, kind: mqttsensor, options: {preset: homie}}
  - {name: esphome, kind: mqttsensor, options: {preset: esphome, units: {outside_temperature: °C, outside_humidity: "%"}}}
  - {name: senml, kind: mqttsensor, options: {preset: senml}}
`))
	defer stop()
	waitUntil(t, "the broker", func() bool { return d.broker != nil })
	addr := d.broker.Addr()
	publish := func(t *testing.T, file string) {
		for _, m := range presetMessages(t, file) {
			if err := mosquittoPub(t, addr, "", "-q", "1", "-t", m[0], "-m", m[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	// stored waits for device's latest readings to be want (sorted by
	// metric), each "metric=value unit".
	stored := func(t *testing.T, device string, want ...string) {
		t.Helper()
		slices.Sort(want)
		var got []string
		waitUntil(t, "the readings of "+device, func() bool {
			got = got[:0]
			for _, r := range d.recent.Last(device) {
				got = append(got, fmt.Sprintf("%s=%g %s", r.Metric, r.Value, r.Unit))
			}
			return slices.Equal(got, want)
		})
	}
	status := func(name string) sensorStatus {
		for _, s := range d.localStatus().Sensors {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no sensor %s in status", name)
		return sensorStatus{}
	}

	t.Run("zigbee2mqtt", func(t *testing.T) {
		publish(t, "zigbee2mqtt.msgs")
		// The plug has no temperature (a preset field it lacks: skipped)
		// and the second message a null humidity (skipped and counted),
		// the rest stored.
		stored(t, "living_room", "battery=100 %", "humidity=55.2 %", "linkquality=117 lqi", "pressure=1012.4 hPa", "temperature=21.4 °C", "voltage=3005 mV")
		stored(t, "kettle_plug", "current=0.04 A", "energy=1.23 kWh", "linkquality=156 lqi", "power=4 W", "voltage=231 mV")
		if s := status("zigbee"); s.Malformed != 0 || s.Missing["humidity"] != 1 || len(s.Missing) != 1 {
			t.Errorf("status %+v, want 0 malformed and humidity (null) missing once", s)
		}
	})
	t.Run("tasmota", func(t *testing.T) {
		publish(t, "tasmota.msgs")
		stored(t, "bedroom.BME280", "dew_point=8.9 C", "humidity=45.1 %", "pressure=1013.2 hPa", "temperature=21.3 C")
		stored(t, "bathroom.SHT3X", "dew_point=14.6 C", "humidity=61.8 %", "temperature=22.4 C")
		stored(t, "boiler.DS18B20-1", "temperature=140.2 F")
		stored(t, "boiler.DS18B20-2", "temperature=104.5 F")
		stored(t, "washer.ENERGY", "current=0.151 A", "energy_today=0.214 kWh", "energy_total=152.107 kWh", "power=18 W", "voltage=232 V")
	})
	t.Run("shelly-gen2", func(t *testing.T) {
		publish(t, "shelly-gen2.msgs")
		stored(t, "shellyplus1pm-441793d69718", "current=5.286 A", "energy=3.567 Wh", "frequency=50 Hz", "output=1 ",
			"power=1210.5 W", "power_factor=0.99 ", "temperature=47.6 °C", "voltage=229.8 V")
	})
	t.Run("esphome", func(t *testing.T) {
		publish(t, "esphome.msgs")
		stored(t, "weather-station", "outside_humidity=87 %", "outside_temperature=4.7 °C", "wifi_signal=-67 ")
		if s := status("esphome"); s.Malformed != 0 || s.Missing["outside_pressure"] != 1 {
			t.Errorf("status %+v, want 0 malformed and outside_pressure (nan) missing once", s)
		}
	})
	t.Run("homie", func(t *testing.T) {
		publish(t, "homie-v4.msgs")
		stored(t, "super-car", "engine.speed=3500 rpm", "engine.temperature=21.5 °C")
		publish(t, "homie-v5.msgs")
		stored(t, "super-car", "engine.running=1 ", "engine.speed=3500 rpm", "engine.temperature=21.5 °C")
		s := status("homie")
		if s.Malformed != 0 || s.Attributes != 21 || !slices.ContainsFunc(s.Metrics, func(m mqttsensor.MetricInfo) bool {
			return m.Metric == "engine.temperature" && m.Unit == "°C" && m.Name == "Engine temperature"
		}) {
			t.Errorf("status %+v, want 0 malformed, 21 attributes, engine.temperature named Engine temperature in °C", s)
		}
	})
	t.Run("senml", func(t *testing.T) {
		publish(t, "senml.msgs")
		// RFC 8428's packs of 2010 and 2011 are refused for their time;
		// the others are stored with the URN as the device.
		stored(t, "ow-10e2073a01080063", "Cel=23.1 Cel", "current=1.2 A", "open=0 ", "temperature=23.1 Cel", "voltage=120.1 V")
	})
	t.Run("collision", func(t *testing.T) {
		// super-car is the Homie sensor's: Zigbee2MQTT may not add to it.
		if err := mosquittoPub(t, addr, "", "-q", "1", "-t", "zigbee2mqtt/super-car", "-m", `{"temperature":99}`); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the collision counted", func() bool { return status("zigbee").Collided == 1 })
		for _, r := range d.recent.Last("super-car") {
			if r.Value == 99 {
				t.Fatalf("zigbee2mqtt's reading was stored on homie's device: %v", r)
			}
		}
	})
}

// TestPresetTopicsOverlapRefused: the overlap check at config check sees
// the topic a preset fills in, so two devices on one preset are refused.
func TestPresetTopicsOverlapRefused(t *testing.T) {
	dir := t.TempDir()
	_, _, err := loadConfig(writeConfig(t, dir, `http: {listen: 127.0.0.1:0}
data_dir: `+dir+`
devices:
  - {name: z1, kind: mqttsensor, options: {preset: zigbee2mqtt}}
  - {name: z2, kind: mqttsensor, options: {preset: zigbee2mqtt, units: {voltage: V}}}
`), builtinKinds())
	if err == nil || !strings.Contains(err.Error(), "devices[1].options.topic: zigbee2mqtt/+device is covered by device z1's topic zigbee2mqtt/+device") {
		t.Fatalf("loadConfig error %v, want the overlap named", err)
	}
}
