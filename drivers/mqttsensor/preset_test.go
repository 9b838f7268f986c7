package mqttsensor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// message is one line of a testdata/devices/*.msgs file.
type message struct{ topic, payload string }

// readMessages reads a .msgs file: "topic payload" per line, # comments.
func readMessages(t testing.TB, name string) []message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "devices", name))
	if err != nil {
		t.Fatal(err)
	}
	var ms []message
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		topic, payload, _ := strings.Cut(line, " ")
		ms = append(ms, message{topic, payload})
	}
	return ms
}

// short is a reading as device/metric=value unit, without its time.
func short(device, metric string, value float64, unit string) string {
	return fmt.Sprintf("%s/%s=%g %s", device, metric, value, unit)
}

// TestPresetsDecodeRealPayloads decodes what real firmware publishes
// (testdata/devices, sources in its README) with each preset alone, and
// checks every reading's device, metric, value and unit, and that nothing
// was counted malformed: attribute topics, missing or null fields, text
// values and other formats' fields are skipped and counted, not refused.
func TestPresetsDecodeRealPayloads(t *testing.T) {
	tests := []struct {
		preset, file string
		cfg          Config
		want         []string
		missing      map[string]uint64
		skipped      uint64
		attributes   uint64
		unmatched    uint64
	}{
		{preset: "zigbee2mqtt", file: "zigbee2mqtt.msgs",
			want: []string{
				"living_room/battery=100 %", "living_room/humidity=55.2 %", "living_room/linkquality=120 lqi",
				"living_room/pressure=1012 hPa", "living_room/temperature=21.3 °C", "living_room/voltage=3005 ",
				"kettle_plug/current=0.04 A", "kettle_plug/energy=1.23 kWh", "kettle_plug/linkquality=156 lqi",
				"kettle_plug/power=4 W", "kettle_plug/voltage=231 ",
				"living_room/battery=100 %", "living_room/linkquality=117 lqi", "living_room/pressure=1012.4 hPa",
				"living_room/temperature=21.4 °C", "living_room/voltage=3005 ",
			},
			// The sensor once has a null humidity: counted. Fields of the
			// preset a device does not publish at all (the plug has no
			// temperature) are not.
			missing:   map[string]uint64{"humidity": 1},
			unmatched: 1},
		{preset: "tasmota", file: "tasmota.msgs",
			want: []string{
				"bedroom.BME280/dew_point=8.9 C", "bedroom.BME280/humidity=45.1 %", "bedroom.BME280/pressure=1013.2 hPa", "bedroom.BME280/temperature=21.3 C",
				"bathroom.SHT3X/dew_point=14.6 C", "bathroom.SHT3X/humidity=61.8 %", "bathroom.SHT3X/temperature=22.4 C",
				"boiler.DS18B20-1/temperature=140.2 F", "boiler.DS18B20-2/temperature=104.5 F",
				"washer.ENERGY/current=0.151 A", "washer.ENERGY/energy_today=0.214 kWh", "washer.ENERGY/energy_total=152.107 kWh",
				"washer.ENERGY/power=18 W", "washer.ENERGY/voltage=232 V",
			},
		},
		{preset: "shelly-gen2", file: "shelly-gen2.msgs",
			want: []string{
				"shellyplus1pm-441793d69718/current=0 A", "shellyplus1pm-441793d69718/energy=0 Wh", "shellyplus1pm-441793d69718/output=0 ",
				"shellyplus1pm-441793d69718/power=0 W", "shellyplus1pm-441793d69718/temperature=40.5 °C", "shellyplus1pm-441793d69718/voltage=231.5 V",
				"shellyplus1pm-441793d69718/current=5.286 A", "shellyplus1pm-441793d69718/energy=3.567 Wh", "shellyplus1pm-441793d69718/frequency=50 Hz",
				"shellyplus1pm-441793d69718/output=1 ", "shellyplus1pm-441793d69718/power=1210.5 W", "shellyplus1pm-441793d69718/power_factor=0.99 ",
				"shellyplus1pm-441793d69718/temperature=47.6 °C", "shellyplus1pm-441793d69718/voltage=229.8 V",
			},
		},
		{preset: "esphome", file: "esphome.msgs",
			cfg: Config{Units: map[string]string{"outside_temperature": "°C", "outside_humidity": "%", "wifi_signal": "dBm"}},
			want: []string{
				"weather-station/outside_temperature=4.7 °C", "weather-station/outside_humidity=87 %", "weather-station/wifi_signal=-67 dBm",
			},
			missing: map[string]uint64{"outside_pressure": 1}},
		{preset: "homie", file: "homie-v4.msgs",
			want:    []string{"super-car/engine.temperature=21.5 °C", "super-car/engine.speed=3500 rpm"},
			skipped: 1, attributes: 19},
		{preset: "homie", file: "homie-v5.msgs",
			want:       []string{"super-car/engine.temperature=21.5 °C", "super-car/engine.running=1 "},
			attributes: 2},
		{preset: "senml", file: "senml.msgs",
			want: []string{
				"ow-10e2073a01080063/Cel=23.1 Cel",
				"ow-10e2073a01080063/voltage=120.1 V", "ow-10e2073a01080063/current=1.2 A",
				"ow-10e2073a0108006/voltage=120.1 V", "ow-10e2073a0108006/current=1.2 A", "ow-10e2073a0108006/current=1.3 A",
				"ow-10e2073a0108006/current=1.4 A", "ow-10e2073a0108006/current=1.5 A", "ow-10e2073a0108006/current=1.6 A", "ow-10e2073a0108006/current=1.7 A",
				"ow-10e2073a01080063/%RH=20 %RH", "ow-10e2073a01080063/lon=24.30621 lon", "ow-10e2073a01080063/lat=60.07965 lat",
				"ow-10e2073a01080063/%RH=20.3 %RH", "ow-10e2073a01080063/lon=24.30622 lon", "ow-10e2073a01080063/lat=60.07965 lat",
				"ow-10e2073a01080063/%RH=20.7 %RH", "ow-10e2073a01080063/lon=24.30623 lon", "ow-10e2073a01080063/lat=60.07966 lat",
				"ow-10e2073a01080063/%EL=98 %EL",
				"ow-10e2073a01080063/%RH=21.2 %RH", "ow-10e2073a01080063/lon=24.30628 lon", "ow-10e2073a01080063/lat=60.07967 lat",
				"ow-10e2073a01080063/%RH=20 %RH", "ow-10e2073a01080063/lon=24.30621 lon", "ow-10e2073a01080063/lat=60.07965 lat",
				"ow-10e2073a01080063/temperature=23.1 Cel", "ow-10e2073a01080063/open=0 ",
			},
			skipped: 2},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Preset = tt.preset
			s := mustNew(t, "lan", cfg)
			var got []string
			for _, m := range readMessages(t, tt.file) {
				if !s.Matches(m.topic) {
					s.Decode(m.topic, []byte(m.payload), now) // counted as unmatched
					continue
				}
				rs, err := s.Decode(m.topic, []byte(m.payload), now)
				if err != nil {
					t.Fatalf("%s %s: %v", m.topic, m.payload, err)
				}
				for _, r := range rs {
					got = append(got, short(r.Device, r.Metric, r.Value, r.Unit))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("readings\n got %q\nwant %q", got, tt.want)
			}
			st := s.Stats()
			if tt.missing == nil {
				tt.missing = map[string]uint64{}
			}
			if st.Malformed != 0 || st.Unmatched != tt.unmatched || st.Skipped != tt.skipped || st.Attributes != tt.attributes || fmt.Sprint(st.Missing) != fmt.Sprint(tt.missing) {
				t.Errorf("stats: malformed %d unmatched %d skipped %d attributes %d missing %v; want 0, %d, %d, %d, %v",
					st.Malformed, st.Unmatched, st.Skipped, st.Attributes, st.Missing, tt.unmatched, tt.skipped, tt.attributes, tt.missing)
			}
		})
	}
}

