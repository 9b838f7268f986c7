package outbox

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests here run the test binary again as a child under strace, which
// makes fdatasync slow or fail (the fault injection the issue asks for), and
// check what the child saw through Peek against what Append reported
// durable. They need Debian's strace (apt-get install strace) and skip,
// saying so, without it.

// straceChild runs fsyncChild under strace with the given injection and
// returns its stdout lines.
func straceChild(t *testing.T, inject, path string, appends int) []string {
	t.Helper()
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("skipping: strace not installed (apt-get install strace); it injects the fdatasync faults")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, strace, "-f", "-qq", "-o", "/dev/null", "--seccomp-bpf", "-e", "trace=fdatasync",
		"-e", "inject=fdatasync:"+inject, os.Args[0], "-test.run=^TestStraceSlowFsync$")
	cmd.Env = append(os.Environ(), "OUTBOX_FSYNC_CHILD="+path, fmt.Sprintf("OUTBOX_FSYNC_APPENDS=%d", appends))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if strings.Contains(stderr.String(), "PTRACE") || strings.Contains(stderr.String(), "ptrace") {
			t.Skipf("skipping: strace cannot trace here: %s", stderr.String())
		}
		t.Fatalf("child under strace (%s): %v\n%s", inject, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) == 0 || lines[len(lines)-1] != "DONE" {
		t.Fatalf("child did not finish:\n%s\n%s", stdout.String(), stderr.String())
	}
	return lines
}

// checkChild checks the child's report: every reading it peeked was one
// whose Append had returned, with the same value, and Peek never ran ahead
// of the outbox's durable seq.
func checkChild(t *testing.T, lines []string) (ok, failed int) {
	t.Helper()
	appended := map[uint64]float64{}
	var peeked [][2]float64
	for _, l := range lines {
		var seq uint64
		var v float64
		switch {
		case strings.HasPrefix(l, "OK "):
			fmt.Sscanf(l, "OK %d %g", &seq, &v)
			appended[seq] = v
			ok++
		case strings.HasPrefix(l, "PEEK "):
			fmt.Sscanf(l, "PEEK %d %g", &seq, &v)
			peeked = append(peeked, [2]float64{float64(seq), v})
		case strings.HasPrefix(l, "EARLY "):
			t.Errorf("Peek handed out a reading before its commit returned: %s", l)
		case strings.HasPrefix(l, "ERR "):
			failed++
		}
	}
	for _, p := range peeked {
		v, found := appended[uint64(p[0])]
		if !found || v != p[1] {
			t.Errorf("Peek handed out seq %d value %g; Append reported (%v) value %g", uint64(p[0]), p[1], found, v)
		}
	}
	return ok, failed
}

// TestStraceSlowFsync: every fdatasync takes 20 ms (an SD card). bbolt
// shows a commit to readers once its meta page is written, before that
// fdatasync returns; Peek must not hand those readings out yet.
func TestStraceSlowFsync(t *testing.T) {
	if path := os.Getenv("OUTBOX_FSYNC_CHILD"); path != "" {
		fsyncChild(path)
		return
	}
	if testing.Short() {
		t.Skip("slow: runs a child under strace")
	}
	lines := straceChild(t, "delay_enter=20000", filepath.Join(t.TempDir(), "outbox.db"), 60)
	ok, failed := checkChild(t, lines)
	if ok != 60 || failed != 0 {
		t.Errorf("%d appends succeeded and %d failed, want 60 and 0", ok, failed)
	}
	t.Logf("%d lines from the child", len(lines))
}

// TestStraceFailedFsync: from some fdatasync on, every one fails with EIO.
// The outbox must hand out nothing of the failed commit, refuse appends
// after it, and a reopened file must not give a handed-out seq to another
// reading.
func TestStraceFailedFsync(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: runs a child under strace")
	}
	for _, when := range []int{9, 10, 17} {
		t.Run(fmt.Sprint(when), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			lines := straceChild(t, fmt.Sprintf("error=EIO:when=%d+", when), path, 100)
			ok, failed := checkChild(t, lines)
			if failed == 0 || !contains(lines, "FAILED") {
				t.Fatalf("%d appends ok, %d failed, outbox not failed: the injection did not hit", ok, failed)
			}
			// Reopen without faults: every seq the child peeked keeps its value.
			o := openTest(t, Config{Path: path})
			stored := map[uint64]float64{}
			for _, r := range peekAll(t, o) {
				stored[r.Seq] = r.Value
			}
			for _, l := range lines {
				var seq uint64
				var v float64
				if _, err := fmt.Sscanf(l, "PEEK %d %g", &seq, &v); err == nil {
					if sv, found := stored[seq]; !found || sv != v {
						t.Errorf("seq %d was handed out as %g; the reopened file has %g (present %v)", seq, v, sv, found)
					}
				}
			}
			rs := mkReadings(1, -1)
			if err := o.Append(context.Background(), rs); err != nil {
				t.Fatalf("append after reopen: %v", err)
			}
			t.Logf("fail from fdatasync %d on (per thread): %d appends ok, %d refused; the reopened file holds %d readings, next seq %d",
				when, ok, failed, len(stored), rs[0].Seq)
		})
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

// fsyncChild appends one reading per commit and prints "OK seq value" when
// Append returned or "ERR …" when it failed, while a second goroutine peeks
// and prints "PEEK seq value" for each reading it got and "EARLY …" if one
// was past the durable seq read after the Peek. It stops after
// OUTBOX_FSYNC_APPENDS appends or when the outbox failed, then prints DONE.
func fsyncChild(path string) {
	var n int
	fmt.Sscan(os.Getenv("OUTBOX_FSYNC_APPENDS"), &n)
	o, err := Open(Config{Path: path, Now: func() time.Time { return testNow }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		fmt.Fprintf(out, format+"\n", args...)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var after uint64
		var buf = mkReadings(0, 0)
		for {
			select {
			case <-stop:
				return
			default:
			}
			buf, err = o.Peek(after, 100, buf)
			durable := o.Stats().NextSeq - 1
			if err != nil {
				say("PEEKERR %v", err)
				return
			}
			for _, r := range buf {
				say("PEEK %d %g", r.Seq, r.Value)
				if r.Seq > durable {
					say("EARLY seq %d, durable %d", r.Seq, durable)
				}
				after = r.Seq
			}
		}
	})
	for i := range n {
		rs := mkReadings(1, float64(i))
		if err := o.Append(context.Background(), rs); err != nil {
			say("ERR %v", err)
			if errors.Is(err, ErrFailed) {
				break
			}
			continue
		}
		say("OK %d %g", rs[0].Seq, rs[0].Value)
	}
	select {
	case <-o.Failed():
		say("FAILED")
	default:
	}
	close(stop)
	wg.Wait()
	_ = o.Close()
	say("DONE")
	mu.Lock()
	out.Flush()
	mu.Unlock()
	os.Exit(0)
}
