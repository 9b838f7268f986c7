package broker

import (
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// oversized sends a fixed header declaring a packet of 250 MiB, then up to
// 32 MiB of its body (stopping when the broker closes), and reports
// whether the broker closed the connection.
func oversized(c *rawClient, typ byte) bool {
	const declared = 250 << 20
	hdr := []byte{typ << 4}
	for n := declared; ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 128
		}
		hdr = append(hdr, b)
		if n == 0 {
			break
		}
	}
	if typ == packets.Publish {
		hdr = append(hdr, 0, 1, 't') // topic "t", then payload
	}
	if _, err := c.conn.Write(hdr); err != nil {
		return true
	}
	chunk := make([]byte, 64<<10)
	_ = c.conn.SetWriteDeadline(time.Now().Add(rawWait))
	for sent := 0; sent < 32<<20; sent += len(chunk) {
		if _, err := c.conn.Write(chunk); err != nil {
			break // closed by the broker
		}
	}
	return c.closedByBroker()
}

func TestOversizedPacketClosedBeforeItsBodyIsRead(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true})
	tests := []struct {
		name    string
		connect bool // a valid CONNECT first
		typ     byte
		version byte
	}{
		{"CONNECT declaring 250 MiB, 3 at once", false, packets.Connect, 4},
		{"PUBLISH declaring 250 MiB after a valid CONNECT, 3.1.1", true, packets.Publish, 4},
		{"PUBLISH declaring 250 MiB after a valid CONNECT, MQTT 5", true, packets.Publish, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := settledRSS(t)
			refused := b.Stats().Limits.PacketTooLarge
			var wg sync.WaitGroup
			closed := make([]bool, 3)
			for i := range closed {
				c := dialRaw(t, b.Addr(), "", tt.version)
				if tt.connect {
					c.mustConnect("big-" + string(rune('a'+i)))
				}
				wg.Go(func() { closed[i] = oversized(c, tt.typ) })
			}
			wg.Wait()
			after := rssBytes(t)
			t.Logf("RSS before %.1f MiB, after 3 attacks %.1f MiB (+%.1f MiB)", mib(before), mib(after), mib(after-before))
			for i, ok := range closed {
				if !ok {
					t.Errorf("connection %d still open after declaring 250 MiB", i)
				}
			}
			if after-before > 20<<20 {
				t.Errorf("RSS grew by %.1f MiB, want under 20 MiB", mib(after-before))
			}
			waitFor(t, "3 refusals counted", func() bool { return b.Stats().Limits.PacketTooLarge >= refused+3 })
		})
	}
	// The broker still serves: a normal client connects.
	dialRaw(t, b.Addr(), "", 4).mustConnect("after-attacks")
}

func TestPacketAtTheLimitIsServedAndTheLimitAdvertised(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true, Limits: Limits{MaxPacketSize: 4096}})
	c := dialRaw(t, b.Addr(), "", 5)
	ack, err := c.connect("edge", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if ack.Properties.MaximumPacketSize != 4096 {
		t.Errorf("CONNACK maximum packet size %d, want 4096", ack.Properties.MaximumPacketSize)
	}
	// topic "t" (3 bytes) + packet id (2) + properties length (1) + payload:
	// remaining 4090 + header 3 = 4093 bytes, under the limit.
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t", PacketID: 1,
		Payload: make([]byte, 4084)}
	c.send(pk)
	if ack := c.expect(packets.Puback); ack.ReasonCode != 0 {
		t.Fatalf("PUBACK reason %#x", ack.ReasonCode)
	}
	pk.Payload, pk.PacketID = make([]byte, 4096), 2
	c.send(pk)
	if !c.closedByBroker() {
		t.Fatal("a packet over the limit left the connection open")
	}
	if n := b.Stats().Limits.PacketTooLarge; n != 1 {
		t.Fatalf("packet_too_large %d, want 1", n)
	}
}

func TestConnectionsCappedInAllAndPerAddress(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true, Limits: Limits{MaxConnections: 50, MaxConnectionsPerAddress: 20, ConnectTimeout: time.Minute}})
	let := func(from string, n int) (in, out int) {
		for i := range n {
			c := dialRaw(t, b.Addr(), from, 4)
			ack, err := c.connect(from+"-"+string(rune('A'+i)), "", "")
			if err == nil && ack.FixedHeader.Type == packets.Connack && ack.ReasonCode == 0 {
				in++
			} else {
				out++
			}
		}
		return in, out
	}
	before := settledRSS(t)
	for _, step := range []struct {
		from    string
		n       int
		in, out int
	}{
		{"127.0.0.1", 30, 20, 10}, // per address
		{"127.0.0.2", 25, 20, 5},  // per address again: 40 open
		{"127.0.0.3", 15, 10, 5},  // in all: 50 open
	} {
		in, out := let(step.from, step.n)
		if in != step.in || out != step.out {
			t.Errorf("from %s: %d let in, %d closed; want %d and %d", step.from, in, out, step.in, step.out)
		}
	}
	t.Logf("RSS before %.1f MiB, with 50 connections open and 20 refused %.1f MiB", mib(before), mib(rssBytes(t)))
	lim := b.Stats().Limits
	if lim.OverConnectionsPerAddr != 15 || lim.OverMaxConnections != 5 {
		t.Errorf("over per address %d, over total %d; want 15 and 5", lim.OverConnectionsPerAddr, lim.OverMaxConnections)
	}
}

func TestConnectionsThatNeverSendConnectAreClosed(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true, Limits: Limits{ConnectTimeout: 2 * time.Second}})
	// A client that connected first stays: its keep-alive replaces the
	// connect timeout.
	live := dialRaw(t, b.Addr(), "", 4)
	live.mustConnect("live")
	before := settledRSS(t)
	silent := make([]*rawClient, 40)
	for i := range silent {
		silent[i] = dialRaw(t, b.Addr(), "", 4)
	}
	// Half send part of a CONNECT and stop.
	for _, c := range silent[20:] {
		if _, err := c.conn.Write(c.encode(connectPacket("slow", "", ""))[:5]); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range silent {
		if !c.closedByBroker() {
			t.Fatalf("silent connection %d still open", i)
		}
	}
	t.Logf("RSS before %.1f MiB, after 40 silent connections were closed %.1f MiB", mib(before), mib(rssBytes(t)))
	waitFor(t, "40 connect timeouts counted", func() bool { return b.Stats().Limits.ConnectTimeouts == 40 })
	live.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	live.expect(packets.Pingresp)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
