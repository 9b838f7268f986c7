//go:build !linux

package auth

import (
	"io/fs"
	"os"
)

// lockDir does nothing here: concurrent rewrites of one password file may
// lose one another's change (edged's targets are Linux).
func lockDir(string) (unlock func(), err error) { return func() {}, nil }

// syncDir does nothing here: directories cannot be synced portably.
func syncDir(string) error { return nil }

// keepOwner does nothing here.
func keepOwner(*os.File, fs.FileInfo) error { return nil }