// TestHomieNamesAndUnitsReachStats checks that a Homie property's $name
// and $unit are what the sensor reports for the metric, for a reader such
// as Home Assistant discovery.
func TestHomieNamesAndUnitsReachStats(t *testing.T) {
	for _, file := range []string{"homie-v4.msgs", "homie-v5.msgs"} {
		s := mustNew(t, "lan", Config{Preset: "homie"})
		for _, m := range readMessages(t, file) {
			if _, err := s.Decode(m.topic, []byte(m.payload), now); err != nil {
				t.Fatal(err)
			}
		}
		want := MetricInfo{Device: "super-car", Metric: "engine.temperature", Unit: "°C", Name: "Engine temperature"}
		if !slices.Contains(s.Stats().Metrics, want) {
			t.Errorf("%s: metrics %+v, want one %+v", file, s.Stats().Metrics, want)
		}
	}
}

// TestMissingError keeps the old behaviour on request: a missing field
// fails the message.
func TestMissingError(t *testing.T) {
	s := mustNew(t, "lan", Config{Preset: "zigbee2mqtt", Missing: "error"})
	_, err := s.Decode("zigbee2mqtt/plug", []byte(`{"power":4,"voltage":231}`), now)
	if err == nil || !strings.Contains(err.Error(), `$ has no field "battery"`) {
		t.Fatalf("Decode error %v, want the missing battery named", err)
	}
	if st := s.Stats(); st.Malformed != 1 {
		t.Fatalf("malformed %d, want 1", st.Malformed)
	}
}

