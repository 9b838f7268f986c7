package main

import (
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// TestFailedFsyncStopsTheDaemon runs the real binary under strace, which
// makes fdatasync fail with EIO after a few hundred calls (per thread), while
// readings flow to a real mosquitto. The outbox must hand out nothing of the
// failed commit and edged must exit non-zero (so its supervisor restarts
// it); restarted without faults it goes on in the same epoch. At the cloud
// no (epoch, seq) may ever arrive with two different readings.
func TestFailedFsyncStopsTheDaemon(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("skipping: strace not installed (apt-get install strace); it injects the fdatasync failure")
	}
	if testing.Short() {
		t.Skip("slow: builds edged and runs it under strace")
	}
	broker := mosquittotest.Start(t, mosquittotest.WithPersistence())
	dir := t.TempDir()
	bin := buildEdged(t, dir)
	cl := newEpochCloud(t, broker.Addr(), "gw-eio")
	cfg := writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-eio}
data_dir: %s/data
http: {listen: ""}
local_mqtt: {mode: off}
cloud: {url: %s, batch: 16, inflight: 8}
devices:
  - {name: boiler, kind: sim, interval: 1ms, options: {metric: temperature, waveform: random_walk, min: 0, max: 100, period: 5ms, seed: 11}}
`, dir, broker.URL()))

	c := &child{cmd: exec.Command(strace, "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf", "-e", "trace=fdatasync",
		"-e", "inject=fdatasync:error=EIO:when=300+", bin, "run", "--config", cfg), added: make(chan struct{}, 1), done: make(chan struct{})}
	stderr, _ := c.cmd.StderrPipe()
	c.cmd.Stdout = io.Discard
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go c.scan(stderr)
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	c.waitLine(t, regexp.MustCompile(`outbox: a commit failed after it may have reached the file`))
	select {
	case <-c.done:
	case <-time.After(60 * time.Second):
		t.Fatal("edged did not exit after its outbox failed")
	}
	err = c.cmd.Wait()
	c.mu.Lock()
	log := strings.Join(c.lines, "\n")
	c.mu.Unlock()
	if err == nil || !strings.Contains(log, "outbox failed, restart to reopen it") {
		t.Fatalf("edged exit %v after the failed fsync, want non-zero naming the outbox:\n%.3000s", err, log)
	}
	cl.mu.Lock()
	firstRound := len(cl.values)
	cl.mu.Unlock()

	// Restarted (as systemd would), without faults.
	d := startChild(t, bin, cfg)
	m := d.waitLine(t, regexp.MustCompile(`outbox: opened.* epoch=([0-9a-f]{16}) .*next_seq=(\d+)`))
	var next uint64
	fmt.Sscan(m[2], &next)
	waitUntil(t, "delivery after the restart", func() bool { return cl.has(m[1], next+200) })
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()

	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, p := range cl.problems {
		t.Error(p)
	}
	if len(cl.byEpoch) != 1 {
		t.Errorf("epochs %v, want one: a failed fsync is not a new stream", cl.byEpoch)
	}
	t.Logf("%d readings delivered before the failed fsync, %d in all, none with two values for one (epoch, seq)", firstRound, len(cl.values))
}
