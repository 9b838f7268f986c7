package sim

import (
	"fmt"
	"sync"
	"sync/atomic"

	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
)

// i2cBus is the shared state of one simulated I²C bus; each Board.I2C call
// hands out a new I2CBus handle on it.
type i2cBus struct {
	name   string
	number int

	mu       sync.Mutex // held for a whole transaction, as a real bus is
	chips    map[uint16]i2cDevice
	failNext int
	speed    physic.Frequency
}

func newI2CBus(name string, number int) *i2cBus {
	return &i2cBus{name: name, number: number, chips: map[uint16]i2cDevice{}, speed: 100 * physic.KiloHertz}
}

func (b *i2cBus) tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failNext > 0 {
		b.failNext--
		return fmt.Errorf("sim %s: tx %#02x: %w", b.name, addr, ErrInjected)
	}
	if addr == 0 {
		return b.generalCall(w, r)
	}
	c, ok := b.chips[addr]
	if !ok {
		return fmt.Errorf("sim %s: tx %#02x: nothing at this address: %w", b.name, addr, ErrNACK)
	}
	absent, err := c.faults().admit()
	if absent {
		return fmt.Errorf("sim %s: tx %s@%#02x: chip is absent: %w", b.name, c.Kind(), addr, ErrNACK)
	}
	if err == nil {
		err = c.i2cTx(w, r)
	}
	if err != nil {
		return fmt.Errorf("sim %s: tx %s@%#02x: %w", b.name, c.Kind(), addr, err)
	}
	return nil
}

// generalCall delivers a write to address 0x00 to every present chip that
// answers it; with none, nobody acknowledges.
func (b *i2cBus) generalCall(w, r []byte) error {
	if len(r) != 0 {
		return fmt.Errorf("sim %s: general call: reads are not allowed: %w", b.name, ErrNACK)
	}
	acked := false
	for _, c := range b.chips {
		g, ok := c.(generalCaller)
		if !ok {
			continue
		}
		if absent, _ := c.faults().admit(); absent {
			continue
		}
		g.generalCall(w)
		acked = true
	}
	if !acked {
		return fmt.Errorf("sim %s: general call: %w", b.name, ErrNACK)
	}
	return nil
}

// I2CBus is a handle on a simulated I²C bus. It implements i2c.BusCloser;
// each Board.I2C call (and each i2creg.Open once registered) returns a new
// handle on the same bus, so closing one leaves the others working.
type I2CBus struct {
	bus    *i2cBus
	closed atomic.Bool
}

// String returns the bus name, such as i2c1.
func (h *I2CBus) String() string { return h.bus.name }

// Tx writes w then reads r at addr, in one transaction with a repeated
// start. An address with no present chip fails with ErrNACK.
func (h *I2CBus) Tx(addr uint16, w, r []byte) error {
	if h.closed.Load() {
		return fmt.Errorf("sim %s: tx %#02x: %w", h.bus.name, addr, ErrClosed)
	}
	return h.bus.tx(addr, w, r)
}

// SetSpeed records the bus clock; the simulation runs at any speed.
func (h *I2CBus) SetSpeed(f physic.Frequency) error {
	if f <= 0 {
		return fmt.Errorf("sim %s: set speed %s: must be positive", h.bus.name, f)
	}
	h.bus.mu.Lock()
	defer h.bus.mu.Unlock()
	h.bus.speed = f
	return nil
}

// Speed returns the clock last set with SetSpeed; default 100kHz.
func (h *I2CBus) Speed() physic.Frequency {
	h.bus.mu.Lock()
	defer h.bus.mu.Unlock()
	return h.bus.speed
}

// FailNext makes the next n transactions on the bus fail with an error
// wrapping ErrInjected, whatever their address.
func (h *I2CBus) FailNext(n int) {
	h.bus.mu.Lock()
	defer h.bus.mu.Unlock()
	h.bus.failNext = max(n, 0)
}

// Close closes this handle; later Tx calls on it fail with ErrClosed.
// Closing twice is not an error.
func (h *I2CBus) Close() error {
	h.closed.Store(true)
	return nil
}

var _ i2c.BusCloser = (*I2CBus)(nil)
