package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// fileMode is the mode SetPassword and DeleteUser give the password file.
const fileMode = 0o600

// SetPassword sets user's password in the password file at path, creating
// the file if need be. It replaces the user's line (and drops any later
// duplicates of it) or appends one, and keeps every other line, comments
// and lines it cannot parse included, as it was. cost is the bcrypt cost;
// 0 means bcrypt.DefaultCost. The file is replaced atomically with mode
// 0600 and the owner it had.
func SetPassword(path, user, password string, cost int) error {
	op := fmt.Sprintf("auth: set password of user %q in %s", user, path)
	if err := validateUser(user); err != nil {
		return fmt.Errorf("%s: the name %w", op, err)
	}
	switch {
	case password == "":
		return fmt.Errorf("%s: the password is empty", op)
	case len(password) > maxPasswordLen:
		return fmt.Errorf("%s: the password is %d bytes long, bcrypt uses at most %d", op, len(password), maxPasswordLen)
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return fmt.Errorf("%s: bcrypt cost %d is outside %d..%d", op, cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	entry := user + ":" + string(hash)
	err = rewrite(path, true, func(lines []string) ([]string, error) {
		out := make([]string, 0, len(lines)+1)
		done := false
		for _, l := range lines {
			if lineUser(l) != user {
				out = append(out, l)
			} else if !done {
				out = append(out, entry)
				done = true
			}
		}
		if !done {
			out = append(out, entry)
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// DeleteUser removes user's lines from the password file at path, keeping
// every other line as it was. It returns an error wrapping ErrNoUser when
// the file has no such user.
func DeleteUser(path, user string) error {
	if user == "" {
		return fmt.Errorf("auth: delete user from %s: the name is empty", path)
	}
	err := rewrite(path, false, func(lines []string) ([]string, error) {
		out := make([]string, 0, len(lines))
		for _, l := range lines {
			if lineUser(l) != user {
				out = append(out, l)
			}
		}
		if len(out) == len(lines) {
			return nil, ErrNoUser
		}
		return out, nil
	})
	if err != nil {
		return fmt.Errorf("auth: delete user %q from %s: %w", user, path, err)
	}
	return nil
}

// lineUser is the user a line of the password file is for, or "" for a
// comment, a blank line or a line without a colon.
func lineUser(line string) string {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "#") {
		return ""
	}
	user, _, ok := strings.Cut(line, ":")
	if !ok {
		return ""
	}
	return user
}

// rewrite replaces the file at path with edit's version of its lines,
// atomically: a temporary file in the same directory is written, synced,
// given the old file's owner and renamed over the old one, and the
// directory is synced. Other rewrites of files in that directory wait
// (where the OS allows locking it). With create, a missing file is
// treated as empty.
func rewrite(path string, create bool, edit func(lines []string) ([]string, error)) (err error) {
	dir := filepath.Dir(path)
	unlock, err := lockDir(dir)
	if err != nil {
		return err
	}
	defer unlock()

	data, err := os.ReadFile(path)
	var old fs.FileInfo
	switch {
	case err == nil:
		if old, err = os.Stat(path); err != nil {
			return err
		}
	case create && errors.Is(err, fs.ErrNotExist):
	default:
		return err
	}
	var lines []string
	if text := strings.TrimSuffix(string(data), "\n"); len(data) > 0 {
		lines = strings.Split(text, "\n")
	}
	lines, err = edit(lines)
	if err != nil {
		return err
	}
	var text string
	if len(lines) > 0 {
		text = strings.Join(lines, "\n") + "\n"
	}

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(fileMode); err != nil {
		return err
	}
	if old != nil {
		if err = keepOwner(tmp, old); err != nil {
			return err
		}
	}
	if _, err = tmp.WriteString(text); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
