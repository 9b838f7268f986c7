package hardware

import "errors"

// ErrNotFound is what a *NotFoundError is, for errors.Is: the host has no
// bus or pin of the name asked for.
var ErrNotFound = errors.New("not found")

// NotFoundError says that the host has no such bus or pin, and how to give
// it one. Its text is "<name> not found: <fix>".
type NotFoundError struct {
	// Name is the name asked for, such as i2c1.
	Name string
	// Fix says how to enable it, such as "enable I2C (raspi-config …) and
	// check /dev/i2c-1".
	Fix string
}

// Error returns "<name> not found: <fix>".
func (e *NotFoundError) Error() string { return e.Name + " not found: " + e.Fix }

// Is reports whether target is ErrNotFound.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }
