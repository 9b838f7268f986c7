package auth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// readLines reads a file's lines.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// mustLoad loads the password file and checks it has no warnings.
func mustLoad(t *testing.T, path string) *Passwords {
	t.Helper()
	p, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	if w := p.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %q", w)
	}
	return p
}

func TestSetPassword(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")

	// Create.
	if err := SetPassword(path, "bob", "one", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	if p := mustLoad(t, path); !p.Check("bob", "one") {
		t.Error("new password does not check")
	}

	// Comments and other users (even a broken line) are kept as they were.
	alice := "alice:" + testHash(t, "a")
	text := "# edged broker users\n\n" + string(must(os.ReadFile(path))) + "#   keep  this   \n" + alice + "\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "bob", "two", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 5 || lines[0] != "# edged broker users" || lines[1] != "" || !strings.HasPrefix(lines[2], "bob:$2a$04$") ||
		lines[3] != "#   keep  this   " || lines[4] != alice {
		t.Errorf("after update the file is\n%s", strings.Join(lines, "\n"))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o after update, want 0600", fi.Mode().Perm())
	}
	p := mustLoad(t, path)
	if p.Check("bob", "one") || !p.Check("bob", "two") || !p.Check("alice", "a") {
		t.Error("passwords after update are wrong")
	}

	// A new user is appended; a bad hash can be fixed as the error says.
	if err := os.WriteFile(path, []byte(text+"carol:$7$101$xyz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPasswords(path); err == nil {
		t.Fatal("a malformed $7$ hash loaded")
	}
	if err := SetPassword(path, "carol", "c", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	if err := SetPassword(path, "dave", "d", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	p = mustLoad(t, path)
	if got := strings.Join(p.Users(), ","); got != "alice,bob,carol,dave" {
		t.Errorf("users %s", got)
	}
	if !p.Check("carol", "c") || !p.Check("dave", "d") {
		t.Error("fixed or appended passwords do not check")
	}

	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want 1", len(entries))
	}
}

func TestSetPasswordDropsDuplicates(t *testing.T) {
	h := testHash(t, "x")
	path := writeFile(t, "passwd", "bob:"+h+"\n# c\nbob:"+h+"\n", 0o600)
	if err := SetPassword(path, "bob", "y", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	if p := mustLoad(t, path); !p.Check("bob", "y") {
		t.Error("password not set")
	}
	if lines := readLines(t, path); len(lines) != 2 || lines[1] != "# c" {
		t.Errorf("file is %q", lines)
	}
}

func TestSetPasswordInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	tests := []struct {
		name, user, password string
		cost                 int
		want                 string
	}{
		{"empty user", "", "pw", bcrypt.MinCost, "the name is empty"},
		{"colon", "a:b", "pw", bcrypt.MinCost, "contains ':'"},
		{"space", "a b", "pw", bcrypt.MinCost, "whitespace"},
		{"tab", "a\tb", "pw", bcrypt.MinCost, "whitespace"},
		{"control", "a\x01b", "pw", bcrypt.MinCost, "control character"},
		{"long", strings.Repeat("u", 65), "pw", bcrypt.MinCost, "65 bytes long, the most is 64"},
		{"reserved", "anonymous", "pw", bcrypt.MinCost, "reserved"},
		{"empty password", "bob", "", bcrypt.MinCost, "the password is empty"},
		{"long password", "bob", strings.Repeat("p", 73), bcrypt.MinCost, "at most 72"},
		{"cost", "bob", "pw", 99, "cost 99"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := SetPassword(path, tc.user, tc.password, tc.cost)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetPassword = %v, want an error containing %q", err, tc.want)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Error("a refused SetPassword created the file")
			}
		})
	}
	t.Run("64 bytes is fine", func(t *testing.T) {
		if err := SetPassword(path, strings.Repeat("u", 64), "pw", bcrypt.MinCost); err != nil {
			t.Error(err)
		}
	})
}

func TestSetPasswordConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- SetPassword(path, fmt.Sprintf("user%d", i), fmt.Sprintf("pw%d", i), bcrypt.MinCost)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	p := mustLoad(t, path)
	if got := len(p.Users()); got != n {
		t.Fatalf("%d users after %d concurrent SetPassword calls", got, n)
	}
	for i := range n {
		if !p.Check(fmt.Sprintf("user%d", i), fmt.Sprintf("pw%d", i)) {
			t.Errorf("user%d does not check", i)
		}
	}
}

func TestDeleteUser(t *testing.T) {
	a, b := testHash(t, "a"), testHash(t, "b")
	tests := []struct {
		name, text, user string
		want             string // remaining file, or the error's text
		wantErr          error
	}{
		{"delete", "# c\nalice:" + a + "\nbob:" + b + "\n", "alice", "# c\nbob:" + b + "\n", nil},
		{"last user", "bob:" + b + "\n", "bob", "", nil},
		{"duplicates", "bob:" + b + "\nalice:" + a + "\nbob:" + a + "\n", "bob", "alice:" + a + "\n", nil},
		{"missing user", "alice:" + a + "\n", "bob", "", ErrNoUser},
		{"comment is no user", "# bob:x\n", "# bob", "", ErrNoUser},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "passwd", tc.text, 0o600)
			err := DeleteUser(path, tc.user)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), path) {
					t.Errorf("DeleteUser = %v, want %v naming %s", err, tc.wantErr, path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(must(os.ReadFile(path))); got != tc.want {
				t.Errorf("file is %q, want %q", got, tc.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "passwd")
		if err := DeleteUser(path, "bob"); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("DeleteUser = %v, want not exist", err)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Error("DeleteUser created the file")
		}
	})
	t.Run("empty name", func(t *testing.T) {
		path := writeFile(t, "passwd", "# c\n", 0o600)
		if err := DeleteUser(path, ""); err == nil {
			t.Error("DeleteUser accepted an empty name")
		}
	})
}

// must returns v, failing on err with a panic (test setup only).
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
