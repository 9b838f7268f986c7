package broker

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// TestPubackCarriesNoInheritedPropertiesAndAValidCode sends, byte by byte,
// an MQTT 5 QoS 1 PUBLISH with a user property and checks the PUBACK: no
// properties copied from the publish, and no reason code the spec does not
// list for PUBACK (mochi v2.7.9 sent 400b0007010726000161000132: "granted
// QoS 1" and the publish's user property). QoS 2's PUBREC likewise.
func TestPubackCarriesNoInheritedPropertiesAndAValidCode(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true})
	c := dialRaw(t, b.Addr(), "", 5)
	write := func(h string) {
		t.Helper()
		raw, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.conn.Write(raw); err != nil {
			t.Fatal(err)
		}
	}
	readRaw := func() string {
		t.Helper()
		_ = c.conn.SetReadDeadline(time.Now().Add(rawWait))
		hdr := make([]byte, 2)
		if _, err := io.ReadFull(c.r, hdr); err != nil {
			t.Fatal(err)
		}
		body := make([]byte, hdr[1]) // every answer here is under 128 bytes
		if _, err := io.ReadFull(c.r, body); err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(append(hdr, body...))
	}
	// CONNECT: MQTT 5, clean start, keep-alive 60, no properties, id "pa".
	write("10 0f 0004 4d515454 05 02 003c 00 0002 7061")
	if ack := readRaw(); !strings.HasPrefix(ack, "20") || ack[6:8] != "00" {
		t.Fatalf("CONNACK %s", ack)
	}
	// PUBLISH QoS 1, topic "t", id 7, user property a=2, payload "x".
	write("32 0e 0001 74 0007 07 26 0001 61 0001 32 78")
	valid := map[string]bool{"40020007": true, "4003000700": true, "4003000710": true}
	if ack := readRaw(); !valid[ack] {
		t.Errorf("PUBACK %s; want 40020007 (or 4003000700, or mosquitto's 4003000710)", ack)
	}
	// PUBLISH QoS 2, topic "t", id 8, user property a=2, payload "x".
	write("34 0e 0001 74 0008 07 26 0001 61 0001 32 78")
	valid = map[string]bool{"50020008": true, "5003000800": true, "5003000810": true}
	if rec := readRaw(); !valid[rec] {
		t.Errorf("PUBREC %s; want 50020008", rec)
	}
}

// TestRealMQTT5ClientsAcceptThePuback publishes QoS 1 with a user property
// from clients nobody here wrote: mosquitto_pub (-V mqttv5 -D) and Debian's
// python3-paho-mqtt, whose network thread died on mochi's PUBACK.
func TestRealMQTT5ClientsAcceptThePuback(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true})
	host, port, _ := strings.Cut(b.Addr(), ":")
	t.Run("mosquitto_pub", func(t *testing.T) {
		pub, _ := clients(t)
		out, err := mq(t, b, pub, "-V", "mqttv5", "-q", "1", "-t", "sensors/porch/t", "-m", "21.5",
			"-D", "publish", "user-property", "unit", "C", "-d")
		if err != nil || !strings.Contains(out, "PUBACK") || strings.Contains(strings.ToLower(out), "error") {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	})
	t.Run("python3-paho-mqtt", func(t *testing.T) {
		python := "/usr/bin/python3"
		if err := exec.Command(python, "-c", "import paho.mqtt.client").Run(); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("python3-paho-mqtt missing (apt-get install python3-paho-mqtt); CI is set: %v", err)
			}
			t.Skipf("python3-paho-mqtt missing (apt-get install python3-paho-mqtt): %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, python, "-c", pahoScript, host, port)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("paho: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "acked 3") {
			t.Fatalf("paho did not see 3 acks:\n%s", out.String())
		}
	})
}

