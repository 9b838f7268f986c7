package planstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// Sentinel errors. Errors returned by this package wrap one of these (or the
// underlying cause, such as a *fs.PathError) with %w and name the operation
// and the file; match them with errors.Is.
var (
	// ErrClosed is wrapped by every operation on a closed Store.
	ErrClosed = errors.New("plan store closed")
	// ErrLocked is wrapped by Open when the file is held by another
	// process, or by another Store in this one.
	ErrLocked = errors.New("locked by another process (is another edged running on this data_dir?)")
	// ErrCorrupt is wrapped when the file is not a readable plan store:
	// bbolt rejects it, faults or panics reading it, or its buckets or
	// records are missing or malformed.
	ErrCorrupt = errors.New("plan store file is corrupt")
	// ErrInvalid is wrapped by SetApplied for a Record that fails
	// Record.Validate and by SetAttempted for a version below 1.
	ErrInvalid = errors.New("invalid")
)

// errUnchanged rolls back a write transaction that has nothing to write.
var errUnchanged = errors.New("unchanged")

// corruptError marks damage to the file. Its message carries the cause;
// Unwrap gives both ErrCorrupt and the cause.
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
		return &corruptError{cause: fmt.Errorf("panic: %w", hide(err))}
	}
	return &corruptError{cause: fmt.Errorf("panic: %v", r)}
}

// classifyOpenErr turns an error from bbolt.Open into ours: a lock timeout
// is ErrLocked, permission and operating-system errors are returned as
// they are, anything bbolt itself rejects (bad magic, checksum, version, a
// file too small) is corruption.
func classifyOpenErr(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("%w: gave up waiting after %s", ErrLocked, timeout)
	case isOS(err):
		return err
	default:
		return &corruptError{cause: hide(err)}
	}
}

// hide keeps errors from the operating system and from this package, and
// reduces anything else (bbolt's error values) to its text, so callers
// cannot come to depend on bbolt's errors.
func hide(err error) error {
	if err == nil || isOS(err) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrClosed) ||
		errors.Is(err, ErrLocked) || errors.Is(err, ErrInvalid) {
		return err
	}
	return errors.New(err.Error())
}

// isOS reports whether err comes from the operating system: a path or
// syscall error, or an errno.
func isOS(err error) bool {
	_, path := errors.AsType[*fs.PathError](err)
	_, sys := errors.AsType[*os.SyscallError](err)
	_, errno := errors.AsType[syscall.Errno](err)
	return path || sys || errno
}
