package auth

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// testHash hashes password at bcrypt.MinCost, fast enough for tests.
func testHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// writeFile writes text to a new file called name in a temporary directory.
func writeFile(t *testing.T, name, text string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// Hashes written by mosquitto_passwd 2.0.11 (Debian 12): porch's password
// is s3cret ($7$, the default), shed's is hunter2 (-H sha512, $6$).
const (
	mosquitto7 = "$7$101$VgQh/lGH5uZN87bd$fwjdX6C6nCGChD5wsigxSADrd3vXLEYKvuFQ+n3S4ZBtFZvZXrnarN1nsjaIgcQyIPeyl4PBbhBlrMdVD2gKxQ=="
	mosquitto6 = "$6$jzdeOhVzSDMGocYE$bcMI8qQsPraY03UptefmEXdLcgufRJ4cjc+5nNEEgYaEkiawNKd1swMb2ptceJMhatzbkS6lrsSM+Ig6ssrSvw=="
)

func TestMosquittoHashesCheckPasswords(t *testing.T) {
	p, err := parsePasswords("passwd", "porch:"+mosquitto7+"\nshed:"+mosquitto6+"\n")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, password string
		ok             bool
	}{{"porch", "s3cret", true}, {"porch", "s3cret ", false}, {"porch", "hunter2", false},
		{"shed", "hunter2", true}, {"shed", "Hunter2", false}, {"shed", "", false}} {
		if got := p.Check(tc.user, tc.password); got != tc.ok {
			t.Errorf("Check(%s, %q) = %v, want %v", tc.user, tc.password, got, tc.ok)
		}
	}
}

// TestMosquittoPasswdFileIsRead takes a file that mosquitto_passwd writes
// now, in both of its formats.
func TestMosquittoPasswdFileIsRead(t *testing.T) {
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mosquitto_passwd missing (apt-get install mosquitto); CI is set")
		}
		t.Skip("mosquitto_passwd missing (apt-get install mosquitto)")
	}
	path := filepath.Join(t.TempDir(), "passwd")
	for _, args := range [][]string{{"-c", "-b", path, "porch", "s3cret"}, {"-H", "sha512", "-b", path, "shed", "hunter2"}} {
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd %v: %v %s", args, err, out)
		}
	}
	p, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Check("porch", "s3cret") || !p.Check("shed", "hunter2") || p.Check("porch", "hunter2") {
		t.Fatal("passwords from mosquitto_passwd do not check")
	}
}

func TestLoadPasswords(t *testing.T) {
	bob, alice := testHash(t, "bob-pw"), testHash(t, "alice-pw")
	tests := []struct {
		name      string
		text      string
		wantUsers string   // users joined by ",", when the file loads
		wantErr   []string // substrings of the error, when it does not
	}{
		{"one user", "bob:" + bob + "\n", "bob", nil},
		{"no final newline", "bob:" + bob, "bob", nil},
		{"comments and blanks", "# users\n\nbob:" + bob + "\r\n  # indented comment\n\nalice:" + alice + "\n", "alice,bob", nil},
		{"empty file", "", "", nil},
		{"2b and 2y prefixes", "b:$2b$" + bob[4:] + "\ny:$2y$" + alice[4:] + "\n", "b,y", nil},
		{"duplicate user", "bob:" + bob + "\nalice:" + alice + "\nbob:" + alice + "\n", "",
			[]string{`passwords.txt:3: user "bob" is also on line 1: delete one of the lines`}},
		{"mosquitto $7$ and $6$ hashes", "porch:" + mosquitto7 + "\nshed:" + mosquitto6 + "\n", "porch,shed", nil},
		{"malformed mosquitto $7$ hash", "# x\nalice:" + alice + "\nbob:$7$101$abc$def\n", "",
			[]string{`passwords.txt:3: user "bob": mosquitto hash has a salt that is not base64: set it again with "edged broker passwd passwords.txt bob"`}},
		{"mosquitto $7$ iterations", "bob:$7$0$" + mosquitto7[8:] + "\n", "", []string{`"0" iterations`}},
		{"malformed mosquitto $6$ hash", "bob:$6$salt$hash\n", "", []string{`passwords.txt:1: user "bob": mosquitto hash has a hash that is not 64 bytes`}},
		{"plain text password", "bob:hunter2\n", "", []string{`passwords.txt:1: user "bob": hash is not bcrypt`}},
		{"empty hash", "bob:\n", "", []string{`passwords.txt:1: user "bob": the hash is empty`}},
		{"truncated hash", "bob:" + bob[:50] + "\n", "", []string{"is 50 characters long"}},
		{"bad alphabet", "bob:" + bob[:59] + "!\n", "", []string{"outside its alphabet"}},
		{"no colon", "bob\n", "", []string{"passwords.txt:1: the line is not user:hash"}},
		{"empty user", ":" + bob + "\n", "", []string{`passwords.txt:1: user "" is empty`}},
		{"reserved user", "anonymous:" + bob + "\n", "", []string{`user "anonymous" is reserved`}},
		{"space in user", "bo b:" + bob + "\n", "", []string{`user "bo b" contains whitespace`}},
		{"every bad line reported", "a\nb\nbob:x\n", "", []string{"passwords.txt:1:", "passwords.txt:2:", "passwords.txt:3:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePasswords("passwords.txt", tc.text)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatalf("parse succeeded, want an error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q quotes the line's secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := strings.Join(p.Users(), ","); got != tc.wantUsers {
				t.Errorf("users %q, want %q", got, tc.wantUsers)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	h := testHash(t, "right")
	path := writeFile(t, "passwd", "bob:"+h+"\ny:$2y$"+h[4:]+"\n", 0o600)
	p, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.dummy == nil {
		t.Error("no dummy hash for unknown users")
	}
	tests := []struct {
		user, password string
		want           bool
	}{
		{"bob", "right", true},
		{"bob", "wrong", false},
		{"bob", "", false},
		{"y", "right", true},
		{"nobody", "right", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.user+"/"+tc.password, func(t *testing.T) {
			if got := p.Check(tc.user, tc.password); got != tc.want {
				t.Errorf("Check(%q, %q) = %v, want %v", tc.user, tc.password, got, tc.want)
			}
		})
	}
	var none *Passwords
	if none.Check("bob", "right") || none.Users() != nil || none.Warnings() != nil {
		t.Error("a nil *Passwords has users")
	}
}

func TestLoadPasswordsFile(t *testing.T) {
	text := "bob:" + testHash(t, "pw") + "\n"
	tests := []struct {
		name     string
		mode     os.FileMode
		warnings int
	}{
		{"private", 0o600, 0},
		{"group readable", 0o640, 0},
		{"world readable", 0o644, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "passwd", text, tc.mode)
			p, err := LoadPasswords(path)
			if err != nil {
				t.Fatal(err)
			}
			w := p.Warnings()
			if len(w) != tc.warnings {
				t.Fatalf("warnings %q, want %d", w, tc.warnings)
			}
			if len(w) > 0 && !strings.Contains(w[0], "chmod 600 "+path) {
				t.Errorf("warning %q does not give the fix", w[0])
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		_, err := LoadPasswords(filepath.Join(t.TempDir(), "nope"))
		if err == nil || !strings.Contains(err.Error(), "nope") {
			t.Errorf("error %v does not name the file", err)
		}
	})
	t.Run("error names the path", func(t *testing.T) {
		path := writeFile(t, "passwd", "# c\nbob\n", 0o600)
		_, err := LoadPasswords(path)
		if err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
			t.Errorf("error %v does not start with %s:2:", err, path)
		}
	})
}
