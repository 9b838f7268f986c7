package uplink

import (
	"errors"
	"io"
	"net"
)

// Sentinel errors. Errors returned by this package wrap one of these and, where
// there is one, the underlying cause with %w, and name the operation and the
// object; match them with errors.Is.
var (
	// ErrNotConnected is wrapped by Publish when there is no connection to
	// the broker at the moment of the call.
	ErrNotConnected = errors.New("not connected")
	// ErrConnectionLost is wrapped by a Delivery's error when the
	// connection ended before the broker acknowledged the message. The
	// message may or may not have reached the broker; publish it again.
	ErrConnectionLost = errors.New("connection lost")
	// ErrClosed is wrapped when Run has returned (or is returning) and by
	// a second call to Run.
	ErrClosed = errors.New("client closed")
)

// errSubscribeRejected marks a SUBACK with the failure return code 0x80.
var errSubscribeRejected = errors.New("rejected by the broker")

// plainError keeps paho's error values from leaking out of the package: a
// standard library network cause (a net.Error, io.EOF) found inside err is
// returned as is, anything else becomes a new error with the same text.
func plainError(err error) error {
	if err == nil {
		return nil
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne):
		return ne
	case errors.Is(err, io.EOF):
		return io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return io.ErrUnexpectedEOF
	}
	return errors.New(err.Error())
}
