package uplink

import (
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// fakeBroker is a minimal MQTT 3.1.1 server on 127.0.0.1. It answers an
// MQTT 3.1.1 CONNECT with the given return code (any other protocol level
// with "unacceptable protocol version", like brokers without 3.1) and
// refuses (SUBACK 0x80) any filter starting with "forbidden/". It covers
// what mosquitto will not do on demand: mosquitto 2.0 grants ACL-denied
// subscriptions (it filters at delivery instead).
func fakeBroker(t *testing.T, connack byte) (url string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				serveFake(conn, connack)
			}()
		}
	}()
	return "mqtt://" + l.Addr().String()
}

func serveFake(conn net.Conn, connack byte) {
	for {
		p, err := packets.ReadPacket(conn)
		if err != nil {
			return
		}
		var reply packets.ControlPacket
		switch p := p.(type) {
		case *packets.ConnectPacket:
			ack := packets.NewControlPacket(packets.Connack).(*packets.ConnackPacket)
			ack.ReturnCode = connack
			if p.ProtocolVersion != 4 { // like brokers without MQTT 3.1
				ack.ReturnCode = packets.ErrRefusedBadProtocolVersion
			}
			reply = ack
		case *packets.SubscribePacket:
			ack := packets.NewControlPacket(packets.Suback).(*packets.SubackPacket)
			ack.MessageID = p.MessageID
			for i, topic := range p.Topics {
				code := p.Qoss[i]
				if strings.HasPrefix(topic, "forbidden/") {
					code = 0x80
				}
				ack.ReturnCodes = append(ack.ReturnCodes, code)
			}
			reply = ack
		case *packets.PublishPacket:
			if p.Qos == 1 {
				ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
				ack.MessageID = p.MessageID
				reply = ack
			}
		case *packets.PingreqPacket:
			reply = packets.NewControlPacket(packets.Pingresp)
		case *packets.DisconnectPacket:
			return
		}
		if reply != nil {
			if err := reply.Write(conn); err != nil {
				return
			}
		}
	}
}

func TestConnectRefusedByBroker(t *testing.T) {
	tests := []struct {
		code byte
		want string
	}{
		{packets.ErrRefusedNotAuthorised, "broker refused the connection: not authorized"},
		{packets.ErrRefusedBadUsernameOrPassword, "broker refused the connection: bad user name or password"},
		{packets.ErrRefusedIDRejected, "broker refused the connection: client identifier rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			brokerURL := fakeBroker(t, tt.code)
			c := newClient(t, Config{
				URL: brokerURL, ClientID: "gw-refused", Username: "gw", Password: "wrong",
				BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			})
			run(t, c)
			deadline := time.Now().Add(liveness)
			for c.Stats().ConnectFailures < 2 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			// MQTT 3.1.1 is pinned: paho would otherwise retry as 3.1 and
			// report "unacceptable protocol version" instead.
			want := "uplink: connect " + brokerURL + ": " + tt.want
			if st := c.Stats(); st.ConnectFailures < 2 || st.LastError.Message != want {
				t.Fatalf("stats %+v, want repeated failures with LastError %q", st, want)
			}
		})
	}
}

func TestConnectErrorStripsDialWrapping(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeout := &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}
	other := errors.New("tls: handshake failure")
	tests := []struct {
		dialErr error
		want    string
	}{
		{refused, "connection refused"},
		{timeout, "i/o timeout"},
		{other, "tls: handshake failure"},
	}
	for _, tt := range tests {
		if got := connectError(nil, tt.dialErr, errors.New("paho text")); got.Error() != tt.want {
			t.Errorf("connectError(%v) = %q, want %q", tt.dialErr, got, tt.want)
		}
	}
	if got := connectError(nil, nil, errors.New("EOF")); !strings.HasPrefix(got.Error(), "mqtt handshake: ") {
		t.Errorf("handshake error = %q", got)
	}
}
