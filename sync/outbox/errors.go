package outbox

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	berrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors. Errors returned by this package wrap one of these (or the
// underlying cause, such as a *fs.PathError or a context error) with %w and
// name the operation and the object; match them with errors.Is.
var (
	// ErrClosed is wrapped by every operation on a closed Outbox.
	ErrClosed = errors.New("outbox closed")
	// ErrLocked is wrapped by Open when another process holds the file.
	ErrLocked = errors.New("locked by another process (is edged already running?)")
	// ErrCorrupt is wrapped when the file is unreadable. Open moves such a
	// file aside and starts afresh; later reads and writes that find
	// damage return it.
	ErrCorrupt = errors.New("database file is corrupt")
	// ErrInvalidReading is wrapped by Append when a reading cannot be
	// stored (a device, metric, unit or source name too long, a time
	// outside 1678–2262).
	ErrInvalidReading = errors.New("invalid reading")
	// ErrFailed is wrapped by Append and Ack after a commit failed in a
	// way that makes the file untrustworthy until it is opened again
	// (see Outbox.Failed).
	ErrFailed = errors.New("outbox stopped after a failed commit; reopen it (restart edged)")
)

// Record decoding errors; callers wrap them with the seq.
var (
	errShort   = errors.New("record truncated")
	errVersion = errors.New("unknown record version")
	errTrail   = errors.New("trailing bytes after record")
)

// corruptError marks an open error as damage to the file (as opposed to a
// lock, permission or I/O problem), so Open moves the file aside. Its
// message carries the cause; Unwrap gives both ErrCorrupt and the cause.
type corruptError struct {
	cause error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("%v: %v", ErrCorrupt, e.cause)
}

func (e *corruptError) Unwrap() []error { return []error{ErrCorrupt, e.cause} }

// corruptf returns a *corruptError with a formatted cause.
func corruptf(format string, args ...any) error {
	return &corruptError{cause: fmt.Errorf(format, args...)}
}

// panicError turns a value recovered from a panic (bbolt panics on some
// inconsistencies; a truncated file faults on mmap access) into an error.
func panicError(r any) error {
	if err, ok := r.(error); ok {
		return &corruptError{cause: fmt.Errorf("panic: %w", err)}
	}
	return &corruptError{cause: fmt.Errorf("panic: %v", r)}
}

// classifyOpenErr turns an error from bbolt.Open into ours: lock, permission
// and operating-system errors are returned; anything bbolt itself rejects
// (bad magic, checksum, version, a file too small) is corruption.
func classifyOpenErr(path string, err error) error {
	_, isPath := errors.AsType[*fs.PathError](err)
	_, isErrno := errors.AsType[syscall.Errno](err)
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("outbox: open %s: %w", path, ErrLocked)
	case errors.Is(err, fs.ErrPermission), isPath, isErrno:
		return fmt.Errorf("outbox: open %s: %w", path, err)
	default:
		return fmt.Errorf("outbox: open %s: %w", path, &corruptError{cause: err})
	}
}
