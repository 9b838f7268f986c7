package mosquittotest_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// connectMQTT opens a TCP connection and completes an MQTT 3.1.1 CONNECT,
// so the test proves mosquitto itself answers, not just a socket.
func connectMQTT(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	// CONNECT: protocol "MQTT" level 4, clean session, keepalive 10s, client id "t".
	connect := []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 1, 't'}
	if _, err := conn.Write(connect); err != nil {
		return err
	}
	ack := make([]byte, 4)
	if _, err := conn.Read(ack); err != nil {
		return err
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		return fmt.Errorf("unexpected CONNACK % x", ack)
	}
	return nil
}

func TestStartStopRestartKill(t *testing.T) {
	b := mosquittotest.Start(t)
	if !strings.HasPrefix(b.URL(), "mqtt://127.0.0.1:") || b.URL() != "mqtt://"+b.Addr() {
		t.Fatalf("URL() = %q, Addr() = %q", b.URL(), b.Addr())
	}
	if err := connectMQTT(b.Addr()); err != nil {
		t.Fatalf("connect after Start: %v", err)
	}

	b.Stop()
	if err := connectMQTT(b.Addr()); err == nil {
		t.Fatal("connect after Stop succeeded")
	}

	b.Restart()
	if err := connectMQTT(b.Addr()); err != nil {
		t.Fatalf("connect after Restart: %v", err)
	}

	b.Kill()
	if err := connectMQTT(b.Addr()); err == nil {
		t.Fatal("connect after Kill succeeded")
	}
	b.Restart()
	if err := connectMQTT(b.Addr()); err != nil {
		t.Fatalf("connect after Kill and Restart: %v", err)
	}
}

func TestPause(t *testing.T) {
	b := mosquittotest.Start(t)
	b.Pause()
	// The kernel still accepts the TCP connection, but no CONNACK comes.
	conn, err := net.DialTimeout("tcp", b.Addr(), time.Second)
	if err != nil {
		t.Fatalf("dial a paused broker: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := conn.Write([]byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 1, 'p'}); err != nil {
		t.Fatalf("write CONNECT: %v", err)
	}
	if _, err := conn.Read(make([]byte, 4)); err == nil {
		t.Fatal("a paused broker answered CONNECT")
	}
	b.Restart() // works on a paused broker
	if err := connectMQTT(b.Addr()); err != nil {
		t.Fatalf("connect after Restart of a paused broker: %v", err)
	}
}
