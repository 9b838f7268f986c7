package modbus

import (
	"errors"
	"fmt"
	"net"
	"os"

	mb "github.com/simonvetter/modbus"
)

// ExceptionError is a Modbus exception response: the slave understood the
// request and refused it.
type ExceptionError struct {
	Code  byte
	Table Table
	Addr  uint16
	Count int
}

// exceptionMeanings are the spec's names for the exception codes.
var exceptionMeanings = map[byte]string{
	0x01: "illegal function",
	0x02: "illegal data address",
	0x03: "illegal data value",
	0x04: "server device failure",
	0x05: "acknowledge",
	0x06: "server device busy",
	0x08: "memory parity error",
	0x0a: "gateway path unavailable",
	0x0b: "gateway target device failed to respond",
}

func (e *ExceptionError) Error() string {
	what := "register"
	if e.Table.bits() {
		what = "bit"
	}
	if e.Count != 1 {
		what += "s"
	}
	meaning := exceptionMeanings[e.Code]
	if meaning == "" {
		meaning = "unknown exception"
	}
	return fmt.Sprintf("exception 0x%02x %s at %s (address %d, %d %s)", e.Code, meaning, e.Table.ref(e.Addr), e.Addr, e.Count, what)
}

// libExceptions maps the library's exception errors back to their codes.
var libExceptions = map[mb.Error]byte{
	mb.ErrIllegalFunction:         0x01,
	mb.ErrIllegalDataAddress:      0x02,
	mb.ErrIllegalDataValue:        0x03,
	mb.ErrServerDeviceFailure:     0x04,
	mb.ErrAcknowledge:             0x05,
	mb.ErrServerDeviceBusy:        0x06,
	mb.ErrMemoryParityError:       0x08,
	mb.ErrGWPathUnavailable:       0x0a,
	mb.ErrGWTargetFailedToRespond: 0x0b,
}

// failure is the class of a failed transaction, which decides what is
// counted and whether the connection is closed.
type failure int

const (
	failNone       failure = iota
	failException          // the slave answered with an exception
	failTimeout            // no answer in time
	failCRC                // a frame with a bad CRC
	failProtocol           // a malformed or mismatched answer
	failConnection         // the connection broke or would not open
)

// classify sorts a library error.
func classify(err error) failure {
	if err == nil {
		return failNone
	}
	var me mb.Error
	if errors.As(err, &me) {
		if _, ok := libExceptions[me]; ok {
			return failException
		}
		switch me {
		case mb.ErrRequestTimedOut:
			return failTimeout
		case mb.ErrBadCRC:
			return failCRC
		case mb.ErrShortFrame, mb.ErrProtocolError, mb.ErrBadUnitId, mb.ErrBadTransactionId, mb.ErrUnknownProtocolId, mb.ErrUnexpectedParameters:
			return failProtocol
		}
	}
	var ex *ExceptionError
	if errors.As(err, &ex) {
		return failException
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || os.IsTimeout(err) {
		return failTimeout
	}
	return failConnection
}

// describe turns a library error for a request at table/addr/count into
// one that says what happened where.
func describe(err error, t Table, addr uint16, count int, timeout fmt.Stringer) error {
	var me mb.Error
	if errors.As(err, &me) {
		if code, ok := libExceptions[me]; ok {
			return &ExceptionError{Code: code, Table: t, Addr: addr, Count: count}
		}
	}
	switch classify(err) {
	case failTimeout:
		return fmt.Errorf("no answer within %s at %s: %w", timeout, t.ref(addr), err)
	case failCRC:
		return fmt.Errorf("CRC error in the answer for %s (noise, wiring or a second master on the bus): %w", t.ref(addr), err)
	case failProtocol:
		return fmt.Errorf("malformed answer for %s: %w", t.ref(addr), err)
	}
	return fmt.Errorf("connection lost at %s: %w", t.ref(addr), err)
}
