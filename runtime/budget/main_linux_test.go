package budget

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// childEnv selects what the re-executed test binary does instead of testing.
const childEnv = "EDGED_BUDGET_CHILD"

func TestMain(m *testing.M) {
	if kind := os.Getenv(childEnv); kind != "" {
		os.Exit(runChild(kind))
	}
	code := m.Run()
	if childDir != "" {
		os.RemoveAll(childDir)
	}
	os.Exit(code)
}

var (
	childOnce sync.Once
	childDir  string
	childPath string
	childErr  error
)

// childExe is the binary the test services run: this test binary, or, when
// it was built with -race, a copy built without. The race runtime maps
// hundreds of MiB of shadow memory, which neither a 64 MiB cgroup nor the
// RLIMIT_DATA backstop of a 64 MiB budget leaves room for; real services
// are not built with -race.
func childExe(t *testing.T) string {
	t.Helper()
	childOnce.Do(func() {
		childPath, childErr = os.Executable()
		if !raceEnabled() {
			return
		}
		if childDir, childErr = os.MkdirTemp("", "budget-child-"); childErr != nil {
			return
		}
		childPath = filepath.Join(childDir, "budget.test")
		out, err := exec.Command("go", "test", "-c", "-o", childPath, ".").CombinedOutput()
		if err != nil {
			childErr = fmt.Errorf("build the test services without -race: %v\n%s", err, out)
		}
	})
	if childErr != nil {
		t.Skip(childErr)
	}
	return childPath
}

func raceEnabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// runChild is a service process for the tests. Each kind waits for one byte
// on stdin (sent once the test has put it under its budget) and then:
//
//	hog   allocates and touches 8 MiB every 50 ms, up to 512 MiB
//	idle  allocates and touches 16 MiB, then waits for stdin to close
//	spin  burns CPU until killed
//	fork  starts up to 64 `sleep` processes and reports how many it could
func runChild(kind string) int {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadByte(); err != nil {
		return 3
	}
	switch kind {
	case "hog":
		var keep [][]byte
		for range 64 {
			keep = append(keep, touched(8<<20))
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Println("hog survived", len(keep)*8, "MiB")
	case "idle":
		b := touched(16 << 20)
		fmt.Println("ready")
		io.Copy(io.Discard, in)
		_ = b[len(b)-1]
	case "spin":
		var n uint64
		for {
			n++
			if n == 0 {
				fmt.Println(n)
			}
		}
	case "fork":
		var started []*exec.Cmd
		var ferr error
		for range 64 {
			c := exec.Command("sleep", "30")
			if ferr = c.Start(); ferr != nil {
				break
			}
			started = append(started, c)
		}
		fmt.Printf("started=%d err=%v\n", len(started), ferr)
		for _, c := range started {
			c.Process.Kill()
			c.Wait()
		}
	default:
		return 4
	}
	return 0
}

func touched(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}

// child is a running test service.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *lockedBuffer
	done  chan struct{}
	err   error // from Wait, once done is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startChild(t *testing.T, kind string, env ...string) *child {
	t.Helper()
	var err error
	c := &child{cmd: exec.Command(childExe(t)), out: &lockedBuffer{}, done: make(chan struct{})}
	c.cmd.Env = append(append(os.Environ(), childEnv+"="+kind, "GOMAXPROCS=1"), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// begin tells the child to start its work.
func (c *child) begin(t *testing.T) {
	t.Helper()
	if _, err := c.stdin.Write([]byte{'g'}); err != nil {
		t.Fatalf("start child: %v", err)
	}
}

// wait waits up to d for the child to exit; false if it is still running.
func (c *child) wait(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (c *child) running() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

// killedBySignal reports whether the child died of SIGKILL.
func (c *child) killedBySignal() bool {
	ee, ok := c.err.(*exec.ExitError)
	if !ok {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

var parentSeq atomic.Int64

// testConfig is a Config with a parent group of the test's own, so tests
// never touch a real edged's groups.
func testConfig(t *testing.T, mode Mode) Config {
	return Config{
		Mode:   mode,
		Parent: fmt.Sprintf("edged-test-%d-%d", os.Getpid(), parentSeq.Add(1)),
		Logger: testLogger(t),
	}
}

// cgroupManager returns a Manager in the host's cgroup mode, or skips the
// test saying why there is none.
func cgroupManager(t *testing.T) *Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cgroup tests need root: run go test as root")
	}
	mode, reason := Detect("")
	if mode == ModeRlimit {
		t.Skipf("no usable cgroup memory controller here: %s", reason)
	}
	m, err := New(testConfig(t, mode))
	if err != nil {
		t.Skipf("cgroup %s setup failed here: %v", mode, err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close manager: %v", err)
		}
	})
	return m
}

// groupDirs lists the directories the group lives in, for every controller.
func groupDirs(g *Group) []string {
	switch be := g.cg.(type) {
	case *v1Group:
		var dirs []string
		for _, d := range be.dirs {
			dirs = append(dirs, d)
		}
		return dirs
	case *v2Group:
		return []string{be.dir}
	}
	return nil
}

func pidsIn(t *testing.T, dir string) []int {
	t.Helper()
	pids, err := readProcs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

func procLimit(t *testing.T, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "limits"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name) {
			return strings.Fields(strings.TrimPrefix(line, name))[0]
		}
	}
	t.Fatalf("no %q in /proc/%d/limits", name, pid)
	return ""
}
