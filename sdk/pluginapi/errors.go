package pluginapi

import "errors"

// Sentinel errors. Errors from this package wrap them (test with errors.Is)
// together with the operation, the service and the cause.
var (
	// ErrClosed is returned by a Conn that Close or Kill has stopped.
	ErrClosed = errors.New("connection closed")

	// ErrSessionEnded is returned when the session stream is gone: the
	// service exited, the connection broke, or the session was drained.
	ErrSessionEnded = errors.New("session ended")

	// ErrExited says the service process has exited.
	ErrExited = errors.New("service exited")

	// ErrChecksumMismatch is returned by Launch when the executable's sha256
	// is not LaunchConfig.SecureChecksum; the process is never started.
	ErrChecksumMismatch = errors.New("executable checksum mismatch")

	// ErrProtocol is returned when a peer breaks the session protocol (for
	// example sends more batches than it was granted credit for).
	ErrProtocol = errors.New("plugin protocol violation")
)
