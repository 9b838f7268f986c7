package auth

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// maxUserLen is the longest username the password file may hold.
const maxUserLen = 64

// maxPasswordLen is the most of a password bcrypt looks at.
const maxPasswordLen = 72

// Passwords is a loaded password file: users and their bcrypt hashes. It is
// read-only once loaded and safe for concurrent use. A nil *Passwords has
// no users.
type Passwords struct {
	hashes    map[string][]byte
	mosquitto map[string]mosquittoHash // users whose hash is mosquitto's $6$ or $7$
	dummy     []byte                   // hash checked for unknown users, as costly as the real ones
	warnings  []string
}

// LoadPasswords reads the password file at path. Its error names the file
// and line of every problem and how to fix it; duplicate users, hashes that
// are not bcrypt and lines that are not user:hash are errors.
func LoadPasswords(path string) (*Passwords, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: load passwords: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: load passwords: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("auth: load passwords: %w", err)
	}
	p, err := parsePasswords(path, string(data))
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o006 != 0 {
		p.warnings = append(p.warnings, fmt.Sprintf(
			"%s can be read by every user of this host (mode %04o), and bcrypt hashes can be attacked offline: run chmod 600 %s", path, perm, path))
	}
	if len(p.hashes) > 0 {
		if p.dummy, err = dummyHash(p.hashes); err != nil {
			return nil, fmt.Errorf("auth: load passwords %s: %w", path, err)
		}
	}
	return p, nil
}

// parsePasswords parses the text of the password file called name.
func parsePasswords(name, text string) (*Passwords, error) {
	p := &Passwords{hashes: make(map[string][]byte)}
	firstLine := make(map[string]int)
	var errs []error
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The line is never quoted back: it might be a password typed by hand.
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			errs = append(errs, fmt.Errorf("%s:%d: the line is not user:hash: set the password with \"edged broker passwd %s USER\" or make the line a # comment", name, n, name))
			continue
		}
		if err := validateUser(user); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: user %q %w: set a valid name with \"edged broker passwd %s USER\" and delete this line", name, n, user, err, name))
			continue
		}
		if first, dup := firstLine[user]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: user %q is also on line %d: delete one of the lines", name, n, user, first))
			continue
		}
		firstLine[user] = n
		if err := checkHash(hash); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: user %q: %w: set it again with \"edged broker passwd %s %s\"", name, n, user, err, name, user))
			continue
		}
		p.hashes[user] = []byte(hash)
		if m, err := parseMosquittoHash(hash); err == nil {
			if p.mosquitto == nil {
				p.mosquitto = map[string]mosquittoHash{}
			}
			p.mosquitto[user] = m
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// validateUser checks a username; its error reads after the quoted name.
func validateUser(u string) error {
	switch {
	case u == "":
		return errors.New("is empty")
	case len(u) > maxUserLen:
		return fmt.Errorf("is %d bytes long, the most is %d", len(u), maxUserLen)
	case !utf8.ValidString(u):
		return errors.New("is not valid UTF-8")
	case strings.ContainsRune(u, ':'):
		return errors.New("contains ':', which separates user and hash")
	case u == Anonymous:
		return errors.New("is reserved for clients that connect without a username")
	}
	for _, r := range u {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return errors.New("contains whitespace or a control character")
		}
	}
	return nil
}

// checkHash checks that hash is a well-formed bcrypt hash, or one of
// mosquitto's own ($7$ PBKDF2-SHA512, $6$ SHA-512).
func checkHash(hash string) error {
	switch {
	case hash == "":
		return errors.New("the hash is empty")
	case strings.HasPrefix(hash, "$7$") || strings.HasPrefix(hash, "$6$"):
		_, err := parseMosquittoHash(hash)
		return err
	case !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") && !strings.HasPrefix(hash, "$2y$"):
		return errors.New("hash is not bcrypt ($2a$, $2b$, $2y$) nor mosquitto's ($7$, $6$)")
	case len(hash) != 60:
		return fmt.Errorf("bcrypt hash is %d characters long, not 60", len(hash))
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("bcrypt hash is malformed: %w", err)
	}
	for _, c := range hash[7:] {
		if !(c == '.' || c == '/' || c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return errors.New("bcrypt hash has a character outside its alphabet")
		}
	}
	return nil
}

// dummyHash makes a hash as costly to check as the costliest real one.
func dummyHash(hashes map[string][]byte) ([]byte, error) {
	cost := bcrypt.MinCost
	for _, h := range hashes {
		if c, err := bcrypt.Cost(h); err == nil && c > cost {
			cost = c
		}
	}
	return bcrypt.GenerateFromPassword([]byte("edged: no such user"), cost)
}

// Check reports whether password is user's password. For a user not in the
// file it spends about as long as for one who is, so the time taken does
// not tell which users exist. As everywhere with bcrypt, only the first 72
// bytes of the password count.
func (p *Passwords) Check(user, password string) bool {
	if p == nil {
		return false
	}
	h, ok := p.hashes[user]
	if !ok {
		if p.dummy != nil {
			_ = bcrypt.CompareHashAndPassword(p.dummy, []byte(password)) // for the time only
		}
		return false
	}
	if m, ok := p.mosquitto[user]; ok {
		return m.matches(password)
	}
	return bcrypt.CompareHashAndPassword(h, []byte(password)) == nil
}

// Changed reports whether user's hash differs between p and next (a user
// removed, added, or whose password was set again).
func (p *Passwords) Changed(next *Passwords, user string) bool {
	var a, b []byte
	if p != nil {
		a = p.hashes[user]
	}
	if next != nil {
		b = next.hashes[user]
	}
	return string(a) != string(b)
}

// has reports whether user is in the file.
func (p *Passwords) has(user string) bool {
	if p == nil {
		return false
	}
	_, ok := p.hashes[user]
	return ok
}

// Users lists the users in the file, sorted.
func (p *Passwords) Users() []string {
	if p == nil {
		return nil
	}
	users := make([]string, 0, len(p.hashes))
	for u := range p.hashes {
		users = append(users, u)
	}
	sort.Strings(users)
	return users
}

// Warnings lists problems that do not stop the file from being used, such
// as a file other users of the host can read, each with its fix.
func (p *Passwords) Warnings() []string {
	if p == nil {
		return nil
	}
	return append([]string(nil), p.warnings...)
}
