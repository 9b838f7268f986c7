package sim

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// maxTxSize is the largest frame a port accepts, as spidev's default
// bufsiz on a Raspberry Pi.
const maxTxSize = 4096

// spiPort is the shared state of one simulated SPI port (a bus and a chip
// select); each Board.SPI call hands out a new SPIPort handle on it.
type spiPort struct {
	name string
	bus  int
	cs   int

	mu       sync.Mutex // held for a whole frame
	chip     spiDevice  // nil: nothing on this chip select, MISO reads zero
	failNext int
}

// frame clocks one chip-select-low period: w out, r in.
func (p *spiPort) frame(w, r []byte) error {
	n := len(w)
	if n == 0 {
		n = len(r)
	}
	switch {
	case n == 0:
		return fmt.Errorf("sim %s: tx: empty buffers", p.name)
	case len(w) != 0 && len(r) != 0 && len(w) != len(r):
		return fmt.Errorf("sim %s: tx: when both w and r are used they must be the same size; got %d and %d bytes", p.name, len(w), len(r))
	case n > maxTxSize:
		return fmt.Errorf("sim %s: tx: maximum length is %d, got %d bytes", p.name, maxTxSize, n)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failNext > 0 {
		p.failNext--
		return fmt.Errorf("sim %s: tx: %w", p.name, ErrInjected)
	}
	if len(r) == 0 {
		r = make([]byte, n)
	}
	clear(r)
	if p.chip == nil {
		return nil
	}
	absent, err := p.chip.faults().admit()
	if err != nil {
		return fmt.Errorf("sim %s: tx %s: %w", p.name, p.chip.Kind(), err)
	}
	if absent {
		return nil
	}
	if len(w) == 0 {
		w = make([]byte, n)
	}
	if err := p.chip.spiTx(w, r); err != nil {
		return fmt.Errorf("sim %s: tx %s: %w", p.name, p.chip.Kind(), err)
	}
	return nil
}

// SPIPort is a handle on a simulated SPI port. It implements
// spi.PortCloser; each Board.SPI call returns a new handle on the same
// port, and each handle may Connect once, as with periph's sysfs-spi.
type SPIPort struct {
	port *spiPort

	mu        sync.Mutex
	closed    bool
	connected bool
	limit     physic.Frequency
}

// String returns the port name, such as spi0.0.
func (h *SPIPort) String() string { return h.port.name }

// Connect returns the connection a device driver uses. The chips modelled
// work in Mode0 and Mode3 with 8 bits per word; f is recorded, not
// enforced, but must be 0 or between 100Hz and 1GHz as on Linux.
func (h *SPIPort) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return nil, fmt.Errorf("sim %s: connect: %w", h.port.name, ErrClosed)
	case h.connected:
		return nil, fmt.Errorf("sim %s: connect: Connect can only be called once per port handle", h.port.name)
	case f < 0 || (f > 0 && f < 100*physic.Hertz) || f > physic.GigaHertz:
		return nil, fmt.Errorf("sim %s: connect: invalid speed %s, use 100Hz–1GHz (did you forget physic.MegaHertz?)", h.port.name, f)
	case bits != 8:
		return nil, fmt.Errorf("sim %s: connect: %d bits per word, the simulated chips use 8", h.port.name, bits)
	case mode&^spi.Mode3 != 0:
		return nil, fmt.Errorf("sim %s: connect: mode %s is not supported, use Mode0 or Mode3 without flags", h.port.name, mode)
	case mode != spi.Mode0 && mode != spi.Mode3 && h.port.chip != nil:
		return nil, fmt.Errorf("sim %s: connect: %s supports Mode0 and Mode3, not %s", h.port.name, h.port.chip.Kind(), mode)
	}
	h.connected = true
	speed := f
	if h.limit != 0 && (speed == 0 || h.limit < speed) {
		speed = h.limit
	}
	return &SPIConn{h: h, speed: speed, mode: mode}, nil
}

// LimitSpeed records the port's maximum clock.
func (h *SPIPort) LimitSpeed(f physic.Frequency) error {
	if f <= 0 {
		return fmt.Errorf("sim %s: limit speed %s: must be positive", h.port.name, f)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.limit = f
	return nil
}

// FailNext makes the next n frames on the port fail with an error wrapping
// ErrInjected.
func (h *SPIPort) FailNext(n int) {
	h.port.mu.Lock()
	defer h.port.mu.Unlock()
	h.port.failNext = max(n, 0)
}

// Close closes this handle and its connection; later transactions fail
// with ErrClosed. Closing twice is not an error.
func (h *SPIPort) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	return nil
}

func (h *SPIPort) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// SPIConn is a connection on a simulated SPI port. It implements spi.Conn
// and conn.Limits.
type SPIConn struct {
	h     *SPIPort
	speed physic.Frequency
	mode  spi.Mode
}

// String returns the port name.
func (c *SPIConn) String() string { return c.h.port.name }

// Duplex returns conn.Full.
func (c *SPIConn) Duplex() conn.Duplex { return conn.Full }

// MaxTxSize returns the largest frame accepted, 4096 bytes.
func (c *SPIConn) MaxTxSize() int { return maxTxSize }

// Speed returns the clock the connection runs at: the lower of the speed
// given to Connect and the port's limit, 0 when neither was set.
func (c *SPIConn) Speed() physic.Frequency { return c.speed }

// Mode returns the mode given to Connect.
func (c *SPIConn) Mode() spi.Mode { return c.mode }

// Tx clocks one frame: w out and r in, with chip select held for the whole
// frame. When both are given they must be the same length.
func (c *SPIConn) Tx(w, r []byte) error {
	if c.h.isClosed() {
		return fmt.Errorf("sim %s: tx: %w", c.h.port.name, ErrClosed)
	}
	return c.h.port.frame(w, r)
}

// TxPackets clocks packets; consecutive packets with KeepCS form one
// frame, as chip select stays low between them. The last packet always
// ends its frame.
func (c *SPIConn) TxPackets(pkts []spi.Packet) error {
	var w, r []byte
	var dst []spi.Packet // the packets of the current frame
	for i, p := range pkts {
		if len(p.W) != 0 && len(p.R) != 0 && len(p.W) != len(p.R) {
			return fmt.Errorf("sim %s: tx packet %d: when both w and r are used they must be the same size; got %d and %d bytes", c.h.port.name, i, len(p.W), len(p.R))
		}
		n := max(len(p.W), len(p.R))
		w = append(w, p.W...)
		w = append(w, make([]byte, n-len(p.W))...)
		dst = append(dst, p)
		if p.KeepCS && i != len(pkts)-1 {
			continue
		}
		r = make([]byte, len(w))
		if err := c.Tx(w, r); err != nil {
			return err
		}
		off := 0
		for _, d := range dst {
			copy(d.R, r[off:])
			off += max(len(d.W), len(d.R))
		}
		w, dst = nil, nil
	}
	return nil
}

var (
	_ spi.PortCloser = (*SPIPort)(nil)
	_ spi.Conn       = (*SPIConn)(nil)
	_ conn.Limits    = (*SPIConn)(nil)
)
