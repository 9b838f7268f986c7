package mqttsensor

import "errors"

// ErrNoMatch is wrapped by Decode's error when the topic does not match the
// sensor's pattern: the message was routed to the wrong sensor, which is a
// wiring problem rather than a malformed payload.
var ErrNoMatch = errors.New("topic does not match the pattern")
