package auth

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// v5Client is a bare MQTT 5 client built from mochi's packet codec, enough
// to see the reason codes mochi sends (paho.mqtt.golang speaks only 3.1.1).
type v5Client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialV5 connects and returns the client and the CONNACK's reason code.
func dialV5(t *testing.T, addr, id, user, password string) (*v5Client, byte) {
	t.Helper()
	return dialV5From(t, addr, "", id, user, password)
}

// dialV5From is dialV5 from the loopback address from ("" for any).
func dialV5From(t *testing.T, addr, from, id, user, password string) (*v5Client, byte) {
	t.Helper()
	d := net.Dialer{Timeout: wait}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &v5Client{t: t, conn: conn, r: bufio.NewReader(conn)}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}}
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.Clean = true
	pk.Connect.Keepalive = 30
	pk.Connect.ClientIdentifier = id
	pk.Connect.Username, pk.Connect.UsernameFlag = []byte(user), user != ""
	pk.Connect.Password, pk.Connect.PasswordFlag = []byte(password), password != ""
	c.send(pk)
	ack, err := c.read()
	if err != nil || ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("no CONNACK: %v %+v", err, ack)
	}
	return c, ack.ReasonCode
}

// send encodes and writes pk as MQTT 5.
func (c *v5Client) send(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = 5
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		pk.FixedHeader.Qos = 1 // fixed flags of SUBSCRIBE
		err = pk.SubscribeEncode(&buf)
	default:
		c.t.Fatalf("cannot send packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one packet; io.EOF means the broker closed the connection.
func (c *v5Client) read() (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	pk.ProtocolVersion = 5
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return pk, err
}

// expect reads the next packet and checks its type.
func (c *v5Client) expect(typ byte) packets.Packet {
	c.t.Helper()
	pk, err := c.read()
	if err != nil {
		c.t.Fatalf("waiting for packet type %d: %v", typ, err)
	}
	if pk.FixedHeader.Type != typ {
		c.t.Fatalf("got packet type %d (%+v), want %d", pk.FixedHeader.Type, pk, typ)
	}
	return pk
}

// publish is a PUBLISH packet.
func publish(topic string, qos byte, id uint16) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, PacketID: id, Payload: []byte("x")}
}

func TestBrokerConnectV5(t *testing.T) {
	tests := []struct {
		name, user, password string
		want                 byte
	}{
		{"good password", "bob", "bob-pw", packets.CodeSuccess.Code},
		{"wrong password", "bob", "nope", packets.ErrBadUsernameOrPassword.Code},
		{"unknown user", "carol", "bob-pw", packets.ErrBadUsernameOrPassword.Code},
		{"anonymous disabled", "", "", packets.ErrBadUsernameOrPassword.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := startBroker(t, Options{ACL: testACL(t)})
			if _, code := dialV5(t, addr, "c1", tc.user, tc.password); code != tc.want {
				t.Errorf("CONNACK reason 0x%02x, want 0x%02x", code, tc.want)
			}
		})
	}
}

// TestBrokerACLv5 shows what mochi does with denials for MQTT 5 clients:
// a denied QoS 0 publish is dropped, a denied QoS 1 publish gets PUBACK
// 0x87 and the client stays connected, a denied subscription gets 0x87.
func TestBrokerACLv5(t *testing.T) {
	addr, h := startBroker(t, Options{ACL: testACL(t)})
	watcher, _ := dialV5(t, addr, "watcher", "admin", "admin-pw")
	watcher.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "#", Qos: 0}}})
	watcher.expect(packets.Suback)

	bob, code := dialV5(t, addr, "bob-1", "bob", "bob-pw")
	if code != 0 {
		t.Fatalf("CONNACK 0x%02x", code)
	}
	bob.send(publish("secret/a", 0, 0))
	bob.send(publish("secret/b", 1, 7))
	if ack := bob.expect(packets.Puback); ack.PacketID != 7 || ack.ReasonCode != packets.ErrNotAuthorized.Code {
		t.Errorf("PUBACK id %d reason 0x%02x, want id 7 reason 0x87", ack.PacketID, ack.ReasonCode)
	}
	bob.send(publish("sensors/bob/t", 1, 8))
	if ack := bob.expect(packets.Puback); ack.PacketID != 8 || ack.ReasonCode != packets.CodeSuccess.Code {
		t.Errorf("PUBACK id %d reason 0x%02x, want id 8 reason 0", ack.PacketID, ack.ReasonCode)
	}
	if pk := watcher.expect(packets.Publish); pk.TopicName != "sensors/bob/t" {
		t.Errorf("watcher got %q, want only sensors/bob/t", pk.TopicName)
	}

	bob.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 9,
		Filters: packets.Subscriptions{{Filter: "commands/#", Qos: 1}, {Filter: "commands/bob/#", Qos: 1}}})
	ack := bob.expect(packets.Suback)
	if want := []byte{packets.ErrNotAuthorized.Code, 1}; !bytes.Equal(ack.ReasonCodes, want) {
		t.Errorf("SUBACK codes % x, want % x", ack.ReasonCodes, want)
	}
	if st := h.Stats(); st.ACLDenied != 3 {
		t.Errorf("ACLDenied = %d, want 3", st.ACLDenied)
	}
}
