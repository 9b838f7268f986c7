package broker

import "errors"

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("broker: closed")

// ErrBusy is what a Handler gives done when it cannot take a message now
// (its queue is full); the QoS 0 message is dropped and counted.
var ErrBusy = errors.New("broker: busy")
