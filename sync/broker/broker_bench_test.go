package broker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
)

// encode311 encodes an MQTT 3.1.1 packet.
func encode311(b *testing.B, pk packets.Packet) []byte {
	b.Helper()
	pk.ProtocolVersion = 4
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		pk.FixedHeader.Qos = 1
		err = pk.SubscribeEncode(&buf)
	}
	if err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkBrokerThroughput pipelines b.N publishes of 16 bytes from one
// MQTT 3.1.1 client to one subscriber through the broker on loopback, at
// QoS 0 and QoS 1 (the publisher acknowledged, delivery at QoS 0), with the
// limits on their defaults: what the limits cost on the hot path.
func BenchmarkBrokerThroughput(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			br, err := New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- br.Run(ctx) }()
			defer func() { cancel(); <-done }()
			dial := func(id string) (net.Conn, *bufio.Reader) {
				c, err := net.Dial("tcp", br.Addr())
				if err != nil {
					b.Fatal(err)
				}
				c.Write(encode311(b, connectPacket(id, "", "")))
				r := bufio.NewReaderSize(c, 64<<10)
				if _, err := io.ReadFull(r, make([]byte, 4)); err != nil { // CONNACK
					b.Fatal(err)
				}
				return c, r
			}
			sub, sr := dial("bench-sub")
			defer sub.Close()
			sub.Write(encode311(b, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
				Filters: packets.Subscriptions{{Filter: "bench/#"}}}))
			if _, err := io.ReadFull(sr, make([]byte, 5)); err != nil { // SUBACK
				b.Fatal(err)
			}
			pub, pr := dial("bench-pub")
			defer pub.Close()
			msg := encode311(b, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: "bench/t",
				PacketID: 1, Payload: []byte("0123456789abcdef")})
			got := make(chan error, 2)
			b.ResetTimer()
			go func() { // each delivery: 2 header bytes, topic 2+7, payload 16
				_, err := io.CopyN(io.Discard, sr, int64(b.N)*27)
				got <- err
			}()
			if qos == 1 {
				go func() { _, err := io.CopyN(io.Discard, pr, int64(b.N)*4); got <- err }() // PUBACKs
			}
			w := bufio.NewWriterSize(pub, 64<<10)
			for i := range b.N {
				if qos == 1 { // packet id after the header (2) and the topic (9)
					id := uint16(i%65535 + 1)
					msg[11], msg[12] = byte(id>>8), byte(id)
				}
				w.Write(msg)
			}
			w.Flush()
			for range 1 + int(qos) {
				if err := <-got; err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
