package modbussim

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/drivers/modbus"
)

// Exception is a Modbus exception code a Slave answers with.
type Exception byte

// The exception codes the simulated slaves use.
const (
	IllegalFunction    Exception = 0x01
	IllegalDataAddress Exception = 0x02
	IllegalDataValue   Exception = 0x03
	GatewayNoTarget    Exception = 0x0b
)

func (e Exception) Error() string { return fmt.Sprintf("modbus exception 0x%02x", byte(e)) }

// Slave is one simulated device behind a unit id. Bits travel as 0/1
// values. at is the request's time; the clock drives the waveforms.
type Slave interface {
	Read(t modbus.Table, addr, qty uint16, at time.Time) ([]uint16, error)
	Write(t modbus.Table, addr uint16, vals []uint16, at time.Time) error
}

// MaxClients bounds the connections a Server serves at once; more are
// closed on accept.
const MaxClients = 16

// Server is a Modbus TCP slave: MBAP framing, function codes 1-6, 15, 16.
type Server struct {
	ln     net.Listener
	slaves map[uint8]Slave
	now    func() time.Time
	log    *slog.Logger

	requests atomic.Int64
	wg       sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Listen serves slaves on addr (e.g. 127.0.0.1:5020; port 0 picks one)
// until Close. now and log may be nil.
func Listen(addr string, slaves map[uint8]Slave, now func() time.Time, log *slog.Logger) (*Server, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("modbus-sim: listen on %s: %w", addr, err)
	}
	s := &Server{ln: ln, slaves: slaves, now: now, log: log, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Requests is how many requests the server has answered.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops listening, closes every connection and waits for their
// goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		if s.closed || len(s.conns) >= MaxClients {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// serve answers one connection's requests in order.
func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReader(c)
	hdr := make([]byte, 7)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[4:6]))
		if binary.BigEndian.Uint16(hdr[2:4]) != 0 || n < 2 || n > 254 {
			s.log.Debug("modbus-sim: bad frame header, closing", "remote", c.RemoteAddr().String())
			return
		}
		pdu := make([]byte, n-1)
		if _, err := io.ReadFull(r, pdu); err != nil {
			return
		}
		res := s.handle(hdr[6], pdu)
		if res == nil {
			continue
		}
		out := make([]byte, 7, 7+len(res))
		copy(out, hdr[:4])
		binary.BigEndian.PutUint16(out[4:], uint16(len(res)+1))
		out[6] = hdr[6]
		if _, err := c.Write(append(out, res...)); err != nil {
			return
		}
	}
}

// handle answers one PDU.
func (s *Server) handle(unit byte, pdu []byte) []byte {
	s.requests.Add(1)
	fc := pdu[0]
	fail := func(err error) []byte {
		var ex Exception
		if !errors.As(err, &ex) {
			ex = 0x04 // server device failure
		}
		return []byte{fc | 0x80, byte(ex)}
	}
	sl, ok := s.slaves[unit]
	if !ok {
		return fail(GatewayNoTarget)
	}
	at := s.now()
	if len(pdu) < 5 {
		return fail(IllegalDataValue)
	}
	addr, qty := binary.BigEndian.Uint16(pdu[1:3]), binary.BigEndian.Uint16(pdu[3:5])
	switch fc {
	case 0x01, 0x02:
		if qty < 1 || qty > 2000 || int(addr)+int(qty) > 65536 {
			return fail(IllegalDataValue)
		}
		vals, err := sl.Read(map[byte]modbus.Table{1: modbus.Coil, 2: modbus.DiscreteInput}[fc], addr, qty, at)
		if err != nil {
			return fail(err)
		}
		out := make([]byte, 2+(int(qty)+7)/8)
		out[0], out[1] = fc, byte(len(out)-2)
		for i, v := range vals {
			if v != 0 {
				out[2+i/8] |= 1 << (i % 8)
			}
		}
		return out
	case 0x03, 0x04:
		if qty < 1 || qty > 125 || int(addr)+int(qty) > 65536 {
			return fail(IllegalDataValue)
		}
		vals, err := sl.Read(map[byte]modbus.Table{3: modbus.Holding, 4: modbus.Input}[fc], addr, qty, at)
		if err != nil {
			return fail(err)
		}
		out := []byte{fc, byte(2 * len(vals))}
		for _, v := range vals {
			out = binary.BigEndian.AppendUint16(out, v)
		}
		return out
	case 0x05, 0x06:
		v := qty // the value field
		t := modbus.Holding
		if fc == 0x05 {
			t = modbus.Coil
			switch v {
			case 0xFF00:
				v = 1
			case 0x0000:
			default:
				return fail(IllegalDataValue)
			}
		}
		if err := sl.Write(t, addr, []uint16{v}, at); err != nil {
			return fail(err)
		}
		return append([]byte(nil), pdu[:5]...)
	case 0x0F, 0x10:
		if len(pdu) < 6 || int(pdu[5]) != len(pdu)-6 || qty < 1 {
			return fail(IllegalDataValue)
		}
		data := pdu[6:]
		var vals []uint16
		t := modbus.Holding
		if fc == 0x0F {
			t = modbus.Coil
			if len(data) != (int(qty)+7)/8 {
				return fail(IllegalDataValue)
			}
			for i := range int(qty) {
				vals = append(vals, uint16(data[i/8]>>(i%8)&1))
			}
		} else {
			if len(data) != 2*int(qty) {
				return fail(IllegalDataValue)
			}
			for i := range int(qty) {
				vals = append(vals, binary.BigEndian.Uint16(data[2*i:]))
			}
		}
		if err := sl.Write(t, addr, vals, at); err != nil {
			return fail(err)
		}
		return append([]byte(nil), pdu[:5]...)
	}
	return fail(IllegalFunction)
}
