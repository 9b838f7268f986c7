// Package capkilltest runs supervisor.CanSetUser under reduced capabilities;
// it is its own package so that no TestMain builds services first.
package capkilltest

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/runtime/supervisor"
)

// TestCanSetUserNeedsCAPKILL: a daemon that is not root runs services as
// another user only when it can also stop them. Without CAP_KILL its
// signals to a service of another uid fail (EPERM), so a service it
// started could outlive a restart or a budget kill; with the three
// capabilities deploy/edged.service granted before (CAP_SETUID, CAP_SETGID,
// CAP_CHOWN) and not CAP_KILL, CanSetUser must say no.
func TestCanSetUserNeedsCAPKILL(t *testing.T) {
	if os.Getenv("EDGED_TEST_CANSETUSER") == "1" {
		if supervisor.CanSetUser() {
			os.Stdout.WriteString("can-set-user=true\n")
		} else {
			os.Stdout.WriteString("can-set-user=false\n")
		}
		return
	}
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("needs root and setpriv (util-linux); CI is set: euid %d, %v", os.Geteuid(), err)
		}
		t.Skipf("needs root and setpriv (util-linux): euid %d, %v", os.Geteuid(), err)
	}
	for _, tc := range []struct {
		caps string
		want bool
	}{
		{"+setuid,+setgid,+chown", false},
		{"+setuid,+setgid,+chown,+kill", true},
		{"+setuid,+setgid,+kill", false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
			"--inh-caps="+tc.caps, "--ambient-caps="+tc.caps,
			os.Args[0], "-test.run=^TestCanSetUserNeedsCAPKILL$")
		cmd.Env = append(os.Environ(), "EDGED_TEST_CANSETUSER=1")
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("caps %s: %v\n%s", tc.caps, err, out)
		}
		if want := "can-set-user=" + map[bool]string{true: "true", false: "false"}[tc.want]; !strings.Contains(string(out), want) {
			t.Errorf("ambient caps %s: CanSetUser printed %q, want %s", tc.caps, out, want)
		}
	}
}