// TestPresetOverrides checks that keys next to a preset win: a topic,
// a unit per metric, and an extra field.
func TestPresetOverrides(t *testing.T) {
	s := mustNew(t, "lan", Config{Preset: "zigbee2mqtt", Topic: "z2m/+device",
		Units: map[string]string{"voltage": "mV"}, Fields: map[string]string{"soil": "$.soil_moisture"}})
	rs, err := s.Decode("z2m/garden", []byte(`{"battery":90,"voltage":2900,"soil_moisture":41}`), now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, short(r.Device, r.Metric, r.Value, r.Unit))
	}
	want := []string{"garden/battery=90 %", "garden/soil=41 ", "garden/voltage=2900 mV"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestPresetErrors checks what config check shows for a preset gone wrong.
func TestPresetErrors(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Preset: "zigbe2mqtt"}, `options.preset: "zigbe2mqtt" is not a preset: did you mean zigbee2mqtt?`},
		{Config{Preset: "shelly"}, `options.preset: "shelly" is not a preset: did you mean shelly-gen2?`},
		{Config{Preset: "xyzzy-foo-bar"}, `options.preset: "xyzzy-foo-bar" is not a preset: use one of esphome, homie, senml, shelly-gen2, tasmota, zigbee2mqtt`},
		{Config{Preset: "zigbee2mqtt", Units: map[string]string{"temprature": "K"}}, `options.units: "temprature" is not a metric of this device: did you mean temperature?`},
		{Config{Preset: "tasmota", UnitPaths: map[string]string{"temperature": "$.*.Unit"}}, `options.unit_paths.temperature: a unit path cannot hold *`},
		{Config{Preset: "esphome", Missing: "ignore"}, `options.missing: "ignore" is not a choice: use skip`},
		{Config{Preset: "tasmota", WildcardKey: "label"}, `options.wildcard_key: "label" is not a choice`},
		{Config{Preset: "homie", Topic: "homie/+device/+metric"}, `options.topic: the homie format needs +device and a last #`},
		{Config{Preset: "senml", SenMLNames: "both"}, `options.senml_names: "both" is not a choice`},
		{Config{Topic: "a/+device", Format: "json", Path: "$.*.x", TimePath: "$.*"}, `options.time_path: a time path cannot hold *`},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

// TestWildcardBounds checks that a * matching too many members fails the
// message rather than making hundreds of readings, and that the metric
// placement works.
func TestWildcardBounds(t *testing.T) {
	s := mustNew(t, "lan", Config{Topic: "t/+device", Format: "json", Fields: map[string]string{"t": "$.*.T"}, WildcardKey: "metric"})
	var b strings.Builder
	b.WriteString("{")
	for i := range MaxMatches + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"s%02d":{"T":%d}`, i, i)
	}
	b.WriteString("}")
	if _, err := s.Decode("t/x", []byte(b.String()), now); err == nil || !strings.Contains(err.Error(), "more than 32 members match $.*.T") {
		t.Fatalf("Decode error %v, want the match limit", err)
	}
	rs, err := s.Decode("t/x", []byte(`{"a":{"T":1},"b":{"T":2},"c":"x","d":{"U":3}}`), now)
	if err != nil || len(rs) != 2 || rs[0].Metric != "t.a" || rs[1].Metric != "t.b" || rs[0].Device != "x" {
		t.Fatalf("Decode = %v, %v; want t.a and t.b of device x", rs, err)
	}
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	if _, err := s.Decode("t/x", []byte(deep), now); err == nil || !strings.Contains(err.Error(), "nests deeper than 32 levels") {
		t.Fatalf("Decode error %v, want the depth limit", err)
	}
	if !errors.Is(missingf("x"), errMissing) {
		t.Fatal("missingf is not errMissing")
	}
}

// TestMissingSkippedAndCounted: a field the device names that is absent
// or null is left out and counted per field; the rest of the message is
// stored (it used to drop the whole message as malformed).
func TestMissingSkippedAndCounted(t *testing.T) {
	s := mustNew(t, "lan", Config{Topic: "t/+device", Format: "json", Fields: map[string]string{"a": "$.a", "b": "$.b", "c": "$.x.c"}})
	for _, p := range []string{`{"b":2}`, `{"a":null,"b":3,"x":{"c":null}}`} {
		rs, err := s.Decode("t/d", []byte(p), now)
		if err != nil || len(rs) != 1 || rs[0].Metric != "b" {
			t.Fatalf("Decode(%s) = %v, %v; want b alone", p, rs, err)
		}
	}
	if st := s.Stats(); st.Malformed != 0 || fmt.Sprint(st.Missing) != "map[a:2 c:2]" {
		t.Fatalf("malformed %d missing %v, want 0 and a:2 c:2", st.Malformed, st.Missing)
	}
	if _, err := s.Decode("t/d", []byte(`{"b":"3"}`), now); err == nil {
		t.Fatal("a string where a number belongs must still be malformed")
	}
}
