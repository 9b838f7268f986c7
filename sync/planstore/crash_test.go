//go:build unix

package planstore

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestKill9AfterSetApplied runs the test binary again as a child that
// applies a plan and SIGKILLs itself as soon as SetApplied returns, without
// Close. The parent reopens the file and must find the plan, its history,
// the attempted version and the status. It repeats on the same file.
func TestKill9AfterSetApplied(t *testing.T) {
	if arg := os.Getenv("PLANSTORE_CRASH_CHILD"); arg != "" {
		crashChild(arg)
		return
	}
	path := tempPath(t)
	for v := int64(1); v <= 3; v++ {
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9AfterSetApplied$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("PLANSTORE_CRASH_CHILD=%d:%s", v, path))
		cmd.Stderr = &stderr
		err := cmd.Run()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("version %d: child was not killed by SIGKILL: %v\n%s", v, err, stderr.String())
		}

		s, err := Open(path, Config{})
		if err != nil {
			t.Fatalf("version %d: reopen after kill: %v", v, err)
		}
		if r, ok, err := s.Applied(); err != nil || !ok || !equal(r, rec(v)) {
			t.Errorf("version %d: Applied = %+v, %v, %v; want the record the child applied", v, r, ok, err)
		}
		want := []int64{v, v - 1}
		if v == 1 {
			want = want[:1]
		}
		if h, err := s.History(); err != nil || !slices.Equal(versions(h), want) {
			t.Errorf("version %d: History = %v, %v; want %v", v, versions(h), err, want)
		}
		if n, err := s.Attempted(); err != nil || n != v+1 {
			t.Errorf("version %d: Attempted = %d, %v; want %d", v, n, err, v+1)
		}
		if doc, err := s.Status(); err != nil || string(doc) != fmt.Sprintf(`{"version":%d}`, v) {
			t.Errorf("version %d: Status = %q, %v", v, doc, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashChild parses "version:path", writes to the store and kills itself
// with SIGKILL the moment SetApplied has returned. It exits with a status
// of its own only on an error.
func crashChild(arg string) {
	vs, path, _ := strings.Cut(arg, ":")
	v, err := strconv.ParseInt(vs, 10, 64)
	if err != nil {
		fail(err)
	}
	s, err := Open(path, Config{})
	if err != nil {
		fail(err)
	}
	if err := s.SetAttempted(v + 1); err != nil {
		fail(err)
	}
	if err := s.SetStatus(fmt.Appendf(nil, `{"version":%d}`, v)); err != nil {
		fail(err)
	}
	if err := s.SetApplied(rec(v)); err != nil {
		fail(err)
	}
	pid := os.Getpid()
	if pid <= 0 { // never signal a process group or every process
		fail(fmt.Errorf("getpid returned %d", pid))
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		fail(err)
	}
	select {} // the signal is on its way
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}
