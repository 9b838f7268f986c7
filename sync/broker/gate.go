package broker

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// gate is the net.Listener under each of the broker's listeners. It holds
// the limits that must act before mochi sees a connection: the number of
// connections open at once (in all and per source address), and the time a
// new connection has to send its CONNECT. mochi sets its own deadline from
// the keep-alive once it has read the CONNECT, replacing this one.
//
// Accept also waits until the broker is ready (its retained messages are
// counted), so no client publishes before the limits know the store.
type gate struct {
	net.Listener
	max, perAddr int
	timeout      time.Duration
	ready        <-chan struct{}
	done         chan struct{}
	closeOnce    sync.Once
	counts       *gateCounts

	mu     sync.Mutex
	conns  map[*gatedConn]struct{}
	byAddr map[string]int
}

// gateCounts are what the limits refused; shared by the broker's listeners.
type gateCounts struct {
	overTotal, overAddr, connectTimeout, tooLarge atomic.Uint64
}

func newGate(l net.Listener, lim Limits, ready <-chan struct{}, counts *gateCounts) *gate {
	return &gate{Listener: l, max: lim.MaxConnections, perAddr: lim.MaxConnectionsPerAddress, timeout: lim.ConnectTimeout,
		ready: ready, done: make(chan struct{}), counts: counts, byAddr: map[string]int{}, conns: map[*gatedConn]struct{}{}}
}

// Accept returns the next connection within the limits; the others are
// closed here and counted.
func (g *gate) Accept() (net.Conn, error) {
	select {
	case <-g.ready:
	case <-g.done:
		return nil, net.ErrClosed
	}
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return nil, err
		}
		gc := &gatedConn{Conn: c, g: g, host: remoteHost(c.RemoteAddr())}
		if !g.admit(gc) {
			_ = c.Close()
			continue
		}
		_ = c.SetDeadline(time.Now().Add(g.timeout))
		return gc, nil
	}
}

func (g *gate) admit(c *gatedConn) bool {
	host := c.host
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case len(g.conns) >= g.max:
		g.counts.overTotal.Add(1)
		return false
	case g.byAddr[host] >= g.perAddr:
		g.counts.overAddr.Add(1)
		return false
	}
	g.conns[c] = struct{}{}
	g.byAddr[host]++
	return true
}

func (g *gate) release(c *gatedConn) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.conns, c)
	if g.byAddr[c.host]--; g.byAddr[c.host] <= 0 {
		delete(g.byAddr, c.host)
	}
}

// closeConns closes every connection still open, such as one that has not
// sent its CONNECT yet, so that the server's Close does not wait on it.
func (g *gate) closeConns() {
	g.mu.Lock()
	open := make([]*gatedConn, 0, len(g.conns))
	for c := range g.conns {
		open = append(open, c)
	}
	g.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// Close stops Accept, also one waiting for the broker to be ready.
func (g *gate) Close() error {
	g.closeOnce.Do(func() { close(g.done) })
	return g.Listener.Close()
}

// gatedConn gives its place back to the gate when closed.
type gatedConn struct {
	net.Conn
	g    *gate
	host string
	once sync.Once
}

func (c *gatedConn) Close() error {
	c.once.Do(func() { c.g.release(c) })
	return c.Conn.Close()
}

// remoteHost is the IP of a remote address, so that reconnects from new
// ports count as the same source.
func remoteHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// guard wraps each accepted connection (above TLS, where the bytes are
// MQTT) in a guardedConn.
type guard struct {
	net.Listener
	maxPacket int64
	counts    *gateCounts
}

func (g guard) Accept() (net.Conn, error) {
	c, err := g.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &guardedConn{Conn: c, max: g.maxPacket, counts: g.counts}, nil
}

// errPacketTooLarge is what mochi reads from a connection whose client
// declared a packet over the limit; the connection is closed.
var errPacketTooLarge = errors.New("broker: packet over limits.max_packet_size")

// guardedConn follows the MQTT framing of what the client sends: it reads
// each packet's fixed header as it passes and closes the connection as soon
// as a declared length is over the limit, before mochi reads the header and
// sets memory aside for the body. It also tells a connection that timed out
// before its first packet (CONNECT) was complete.
type guardedConn struct {
	net.Conn
	max    int64
	counts *gateCounts

	// Read is called by one goroutine at a time (mochi's reader).
	state     int   // 0 type byte, 1 length bytes, 2 body, 3 stopped
	length    int64 // declared remaining length so far
	mult      int64
	lenBytes  int
	remaining int64
	packets   int // complete packets read
	failed    bool
}

func (c *guardedConn) Read(p []byte) (int, error) {
	if c.failed {
		return 0, errPacketTooLarge
	}
	n, err := c.Conn.Read(p)
	if err != nil && c.packets == 0 {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.counts.connectTimeout.Add(1)
		}
	}
	if !c.scan(p[:n]) {
		c.failed = true
		c.counts.tooLarge.Add(1)
		_ = c.Conn.Close()
		return 0, errPacketTooLarge
	}
	return n, err
}

// scan follows the framing over b; false means a declared packet is over
// the limit.
func (c *guardedConn) scan(b []byte) bool {
	for len(b) > 0 {
		switch c.state {
		case 0:
			c.state, c.length, c.mult, c.lenBytes = 1, 0, 1, 0
			b = b[1:]
		case 1:
			v := b[0]
			b = b[1:]
			c.length += int64(v&127) * c.mult
			c.mult *= 128
			c.lenBytes++
			if v&128 != 0 {
				if c.lenBytes == 4 {
					c.state = 3 // malformed: mochi refuses it
				}
				continue
			}
			if 1+int64(c.lenBytes)+c.length > c.max {
				return false
			}
			c.remaining, c.state = c.length, 2
			if c.remaining == 0 {
				c.state = 0
				c.packets++
			}
		case 2:
			k := min(int64(len(b)), c.remaining)
			b, c.remaining = b[k:], c.remaining-k
			if c.remaining == 0 {
				c.state = 0
				c.packets++
			}
		case 3:
			return true
		}
	}
	return true
}
