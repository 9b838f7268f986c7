package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// buildEdged compiles this command into dir as the Makefile does (static,
// stripped) and returns the binary's path.
func buildEdged(t testing.TB, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "edged")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// child is an edged process whose log lines the test can wait for.
type child struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
}

func startChild(t testing.TB, bin, cfg string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(bin, "run", "--config", cfg), added: make(chan struct{}, 1), done: make(chan struct{})}
	stderr, _ := c.cmd.StderrPipe()
	c.cmd.Stdout = io.Discard
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.scan(stderr)
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	return c
}

// scan collects the child's log lines until its stderr closes.
func (c *child) scan(r io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		c.mu.Lock()
		c.lines = append(c.lines, sc.Text())
		c.mu.Unlock()
		select {
		case c.added <- struct{}{}:
		default:
		}
	}
}

// waitLine waits for a log line matching re and returns its submatches.
func (c *child) waitLine(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(60 * time.Second) // hang guard only
	seen := 0
	for {
		c.mu.Lock()
		for ; seen < len(c.lines); seen++ {
			if m := re.FindStringSubmatch(c.lines[seen]); m != nil {
				c.mu.Unlock()
				return m
			}
		}
		c.mu.Unlock()
		select {
		case <-c.added:
		case <-c.done:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("edged exited before logging %s:\n%s", re, c.lines)
		case <-deadline:
			t.Fatalf("no log line %s", re)
		}
	}
}

var (
	firstDurable = regexp.MustCompile(`first reading durable`)
	openedLine   = regexp.MustCompile(`outbox: opened.* next_seq=(\d+)`)
)

// TestKill9LosesNoAcknowledgedReading kills edged with SIGKILL again and
// again while readings flow and the broker comes and goes, then starts it
// once more and proves at the cloud subscriber that every seq 1..N arrived
// (duplicates allowed, gaps not).
func TestKill9LosesNoAcknowledgedReading(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the edged binary")
	}
	dir := t.TempDir()
	bin := buildEdged(t, dir)
	broker := mosquittotest.Start(t, mosquittotest.WithPersistence())
	cl := newCloud(t, broker.Addr(), "edged", "gw-crash")
	base := fmt.Sprintf("gateway: {id: gw-crash}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: %s\ncloud: {url: %s, batch: 32, inflight: 16}\nlog: {level: debug}\n", filepath.Join(dir, "data"), broker.URL())
	flowing := writeConfig(t, dir, base+`devices:
  - {name: a, kind: sim, interval: 1ms}
  - {name: b, kind: sim, interval: 1ms, options: {waveform: random_walk, min: 0, max: 9, period: 3ms, seed: 9}}
  - {name: c, kind: sim, interval: 2ms, options: {waveform: square, min: 0, max: 1, period: 10ms}}
`)
	const rounds = 8
	for i := 0; i < rounds; i++ {
		switch i % 3 { // the broker comes and goes under the crashes
		case 1:
			broker.Stop()
		case 2:
			broker.Restart()
		}
		c := startChild(t, bin, flowing)
		c.waitLine(t, firstDurable)
		time.Sleep(time.Duration(50+40*i) * time.Millisecond) // let readings flow (pacing, not asserted)
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.cmd.Wait()
	}
	broker.Restart() // up (again) for the final drain
	// Last start: no devices, so the backlog is the whole story.
	last := startChild(t, bin, writeConfig(t, dir, base+"devices: []\n"))
	m := last.waitLine(t, openedLine)
	next, _ := strconv.ParseUint(m[1], 10, 64)
	n := next - 1
	if n < 300 { // a floor that shows the test loaded edged; pacing is by sleeps, so keep it low
		t.Fatalf("only %d readings were made durable across %d runs; the test did not load edged", n, rounds)
	}
	cl.waitAll(n)
	if err := last.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := last.cmd.Wait(); err != nil {
		t.Fatalf("edged did not exit cleanly on SIGTERM: %v", err)
	}
	cl.statusIs("offline")
	distinct, dups := cl.check()
	if uint64(distinct) != n {
		t.Fatalf("cloud saw %d distinct seqs, want exactly 1..%d", distinct, n)
	}
	t.Logf("%d kill -9 rounds: all %d durable readings delivered, %d duplicates", rounds, n, dups)
}
