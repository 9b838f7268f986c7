package broker

import (
	"errors"
	"fmt"
)

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("broker: closed")

// ErrBusy is what a Handler gives done when it cannot take a message now
// (its queue is full); the QoS 0 message is dropped and counted.
var ErrBusy = errors.New("broker: busy")

// MQTT 5 reason codes a Handler may put in a Declined.
const (
	// CodeSuccess acknowledges a message of which part was taken.
	CodeSuccess byte = 0x00
	// CodeImplementationSpecific (0x83): the publish is valid but the
	// receiver is not willing to accept it (a time outside the accepted
	// window).
	CodeImplementationSpecific byte = 0x83
	// CodePayloadFormatInvalid (0x99): the payload cannot be taken as it is
	// written (malformed, or a time the store cannot hold).
	CodePayloadFormatInvalid byte = 0x99
)

// Declined is what a Handler gives done for a message it acknowledges
// although it took only part of it, or nothing: sending it again would not
// help (a malformed payload, a reading time outside the accepted window).
// The client is never disconnected for it. An MQTT 5 client gets Code in
// its PUBACK (QoS 1) or PUBREC (QoS 2), with Reason as the reason string
// and, when Refused > 0, the user property edged-refused=<Refused>; a 3.1.1
// client, whose acks carry no reason, gets a plain one. A message declined
// with a Code of 0x80 or more (nothing taken) is not delivered to local
// subscribers; one with CodeSuccess (part taken) is.
type Declined struct {
	Code    byte
	Reason  string
	Refused int // readings (or parts) of the message refused
}

func (d *Declined) Error() string {
	return fmt.Sprintf("declined with reason 0x%02x: %s", d.Code, d.Reason)
}

// RefusedProperty is the MQTT 5 user property of a Declined ack that
// counts what was refused.
const RefusedProperty = "edged-refused"
