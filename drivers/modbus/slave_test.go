package modbus

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests run against Modbus implementations no one here wrote: Debian's
// python3-pymodbus as the slave (testdata/pymodbus_server.py), mbpoll as a
// second master, and socat for a virtual serial pair. Without them a test
// skips, or fails when the CI environment variable is set.
const debianPackages = "apt-get install python3-pymodbus python3-serial-asyncio mbpoll socat"

// deadline bounds every wait for an event: generous, so a loaded machine
// only makes the tests slower.
const deadline = 30 * time.Second

func missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("modbus: %s not found (%s)", what, debianPackages)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + "; CI is set, so this is a failure, not a skip")
	}
	t.Skip(msg)
}

// python finds an interpreter with pymodbus: Debian's first (a pyenv or
// venv python3 earlier in PATH usually lacks it).
func python(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(p, "-c", "import pymodbus, serial_asyncio").Run() == nil {
			return p
		}
	}
	missing(t, "python3 with pymodbus and serial_asyncio")
	return ""
}

func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, name)
	}
	return p
}

// slave is a running pymodbus_server.py owned by one test.
type slave struct {
	t    testing.TB
	args []string
	port int

	mu     sync.Mutex
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan string
	stderr *bytes.Buffer
	done   chan struct{}
}

// startSlave starts the script with args and waits for its ready line.
func startSlave(t testing.TB, args ...string) *slave {
	t.Helper()
	s := &slave{t: t, args: args}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *slave) start() {
	s.t.Helper()
	args := append([]string{"testdata/pymodbus_server.py"}, s.args...)
	if s.port != 0 {
		args = append(args, "--port", strconv.Itoa(s.port))
	}
	cmd := exec.Command(python(s.t), args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = &lockedWriter{w: stderr}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	lines, done := make(chan string, 16), make(chan struct{})
	go func() { // ends when the process closes its stdout
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	s.mu.Lock()
	s.cmd, s.in, s.lines, s.stderr, s.done = cmd, in, lines, stderr, done
	s.mu.Unlock()
	ready := s.read()
	if !strings.HasPrefix(ready, "ready") {
		s.t.Fatalf("pymodbus server: %q, stderr:\n%s", ready, stderr)
	}
	if p, ok := strings.CutPrefix(ready, "ready port="); ok {
		s.port, _ = strconv.Atoi(p)
	}
}

func (s *slave) read() string {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		if !ok {
			s.t.Fatalf("pymodbus server exited; stderr:\n%s", s.stderr)
		}
		return l
	case <-time.After(deadline):
		s.t.Fatalf("pymodbus server said nothing for %s", deadline)
	}
	return ""
}

// do sends one control line and returns the answer.
func (s *slave) do(format string, args ...any) string {
	s.t.Helper()
	if _, err := fmt.Fprintf(s.in, format+"\n", args...); err != nil {
		s.t.Fatal(err)
	}
	l := s.read()
	if strings.HasPrefix(l, "error") {
		s.t.Fatalf("pymodbus server: %s", l)
	}
	return l
}

// set writes registers (or coils) of unit.
func (s *slave) set(unit int, table string, addr int, vals ...uint16) {
	s.t.Helper()
	strs := make([]string, len(vals))
	for i, v := range vals {
		strs[i] = strconv.Itoa(int(v))
	}
	s.do("set %d %s %d %s", unit, table, addr, strings.Join(strs, " "))
}

// get reads n registers of unit.
func (s *slave) get(unit int, table string, addr, n int) []uint16 {
	s.t.Helper()
	f := strings.Fields(strings.TrimPrefix(s.do("get %d %s %d %d", unit, table, addr, n), "values "))
	out := make([]uint16, len(f))
	for i, v := range f {
		x, _ := strconv.Atoi(v)
		out[i] = uint16(x)
	}
	return out
}

// count is how many requests the server answered for unit.
func (s *slave) count(unit int) int {
	s.t.Helper()
	n, _ := strconv.Atoi(strings.TrimPrefix(s.do("count %d", unit), "count "))
	return n
}

// kill ends the server with SIGKILL, as a crash or power cut would.
func (s *slave) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
	_ = cmd.Wait()
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// ptyPair makes two connected virtual serial ports with socat and returns
// their paths; socat ends with the test.
func ptyPair(t testing.TB) (string, string) {
	t.Helper()
	bin := tool(t, "socat")
	cmd := exec.Command(bin, "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0")
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	re := regexp.MustCompile(`PTY is (/dev/\S+)`)
	found := make(chan []string, 1)
	go func() { // ends when socat exits
		var paths []string
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				if paths = append(paths, m[1]); len(paths) == 2 {
					found <- paths
				}
			}
		}
		io.Copy(io.Discard, errPipe)
	}()
	select {
	case p := <-found:
		return p[0], p[1]
	case <-time.After(deadline):
		t.Fatal("socat made no pty pair")
	}
	return "", ""
}

// mbpoll reads with Debian's mbpoll as a second master and returns the
// values it printed.
func mbpoll(t testing.TB, port int, args ...string) []string {
	t.Helper()
	bin := tool(t, "mbpoll")
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	all := append([]string{"-m", "tcp", "-1", "-0", "-p", strconv.Itoa(port)}, args...)
	out, err := exec.CommandContext(ctx, bin, append(all, "127.0.0.1")...).CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll %v: %v\n%s", all, err, out)
	}
	var vals []string
	for _, m := range regexp.MustCompile(`(?m)^\[\d+\]:\s+(\S+)`).FindAllStringSubmatch(string(out), -1) {
		vals = append(vals, m[1])
	}
	return vals
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %s", what, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
