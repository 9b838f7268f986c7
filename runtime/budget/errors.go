package budget

import "errors"

// Sentinel errors. Callers match them with errors.Is; the errors returned
// wrap them with the operation and the object.
var (
	// ErrUnsupported is returned on systems where budgets cannot be
	// enforced at all (anything but Linux).
	ErrUnsupported = errors.New("budgets need Linux (cgroups or /proc and rlimits)")
	// ErrClosed is returned by Apply after the Manager was closed.
	ErrClosed = errors.New("budget manager closed")
	// ErrExists is returned by Apply for a service that already has an
	// open group; Close the old one first.
	ErrExists = errors.New("service already has a budget group")
)
