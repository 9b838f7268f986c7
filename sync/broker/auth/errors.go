package auth

import "errors"

// ErrNoUser is returned by DeleteUser when the password file has no such
// user.
var ErrNoUser = errors.New("no such user")