// pahoScript publishes 3 QoS 1 messages with user properties over MQTT 5
// and waits for their PUBACKs; it exits non-zero if the network thread dies
// or an ack does not come.
const pahoScript = `
import sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
host, port = sys.argv[1], int(sys.argv[2])
acked = []
done = threading.Event()
def on_publish(c, u, mid):
    acked.append(mid)
    if len(acked) == 3:
        done.set()
c = mqtt.Client(client_id="paho-props", protocol=mqtt.MQTTv5)
c.on_publish = on_publish
c.connect(host, port, keepalive=30)
c.loop_start()
for i in range(3):
    p = Properties(PacketTypes.PUBLISH)
    p.UserProperty = ("unit", "C")
    p.ContentType = "text/plain"
    c.publish("sensors/porch/t", str(20 + i), qos=1, properties=p)
ok = done.wait(30)
alive = c._thread is not None and c._thread.is_alive()
c.disconnect()
c.loop_stop()
print("acked", len(acked), "network thread alive", alive)
sys.exit(0 if ok and alive else 1)
`

// TestConnackTellsKeepAliveAndTopicAliases: an MQTT 5 client learns the
// Server Keep Alive (its own, or the limit when it asked for none) and the
// Topic Alias Maximum, and a publish by topic alias is delivered on the
// aliased topic and acknowledged.
func TestConnackTellsKeepAliveAndTopicAliases(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true, Limits: Limits{MaxKeepAlive: 120 * time.Second, MaxTopicAliases: 8}})
	for _, tt := range []struct{ asked, want uint16 }{{0, 120}, {30, 30}, {600, 120}} {
		c := dialRaw(t, b.Addr(), "", 5)
		pk := connectPacket("ka", "", "")
		pk.Connect.Keepalive = tt.asked
		c.send(pk)
		ack := c.expect(packets.Connack)
		if !ack.Properties.ServerKeepAliveFlag || ack.Properties.ServerKeepAlive != tt.want || ack.Properties.TopicAliasMaximum != 8 {
			t.Errorf("keep-alive %d: CONNACK server keep alive %v/%d, topic alias maximum %d; want %d and 8", tt.asked,
				ack.Properties.ServerKeepAliveFlag, ack.Properties.ServerKeepAlive, ack.Properties.TopicAliasMaximum, tt.want)
		}
	}

	sub := dialRaw(t, b.Addr(), "", 5)
	sub.mustConnect("sub")
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "sensors/#", Qos: 0}}})
	sub.expect(packets.Suback)
	pub := dialRaw(t, b.Addr(), "", 5)
	pub.mustConnect("alias")
	for i, topic := range []string{"sensors/porch/t", ""} { // set alias 1, then use it
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: topic,
			PacketID: uint16(i + 1), Payload: []byte("21.5")}
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 1, true
		pub.send(pk)
		if ack := pub.expect(packets.Puback); ack.ReasonCode != 0 {
			t.Fatalf("PUBACK %#x", ack.ReasonCode)
		}
		if got := sub.expect(packets.Publish); got.TopicName != "sensors/porch/t" {
			t.Fatalf("delivered on %q", got.TopicName)
		}
	}
}

// TestOfflineQoS1MessagesComeBackInPublishOrder: a persistent session's
// QoS 1 messages queued while its client was away are delivered in the
// order they were published, in MQTT 3.1.1 and 5, on reconnect and after a
// restart of the broker (which lost all but one of them before: mochi did
// not store their packet ids).
func TestOfflineQoS1MessagesComeBackInPublishOrder(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) { offlineOrder(t, restart) })
	}
}

