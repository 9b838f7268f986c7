package bme280

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// Registers the guard watches.
const (
	regStatus = 0xF3 // bit 3: measuring
	regData   = 0xF7 // press_msb … hum_lsb, read in one burst
)

// Status polling limits: bmxx80 polls regStatus in a loop of its own.
const (
	pollInterval = time.Millisecond
	maxPolls     = 100
)

// guard sits between bmxx80 and the bus for one device. It paces and
// bounds bmxx80's status polls, refuses bus traffic once the current Read's
// context has ended, remembers the first error of a measurement with its
// chain intact (bmxx80 formats errors with %v) and keeps the raw data burst
// so that Read can check it.
type guard struct {
	sleep func(time.Duration) // tests replace it

	mu    sync.Mutex
	gen   uint64 // counts measurements
	abort error  // the Read's context error once it ends
	polls int    // status reads in this measurement
	err   error  // the first error of this measurement
	raw   []byte
}

// begin starts a measurement and returns its number.
func (g *guard) begin() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen++
	g.abort, g.polls, g.err, g.raw = nil, 0, nil, g.raw[:0]
	return g.gen
}

// cancel makes the rest of measurement gen's transactions fail with err;
// it does nothing once a later measurement has begun.
func (g *guard) cancel(gen uint64, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen == g.gen {
		g.abort = err
	}
}

// cause returns the first error of the measurement, or fallback.
func (g *guard) cause(fallback error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return g.err
	}
	return fallback
}

// data returns the raw data burst of the measurement, nil if none.
func (g *guard) data() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.raw) == 0 {
		return nil
	}
	return append([]byte(nil), g.raw...)
}

// errStillMeasuring is the cause when the chip never reports idle.
var errStillMeasuring = fmt.Errorf("still measuring after %d status reads %s apart", maxPolls, pollInterval)

// tx runs do, a transaction that reads register reg into data (reg 0 for
// a write), under the guard's rules.
func (g *guard) tx(reg byte, data []byte, do func() error) error {
	g.mu.Lock()
	err := g.abort
	if err == nil && reg == regStatus {
		g.polls++
		if g.polls > maxPolls {
			err = errStillMeasuring
		}
	}
	pace := err == nil && reg == regStatus && g.polls > 1
	if err != nil && g.err == nil {
		g.err = err
	}
	g.mu.Unlock()
	if err != nil {
		return err
	}
	if pace {
		g.sleep(pollInterval)
		g.mu.Lock()
		err = g.abort
		if err != nil && g.err == nil {
			g.err = err
		}
		g.mu.Unlock()
		if err != nil {
			return err
		}
	}
	err = do()
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case err != nil && g.err == nil:
		g.err = err
	case err == nil && reg == regData:
		g.raw = append(g.raw[:0], data...)
	}
	return err
}

// guardBus is an i2c.Bus that runs every transaction through a guard.
// bmxx80 reads a register by writing its address and reading after a
// repeated start.
type guardBus struct {
	i2c.Bus
	g *guard
}

// Tx runs one bus transaction through the guard.
func (b *guardBus) Tx(addr uint16, w, r []byte) error {
	var reg byte
	if len(w) == 1 && len(r) > 0 {
		reg = w[0]
	}
	return b.g.tx(reg, r, func() error { return b.Bus.Tx(addr, w, r) })
}

// guardPort is an spi.Port whose connection runs every transaction through
// a guard.
type guardPort struct {
	spi.Port
	g *guard
}

// Connect connects the port and guards the connection.
func (p *guardPort) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	c, err := p.Port.Connect(f, mode, bits)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, errors.New("port returned no connection")
	}
	return &guardConn{Conn: c, g: p.g}, nil
}

// guardConn is the guarded connection. bmxx80 reads a register over SPI
// with one full-duplex frame: the address byte, then the data.
type guardConn struct {
	spi.Conn
	g *guard
}

// Tx runs one SPI frame through the guard.
func (c *guardConn) Tx(w, r []byte) error {
	var reg byte
	var data []byte
	if len(r) > 1 && len(w) == len(r) {
		reg, data = w[0], r[1:]
	}
	return c.g.tx(reg, data, func() error { return c.Conn.Tx(w, r) })
}
