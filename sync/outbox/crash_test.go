package outbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestKill9 runs the test binary again as a child that appends from several
// goroutines and prints each seq as soon as Append returns, SIGKILLs it after
// a number of printed seqs and checks that the reopened file holds every
// printed reading, with no gap, and that seqs continue. It repeats on the
// same file.
func TestKill9(t *testing.T) {
	if path := os.Getenv("OUTBOX_CRASH_CHILD"); path != "" {
		crashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	printed := map[uint64]float64{}
	for round, killAfter := range []int{50, 500, 2000, 5000} {
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9$")
		cmd.Env = append(os.Environ(), "OUTBOX_CRASH_CHILD="+path)
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(out)
		for sc.Scan() { // keep reading after the kill: lines in the pipe count too
			var seq uint64
			var v float64
			if _, err := fmt.Sscanf(sc.Text(), "%d %g", &seq, &v); err != nil {
				t.Fatalf("round %d: child printed %q: %v", round, sc.Text(), err)
			}
			if _, dup := printed[seq]; dup {
				t.Fatalf("round %d: seq %d printed twice", round, seq)
			}
			printed[seq] = v
			if n++; n == killAfter {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			}
		}
		err = cmd.Wait()
		if n < killAfter {
			t.Fatalf("round %d: child exited after %d seqs (%v):\n%s", round, n, err, stderr.String())
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child was not killed: %v\n%s", round, err, stderr.String())
		}

		o := openTest(t, Config{Path: path})
		all := peekAll(t, o)
		for i, r := range all {
			if r.Seq != uint64(i+1) {
				t.Fatalf("round %d: gap: reading %d has seq %d", round, i, r.Seq)
			}
			if v, ok := printed[r.Seq]; ok && v != r.Value {
				t.Fatalf("round %d: seq %d has value %g, child printed %g", round, r.Seq, r.Value, v)
			}
		}
		for seq := range printed {
			if seq > uint64(len(all)) {
				t.Fatalf("round %d: seq %d was acknowledged to the child but is lost (%d stored)", round, seq, len(all))
			}
		}
		rs := mkReadings(1, -1)
		if err := o.Append(context.Background(), rs); err != nil || rs[0].Seq != uint64(len(all)+1) {
			t.Fatalf("round %d: append after reopen: %v, seq %d, want %d", round, err, rs[0].Seq, len(all)+1)
		}
		printed[rs[0].Seq] = rs[0].Value
		t.Logf("round %d: killed after %d printed seqs, %d printed in all, %d stored", round, killAfter, n, len(all))
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// crashChild appends until it is killed, printing "seq value" for each
// reading once Append has returned. It exits on its own only on an error
// or after a minute (so an orphan does not run forever).
func crashChild(path string) {
	o, err := Open(Config{Path: path, Now: func() time.Time { return testNow }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				rs := mkReadings(1+i%4, float64(g)*1e9+float64(i)*10)
				if err := o.Append(context.Background(), rs); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				for _, r := range rs {
					// One write per line, straight to the pipe: no
					// buffer to lose in the kill.
					fmt.Fprintf(os.Stdout, "%d %g\n", r.Seq, r.Value)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(4)
}