func offlineOrder(t *testing.T, restart bool) {
	store := filepath.Join(t.TempDir(), "broker.db")
	b, err := New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true, StorePath: store})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, b)
	defer func() { stop() }()
	persistent := func(c *rawClient, id string) packets.Packet {
		pk := connectPacket(id, "", "")
		pk.Connect.Clean = false
		if c.version == 5 {
			pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 3600, true
		}
		c.send(pk)
		return c.expect(packets.Connack)
	}
	const n = 40
	for _, v := range []byte{4, 5} {
		id := fmt.Sprintf("actuator-v%d", v)
		c := dialRaw(t, b.Addr(), "", v)
		persistent(c, id)
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: "cmd/" + id, Qos: 1}}})
		c.expect(packets.Suback)
		_ = c.conn.Close()
		waitFor(t, "the client to be gone", func() bool { cl, ok := b.srv.Clients.Get(id); return ok && cl.Closed() })
		pub := dialRaw(t, b.Addr(), "", 4)
		pub.mustConnect("pub-" + id)
		for i := range n {
			pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "cmd/" + id,
				PacketID: uint16(i + 1), Payload: fmt.Appendf(nil, "off%d", i)})
			pub.expect(packets.Puback)
		}
	}
	if restart { // the queued messages come back from broker.db
		stop()
		if b, err = New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true, StorePath: store}); err != nil {
			t.Fatal(err)
		}
		stop = run(t, b)
	}
	for _, v := range []byte{4, 5} {
		id := fmt.Sprintf("actuator-v%d", v)
		c := dialRaw(t, b.Addr(), "", v)
		if ack := persistent(c, id); !ack.SessionPresent {
			t.Fatalf("%s: no session present after the restart", id)
		}
		var got []string
		for range n {
			pk, err := c.read()
			if err != nil || pk.FixedHeader.Type != packets.Publish {
				t.Fatalf("MQTT v%d: after %v: packet type %d, %v", v, got, pk.FixedHeader.Type, err)
			}
			got = append(got, string(pk.Payload))
		}
		for i, p := range got {
			if p != fmt.Sprintf("off%d", i) {
				t.Fatalf("MQTT v%d: delivered in the order %v", v, got)
			}
		}
	}
}

// TestSessionLimits: subscriptions per client, the session expiry ceiling
// told in CONNACK, and the messages queued for an absent client.
func TestSessionLimits(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true, Limits: Limits{MaxSubscriptionsPerClient: 3, MaxSessionExpiry: time.Hour, MaxQueuedPerSession: 5}})
	subscribe := func(c *rawClient, id uint16, filters ...string) []byte {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: id}
		for _, f := range filters {
			pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
		}
		c.send(pk)
		return c.expect(packets.Suback).ReasonCodes
	}
	t.Run("subscriptions per client", func(t *testing.T) {
		v5 := dialRaw(t, b.Addr(), "", 5)
		v5.mustConnect("subs-v5")
		if got := subscribe(v5, 1, "a", "b", "c", "d", "e"); !bytes.Equal(got, []byte{1, 1, 1, 0x97, 0x97}) {
			t.Errorf("MQTT 5 SUBACK % x, want 01 01 01 97 97", got)
		}
		if got := subscribe(v5, 2, "a", "f"); !bytes.Equal(got, []byte{1, 0x97}) {
			t.Errorf("again: SUBACK % x, want 01 97 (a is held already)", got)
		}
		v3 := dialRaw(t, b.Addr(), "", 4)
		v3.mustConnect("subs-v3")
		if got := subscribe(v3, 1, "a", "b", "c", "d"); !bytes.Equal(got, []byte{1, 1, 1, 0x80}) {
			t.Errorf("MQTT 3.1.1 SUBACK % x, want 01 01 01 80", got)
		}
		if n := b.Stats().Limits.SubscriptionsRefused; n != 4 {
			t.Errorf("subscriptions_refused %d, want 4", n)
		}
	})
	t.Run("session expiry ceiling", func(t *testing.T) {
		c := dialRaw(t, b.Addr(), "", 5)
		pk := connectPacket("long", "", "")
		pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 1<<31, true
		c.send(pk)
		if ack := c.expect(packets.Connack); ack.Properties.SessionExpiryInterval != 3600 {
			t.Errorf("CONNACK session expiry %d, want 3600", ack.Properties.SessionExpiryInterval)
		}
	})
	t.Run("queued per session", func(t *testing.T) {
		c := dialRaw(t, b.Addr(), "", 4)
		pk := connectPacket("away", "", "")
		pk.Connect.Clean = false
		c.send(pk)
		c.expect(packets.Connack)
		subscribe(c, 1, "cmd/away")
		_ = c.conn.Close()
		waitFor(t, "the client to be gone", func() bool { cl, ok := b.srv.Clients.Get("away"); return ok && cl.Closed() })
		pub := dialRaw(t, b.Addr(), "", 4)
		pub.mustConnect("pub-away")
		for i := range 10 {
			pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "cmd/away",
				PacketID: uint16(i + 1), Payload: []byte("x")})
			pub.expect(packets.Puback)
		}
		cl, _ := b.srv.Clients.Get("away")
		if n := cl.State.Inflight.Len(); n != 5 {
			t.Errorf("%d messages queued for the absent client, want 5", n)
		}
		if n := b.Stats().Limits.QueuedDropped; n == 0 {
			t.Errorf("queued_dropped %d, want the drops counted", n)
		}
	})
}

