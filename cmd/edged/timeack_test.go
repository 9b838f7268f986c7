package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edged-gateway/edged/reading"
)

// mosquittoPubDebug runs mosquitto_pub -d on addr and returns its output;
// an exit status other than 0 fails the test.
func mosquittoPubDebug(t *testing.T, addr string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mosquitto_pub missing (apt-get install mosquitto-clients); CI is set")
		}
		t.Skip("mosquitto_pub missing (apt-get install mosquitto-clients)")
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port, "-d", "-q", "1"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// rawPublish sends one MQTT 5 QoS 1 PUBLISH over a bare socket (mochi's
// packet codec) and returns the PUBACK, reason code and properties intact.
func rawPublish(t *testing.T, addr, topic, payload string) packets.Packet {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	write := func(pk packets.Packet) {
		t.Helper()
		pk.ProtocolVersion = 5
		var buf bytes.Buffer
		var err error
		if pk.FixedHeader.Type == packets.Connect {
			err = pk.ConnectEncode(&buf)
		} else {
			err = pk.PublishEncode(&buf)
		}
		if err == nil {
			_, err = conn.Write(buf.Bytes())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	read := func(typ byte) packets.Packet {
		t.Helper()
		var pk packets.Packet
		b, err := r.ReadByte()
		if err == nil {
			err = pk.FixedHeader.Decode(b)
		}
		var n int
		if err == nil {
			n, _, err = packets.DecodeLength(r)
		}
		body := make([]byte, n)
		if err == nil {
			_, err = io.ReadFull(r, body)
		}
		if err == nil && pk.FixedHeader.Type != typ {
			err = fmt.Errorf("packet type %d, want %d", pk.FixedHeader.Type, typ)
		}
		if err != nil {
			t.Fatal(err)
		}
		pk.ProtocolVersion, pk.FixedHeader.Remaining = 5, n
		if typ == packets.Puback {
			err = pk.PubackDecode(body)
		} else {
			err = pk.ConnackDecode(body)
		}
		if err != nil {
			t.Fatal(err)
		}
		return pk
	}
	c := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}}
	c.Connect.ProtocolName, c.Connect.Clean, c.Connect.Keepalive = []byte("MQTT"), true, 30
	c.Connect.ClientIdentifier = "raw-" + topic
	write(c)
	if ack := read(packets.Connack); ack.ReasonCode != 0 {
		t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: topic, Payload: []byte(payload), PacketID: 1})
	return read(packets.Puback)
}

// TestPoisonTimeAckCodesFromRealClients: an MQTT 5 publisher learns from
// its PUBACK why its message was not stored, as mosquitto_pub -d prints
// it: 0x99 (153, payload format invalid) for year 9999 and for a malformed
// payload, 0x83 (131, implementation specific error) for a time beyond
// outbox.max_future, 0x00 for a good time. A pack with some readings
// refused is acknowledged as a success carrying edged-refused, only once
// the rest is durable. 3.1.1 publishers get a plain PUBACK and exit 0,
// one connection each. python3-paho-mqtt takes those acks without its
// network thread dying. A device with bad_time: receive stores year 9999
// with the receive time and keeps the sensor's time as m_sensor_time.
func TestPoisonTimeAckCodesFromRealClients(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: gw-acks}
local_mqtt: {listen: 127.0.0.1:0}
http: {listen: 127.0.0.1:0}
data_dir: %s
outbox: {max_age: 24h, max_future: 10m}
devices:
  - name: poison
    kind: mqttsensor
    options: {topic: poison/+device, format: json, metric: m, path: $.v, time_path: $.t}
  - name: pack
    kind: mqttsensor
    options: {topic: pack/+device, format: senml, senml_names: join}
  - name: stamp
    kind: mqttsensor
    options: {topic: stamp/+device, format: json, metric: m, path: $.v, time_path: $.t, bad_time: receive}
