package modbussim

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

func testServer(t testing.TB) *Server {
	t.Helper()
	start := time.Unix(0, 0)
	s, err := Listen("127.0.0.1:0", map[uint8]Slave{1: NewMeter(1, start), 2: NewVFD(1, start)}, func() time.Time { return start }, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// FuzzHandle feeds any PDU to the request handler: it must answer with a
// well-formed response or an exception, never panic.
func FuzzHandle(f *testing.F) {
	f.Add(byte(1), []byte{0x03, 0, 0, 0, 2})
	f.Add(byte(2), []byte{0x10, 0, 0, 0, 1, 2, 0x13, 0x88})
	f.Add(byte(2), []byte{0x0f, 0, 0, 0, 9, 2, 0xff, 0x01})
	f.Add(byte(1), []byte{0x04, 0xff, 0xff, 0, 125})
	s := testServer(f)
	f.Fuzz(func(t *testing.T, unit byte, pdu []byte) {
		if len(pdu) == 0 {
			return
		}
		res := s.handle(unit, pdu)
		if len(res) < 2 || res[0]&0x7f != pdu[0]&0x7f {
			t.Fatalf("handle(%x) = %x", pdu, res)
		}
		if res[0]&0x80 != 0 && len(res) != 2 {
			t.Fatalf("exception answer %x", res)
		}
	})
}

// TestMalformedFramesCloseOnlyThatConnection sends bad MBAP headers and
// truncated frames; the server closes those connections and keeps serving.
func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	s := testServer(t)
	for _, frame := range [][]byte{
		{0, 1, 0, 9, 0, 6, 1, 3, 0, 0, 0, 1}, // protocol id 9
		{0, 1, 0, 0, 0, 0, 1},                // length 0
		{0, 1, 0, 0, 0xff, 0xff, 1, 3},       // length past the limit
		{0, 1, 0, 0, 0, 6, 1, 3, 0},          // truncated, then closed
		bytes.Repeat([]byte{0xff}, 64),       // noise
	} {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(frame)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, c) // returns when the server closes
		c.Close()
	}
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0, 7, 0, 0, 0, 6, 1, 4, 0, 0, 0, 2})
	res := make([]byte, 13)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, res); err != nil || binary.BigEndian.Uint16(res[0:2]) != 7 || res[7] != 4 || res[8] != 4 {
		t.Fatalf("a good request after bad ones: %x, %v", res, err)
	}
}

func TestMaxClients(t *testing.T) {
	s := testServer(t)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range MaxClients {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// a served connection answers
		c.Write([]byte{0, 1, 0, 0, 0, 6, 1, 4, 0, 0, 0, 2})
		if _, err := io.ReadFull(c, make([]byte, 13)); err != nil {
			t.Fatal(err)
		}
	}
	extra, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("connection %d was served: %d, %v", MaxClients+1, n, err)
	}
}