// mqttjsVersion is the MQTT.js the test installs from npm.
const mqttjsVersion = "5.16.0"

// TestMQTTjsAcceptsTheBroker runs MQTT.js (npm mqtt, on Debian's node),
// which dropped the connection on mochi's PUBACK ("Invalid puback reason
// code"): QoS 1 publishes with user properties, by topic alias after the
// first, reach a subscriber with their properties.
func TestMQTTjsAcceptsTheBroker(t *testing.T) {
	node, err1 := exec.LookPath("node")
	npm, err2 := exec.LookPath("npm")
	if err := errors.Join(err1, err2); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("node and npm missing (apt-get install nodejs npm); CI is set: %v", err)
		}
		t.Skipf("node and npm missing (apt-get install nodejs npm): %v", err)
	}
	// Installed once per machine, outside the repository.
	dir := filepath.Join(os.TempDir(), "edged-test-mqttjs-"+mqttjsVersion)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mqtt", "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", dir, "mqtt@"+mqttjsVersion)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install mqtt@%s: %v\n%s", mqttjsVersion, err, out)
		}
	}
	script, err := filepath.Abs("testdata/mqttjs.js")
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, Config{AllowAnonymous: true})
	host, port, _ := strings.Cut(b.Addr(), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script, host, port)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("MQTT.js: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestReceiveMaximumBoundsPublishesInFlight: a client may have at most
// receive_maximum QoS 1/2 publishes in flight towards the broker (a QoS 2
// publish stays in flight until its PUBREL); MQTT 5 clients are told the
// bound in CONNACK, one going past it is disconnected with 0x93 and
// counted, and a client that completes its flows is never stopped.
func TestReceiveMaximumBoundsPublishesInFlight(t *testing.T) {
	const max = 3
	b := start(t, Config{AllowAnonymous: true, Limits: Limits{ReceiveMaximum: max}})
	if got := b.Stats().Limits.ReceiveMaximum; got != max {
		t.Fatalf("stats receive_maximum %d, want %d", got, max)
	}
	qos2 := func(id uint16) packets.Packet {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 2}, TopicName: "sensors/porch/t",
			PacketID: id, Payload: []byte("21.5")}
	}

	// Well-behaved: each flow completed before the next, ten times the bound.
	good := dialRaw(t, b.Addr(), "", 5)
	pk := connectPacket("good", "", "")
	good.send(pk)
	if ack := good.expect(packets.Connack); ack.Properties.ReceiveMaximum != max {
		t.Fatalf("CONNACK receive maximum %d, want %d", ack.Properties.ReceiveMaximum, max)
	}
	for i := 1; i <= 10*max; i++ {
		good.send(qos2(uint16(i)))
		good.expect(packets.Pubrec)
		good.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: uint16(i)})
		good.expect(packets.Pubcomp)
	}

	for _, version := range []byte{5, 4} {
		c := dialRaw(t, b.Addr(), "", version)
		pk := connectPacket(fmt.Sprintf("greedy-v%d", version), "", "")
		pk.ProtocolVersion = version
		c.send(pk)
		c.expect(packets.Connack)
		for i := 1; i <= max; i++ { // no PUBREL: each stays in flight
			c.send(qos2(uint16(i)))
			c.expect(packets.Pubrec)
		}
		c.send(qos2(max + 1))
		if version == 5 {
			if d := c.expect(packets.Disconnect); d.ReasonCode != packets.ErrReceiveMaximum.Code {
				t.Fatalf("v5: DISCONNECT reason %#x, want %#x", d.ReasonCode, packets.ErrReceiveMaximum.Code)
			}
		}
		if !c.closedByBroker() {
			t.Fatalf("v%d: connection still open past receive_maximum", version)
		}
	}
	waitFor(t, "both greedy clients counted", func() bool { return b.Stats().Limits.OverReceiveMaximum == 2 })

	// The well-behaved client was not touched.
	good.send(qos2(1))
	good.expect(packets.Pubrec)
}