`, dir)
	d, stop := startDaemon(t, writeConfig(t, dir, cfg))
	defer stop()
	addr := d.broker.Addr()

	now := time.Now().UTC()
	good := fmt.Sprintf(`{"t":%q,"v":1}`, now.Format(time.RFC3339))
	ahead := fmt.Sprintf(`{"t":%q,"v":1}`, now.Add(time.Hour).Format(time.RFC3339))
	poison := `{"t":"9999-01-01T00:00:00Z","v":1}`
	clients := 0
	for _, c := range []struct{ version, topic, payload, want string }{
		{"mqttv5", "poison/y9999", poison, "RC:153"},
		{"mqttv5", "poison/malformed", `{"t":"x","v":1}`, "RC:153"},
		{"mqttv5", "poison/ahead", ahead, "RC:131"},
		{"mqttv5", "poison/good", good, "RC:0)"},
		{"mqttv311", "poison/y9999", poison, "RC:0)"},
		{"mqttv311", "poison/ahead", ahead, "RC:0)"},
	} {
		out := mosquittoPubDebug(t, addr, "-V", c.version, "-t", c.topic, "-m", c.payload)
		clients++
		if !strings.Contains(out, "received PUBACK (Mid: 1, "+c.want) {
			t.Errorf("%s %s %s: want a PUBACK with %s:\n%s", c.version, c.topic, c.payload, c.want, out)
		}
	}
	if n := d.broker.Stats().Auth.AuthOK; n != uint64(clients) {
		t.Errorf("%d connections for %d publishers: a refused time made a client reconnect", n, clients)
	}

	// A pack with one good reading and one in year 9999: the good one is
	// durable when the PUBACK arrives, which says success and edged-refused 1.
	pack := fmt.Sprintf(`[{"bn":"p.","n":"t","v":1,"t":%d},{"n":"t","v":2,"t":253370764800}]`, now.Unix())
	ack := rawPublish(t, addr, "pack/mixed", pack)
	var refused string
	for _, u := range ack.Properties.User {
		if u.Key == "edged-refused" {
			refused = u.Val
		}
	}
	if ack.ReasonCode != 0 || refused != "1" || !strings.Contains(ack.Properties.ReasonString, "1 reading(s) refused") {
		t.Errorf("mixed pack PUBACK code %#x edged-refused %q reason %q; want 0x00, 1 and the reason",
			ack.ReasonCode, refused, ack.Properties.ReasonString)
	}
	rs, err := d.outbox.Peek(0, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]reading.Reading{}
	for _, r := range rs {
		stored[r.Device+"/"+r.Metric] = r
	}
	if r, ok := stored["mixed/p.t"]; !ok || r.Value != 1 {
		t.Errorf("the good reading of the mixed pack is not durable at its PUBACK: outbox holds %v", rs)
	}
	if _, ok := stored["good/m"]; !ok || len(rs) != 2 {
		t.Errorf("outbox holds %v, want the good time and the good reading of the pack only", rs)
	}

	// python3-paho-mqtt (MQTT 5) takes the 0x99 ack and the success ack
	// with a reason string and edged-refused.
	t.Run("python3-paho-mqtt", func(t *testing.T) {
		python := "/usr/bin/python3"
		if err := exec.Command(python, "-c", "import paho.mqtt.client").Run(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("python3-paho-mqtt missing (apt-get install python3-paho-mqtt); CI is set: %v", err)
			}
			t.Skipf("python3-paho-mqtt missing (apt-get install python3-paho-mqtt): %v", err)
		}
		host, port, _ := net.SplitHostPort(addr)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, "-c", pahoRefusedScript, host, port, poison, pack, good)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "acked 3") {
			t.Fatalf("paho: %v\n%s", err, out)
		}
	})

	// bad_time: receive keeps the reading, stamped on arrival, and the
	// sensor's time beside it.
	before := time.Now()
	if out := mosquittoPubDebug(t, addr, "-V", "mqttv5", "-t", "stamp/clock", "-m", poison); !strings.Contains(out, "RC:0)") {
		t.Errorf("bad_time: receive: want a success PUBACK:\n%s", out)
	}
	rs, err = d.outbox.Peek(0, 100, rs[:0])
	if err != nil {
		t.Fatal(err)
	}
	stored = map[string]reading.Reading{}
	for _, r := range rs {
		stored[r.Device+"/"+r.Metric] = r
	}
	m, st := stored["clock/m"], stored["clock/m_sensor_time"]
	if m.Value != 1 || m.Time.Before(before.Add(-time.Second)) || m.Time.After(time.Now()) {
		t.Errorf("bad_time: receive stored %v, want value 1 at the receive time", m)
	}
	if st.Value != 253370764800 || st.Unit != "s" || !st.Time.Equal(m.Time) {
		t.Errorf("bad_time: receive stored %v, want the sensor's time 253370764800 s beside it", st)
	}
	is := d.ingest.Stats()
	if is.RestampedTime != 1 || is.Refused["clock"].Restamped != 1 || is.Refused["y9999"].Readings != 2 {
		t.Errorf("ingest stats %+v, want 1 restamped (clock) and 2 refused for y9999", is)
	}
	if b := d.broker.Stats(); b.Refused != 0 || b.Declined == 0 {
		t.Errorf("broker stats refused %d declined %d: refused times are declined and acknowledged, never refused", b.Refused, b.Declined)
	}
}

// pahoRefusedScript publishes a poison time, a mixed pack (on pack/) and a
// good time over MQTT 5 at QoS 1 and waits for the three acks; it exits
// non-zero if an ack does not come or the network thread dies.
const pahoRefusedScript = `
import sys, threading
import paho.mqtt.client as mqtt
host, port = sys.argv[1], int(sys.argv[2])
acked = []
done = threading.Event()
def on_publish(c, u, mid):
    acked.append(mid)
    if len(acked) == 3:
        done.set()
c = mqtt.Client(client_id="paho-refused", protocol=mqtt.MQTTv5)
c.on_publish = on_publish
c.connect(host, port, keepalive=30)
c.loop_start()
c.publish("poison/paho", sys.argv[3], qos=1)
c.publish("pack/paho", sys.argv[4], qos=1)
c.publish("poison/paho", sys.argv[5], qos=1)
ok = done.wait(30)
alive = c._thread is not None and c._thread.is_alive()
c.disconnect()
c.loop_stop()
print("acked", len(acked), "network thread alive", alive)
sys.exit(0 if ok and alive else 1)
`
