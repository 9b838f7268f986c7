package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged-gateway/edged/reading"
)

// TestReadingTimesAreJudgedAtTheDoor publishes to the embedded broker:
//   - a poison time (year 9999) from a paho 3.1.1 client with a persistent
//     session and auto-reconnect, which resends an unacknowledged publish
//     after every reconnect: it must be acknowledged once, on its first
//     connection (counted, never a disconnect/resend loop);
//   - the same from mosquitto_pub over MQTT 5, and a time an hour ahead;
//   - a SenML pack with bt in 2010 (older than outbox.max_age);
//   - a Tasmota message whose Time has no offset, read in time_zone.
//
// The refused readings are counted per device with the reason and stored
// nowhere; the Tasmota reading is stored with the right instant.
func TestReadingTimesAreJudgedAtTheDoor(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: gw-times}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
outbox: {max_age: 24h, max_future: 10m}
devices:
  - name: poison
    kind: mqttsensor
    options: {topic: poison/+device, format: json, metric: m, path: $.v, time_path: $.t}
  - name: senml
    kind: mqttsensor
    options: {topic: senml/+device, format: senml, senml_names: join}
  - name: tasmota
    kind: mqttsensor
    options: {topic: tele/+device/SENSOR, format: json, fields: {temperature: $.AM2301.Temperature}, time_path: $.Time, time_zone: "+01:00"}
`, dir)
	d, stop := startDaemon(t, writeConfig(t, dir, cfg))
	defer stop()
	addr := d.broker.Addr()

	// 3.1.1, persistent session, auto-reconnect: on a disconnect it would
	// resend the same publish for ever.
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("poison-311").SetProtocolVersion(4).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(50 * time.Millisecond).SetMaxReconnectInterval(100 * time.Millisecond)
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer cl.Disconnect(100)
	tok := cl.Publish("poison/clock9999", 1, false, `{"t":"9999-01-01T00:00:00Z","v":1}`)
	if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
		t.Fatalf("the poison-time publish was not acknowledged (connections so far: %d): %v",
			d.broker.Stats().Auth.AuthOK, tok.Error())
	}
	if n := d.broker.Stats().Auth.AuthOK; n != 1 {
		t.Fatalf("%d connections for one client: the poison time made it reconnect", n)
	}

	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, m := range []struct{ topic, payload string }{
		{"poison/clock9999", `{"t":"9999-01-01T00:00:00Z","v":2}`},
		{"poison/ahead", fmt.Sprintf(`{"t":%q,"v":3}`, future)},
		{"senml/historic", `[{"bn":"old.","bt":1262304000,"n":"temp","u":"Cel","v":20},{"n":"temp","t":60,"v":21},{"n":"temp","t":120,"v":22}]`},
	} {
		if err := mosquittoPub(t, addr, "", "-V", "mqttv5", "-q", "1", "-t", m.topic, "-m", m.payload); err != nil {
			t.Fatalf("MQTT 5 publish of %s: %v", m.topic, err)
		}
	}
	if n := d.broker.Stats().Auth.AuthOK; n != 4 {
		t.Errorf("%d connections, want 4 (one per publisher)", n)
	}

	local := time.Now().UTC().Add(time.Hour).Truncate(time.Second) // +01:00 wall time
	tasmota := fmt.Sprintf(`{"Time":%q,"AM2301":{"Temperature":21.5}}`, local.Format("2006-01-02T15:04:05"))
	if err := mosquittoPub(t, addr, "", "-q", "1", "-t", "tele/porch/SENSOR", "-m", tasmota); err != nil {
		t.Fatal(err)
	}

	st := d.ingest.Stats()
	if st.RefusedTime != 6 {
		t.Errorf("refused %d readings for their time, want 6 (2 poison, 1 ahead, 3 historic): %+v", st.RefusedTime, st.Refused)
	}
	for dev, want := range map[string]struct {
		n   uint64
		why string
	}{
		"clock9999": {2, "outside the years 1678–2262"}, "ahead": {1, "ahead of the gateway clock"}, "historic": {3, "older than outbox.max_age"},
	} {
		got := st.Refused[dev]
		if got.Readings != want.n || !strings.Contains(got.Last, want.why) || !strings.Contains(got.Last, "topic ") {
			t.Errorf("device %s: %+v, want %d refused saying %q and the topic", dev, got, want.n, want.why)
		}
	}
	if b := d.broker.Stats(); b.Refused != 0 {
		t.Errorf("broker refused %d publishes: a refused time must be acknowledged", b.Refused)
	}
	var rs []reading.Reading
	rs, err := d.outbox.Peek(0, 100, rs)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Device != "porch" || !rs[0].Time.Equal(local.Add(-time.Hour)) {
		t.Fatalf("outbox holds %+v, want only the Tasmota reading at %s", rs, local.Add(-time.Hour))
	}
}
