package broker

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// rawWait bounds every read of a raw client: generous, for a loaded machine.
const rawWait = 30 * time.Second

// rawClient is a bare MQTT client built from mochi's packet codec, for the
// bytes a library would not send (oversized lengths, silence) and the
// reason codes a library would hide.
type rawClient struct {
	t       *testing.T
	conn    net.Conn
	r       *bufio.Reader
	version byte
}

// dialRaw opens a TCP connection to addr from the loopback address from
// ("" for any) without sending anything.
func dialRaw(t *testing.T, addr, from string, version byte) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: rawWait}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), version: version}
}

// connectPacket is a CONNECT for id with a clean session.
func connectPacket(id, user, password string) packets.Packet {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}}
	pk.Connect.ProtocolName = []byte("MQTT")
	pk.Connect.Clean = true
	pk.Connect.Keepalive = 60
	pk.Connect.ClientIdentifier = id
	pk.Connect.Username, pk.Connect.UsernameFlag = []byte(user), user != ""
	pk.Connect.Password, pk.Connect.PasswordFlag = []byte(password), password != ""
	return pk
}

// connect sends CONNECT and returns the CONNACK, or the error that ended
// the connection instead.
func (c *rawClient) connect(id, user, password string) (packets.Packet, error) {
	c.t.Helper()
	pk := connectPacket(id, user, password)
	if err := c.trySend(pk); err != nil {
		return pk, err
	}
	return c.read()
}

// mustConnect connects and fails the test unless the CONNACK says success.
func (c *rawClient) mustConnect(id string) {
	c.t.Helper()
	ack, err := c.connect(id, "", "")
	if err != nil || ack.FixedHeader.Type != packets.Connack || ack.ReasonCode != 0 {
		c.t.Fatalf("connect %s: err %v, packet type %d, reason %#x", id, err, ack.FixedHeader.Type, ack.ReasonCode)
	}
}

func (c *rawClient) encode(pk packets.Packet) []byte {
	c.t.Helper()
	pk.ProtocolVersion = c.version
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
	case packets.Pingreq:
		err = pk.PingreqEncode(&buf)
	case packets.Pubrel:
		pk.FixedHeader.Qos = 1 // fixed flags of PUBREL
		err = pk.PubrelEncode(&buf)
	default:
		c.t.Fatalf("cannot send packet type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	return buf.Bytes()
}

func (c *rawClient) trySend(pk packets.Packet) error {
	_, err := c.conn.Write(c.encode(pk))
	return err
}

func (c *rawClient) send(pk packets.Packet) {
	c.t.Helper()
	if err := c.trySend(pk); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one packet; io.EOF or a reset means the broker closed the
// connection.
func (c *rawClient) read() (packets.Packet, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(rawWait))
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
	pk.ProtocolVersion = c.version
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Pubrec:
		err = pk.PubrecDecode(body)
	case packets.Pubcomp:
		err = pk.PubcompDecode(body)
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
func (c *rawClient) expect(typ byte) packets.Packet {
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

// closedByBroker reads until the broker closes the connection and reports
// whether it did within rawWait (false: still open, or a read timed out).
func (c *rawClient) closedByBroker() bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(rawWait))
	_, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true // EOF (nil from io.Copy) or a reset
}

// rssBytes is this process's resident set (VmRSS): the broker under test
// runs in it.
func rssBytes(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// settledRSS is the resident set after the heap has been given back, so
// what a test measures afterwards is what it made the broker hold.
func settledRSS(t *testing.T) int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rssBytes(t)
}

// waitFor polls cond until it holds or rawWait passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(rawWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