// TestPahoSeesWillDelayAndSessionExpiry runs python3-paho-mqtt (Debian), a
// client no one here wrote, against the broker for what MQTT 5 promises
// about sessions: a will is held for its Will Delay Interval, and sent at
// once when the session ends first; a persistent session keeps its
// subscription and its QoS 1 messages, in order, across a reconnect; a
// session past its expiry is gone.
func TestPahoSeesWillDelayAndSessionExpiry(t *testing.T) {
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import paho.mqtt.client").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("python3-paho-mqtt missing (apt-get install python3-paho-mqtt); CI is set: %v", err)
		}
		t.Skipf("python3-paho-mqtt missing (apt-get install python3-paho-mqtt): %v", err)
	}
	script, err := filepath.Abs("testdata/paho_session.py")
	if err != nil {
		t.Fatal(err)
	}
	b := start(t, Config{AllowAnonymous: true})
	host, port, _ := strings.Cut(b.Addr(), ":")
	paho := func(t *testing.T, mode string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, python, script, mode, host, port).CombinedOutput()
		if err != nil {
			t.Fatalf("paho %s: %v\n%s", mode, err, out)
		}
		t.Logf("paho %s: %s", mode, out)
		return string(out)
	}
	t.Run("will delay", func(t *testing.T) { paho(t, "will") })
	t.Run("will when the session ends first", func(t *testing.T) { paho(t, "will-session-ends") })
	t.Run("session kept in order", func(t *testing.T) { paho(t, "session") })
	t.Run("session expires", func(t *testing.T) {
		paho(t, "short-session")
		waitFor(t, "the 1 s session to expire", func() bool { _, ok := b.srv.Clients.Get("short"); return !ok })
		paho(t, "expired")
	})
}

// TestSameClientIDReconnectsAtOnceAfterAServerSideDisconnect: a client the
// broker disconnected (here for an oversized packet) that reconnects at
// once with the same client id is accepted on its first try, with its
// persistent session, in MQTT 3.1.1 and 5 (the issue saw 0.4–0.55 s for
// the same id against 6 ms for a new one; measured here: under a
// millisecond for both, so the test checks the outcome, not the time).
func TestSameClientIDReconnectsAtOnceAfterAServerSideDisconnect(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true, Limits: Limits{MaxPacketSize: 1024}})
	for _, version := range []byte{4, 5} {
		id := fmt.Sprintf("same-v%d", version)
		persistent := func(c *rawClient) packets.Packet {
			pk := connectPacket(id, "", "")
			pk.ProtocolVersion = version
			pk.Connect.Clean = false
			if version == 5 {
				pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = 600, true
			}
			c.send(pk)
			return c.expect(packets.Connack)
		}
		for i := range 3 {
			c := dialRaw(t, b.Addr(), "", version)
			ack := persistent(c)
			if ack.ReasonCode != 0 || (i > 0 && !ack.SessionPresent) {
				t.Fatalf("v%d try %d: CONNACK reason %#x, session present %v", version, i, ack.ReasonCode, ack.SessionPresent)
			}
			c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "sensors/big", Payload: make([]byte, 4000)})
			if !c.closedByBroker() {
				t.Fatalf("v%d: an oversized packet did not end the connection", version)
			}
		}
	}
}
