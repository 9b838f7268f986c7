package sim

import "errors"

// ErrNACK is the cause of every error a simulated I²C bus returns when no
// chip acknowledges: nothing at that address, a chip switched absent with
// SetAbsent, or a chip that has nothing to say (an SHT3x read with no
// measurement pending). A real Linux bus returns EREMOTEIO or ENXIO here.
var ErrNACK = errors.New("no acknowledge from device (NACK)")

// ErrInjected is the cause of the errors FailNext schedules.
var ErrInjected = errors.New("injected bus fault")

// ErrClosed is the cause of the error a bus or port handle returns after
// Close.
var ErrClosed = errors.New("handle is closed")

// ErrNotOnBoard is the cause of the error Board.I2C, SPI, Pin and Chip
// return for a name the board does not have.
var ErrNotOnBoard = errors.New("not on this board")
