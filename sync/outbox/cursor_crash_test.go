package outbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// crashCursors are the consumers of the cursor crash tests: a route from
// the oldest reading, services from the newest, at different speeds (the
// pause between two peeks).
var crashCursors = []struct {
	spec  CursorSpec
	pause time.Duration
}{
	{CursorSpec{Name: "route:cloud", Start: FromOldest}, 0},
	{CursorSpec{Name: "route:historian", Start: FromOldest}, time.Millisecond},
	{CursorSpec{Name: "service:agg", Start: FromNewest}, 4 * time.Millisecond},
	{CursorSpec{Name: "republish", Start: FromNewest}, 9 * time.Millisecond},
}

func crashSpecs() []CursorSpec {
	specs := make([]CursorSpec, len(crashCursors))
	for i, c := range crashCursors {
		specs[i] = c.spec
	}
	return specs
}

// cursorLog is what a cursor crash child reported, across rounds:
//
//	A seq             Append returned with this seq
//	T name seq…       about to Ack these seqs through the cursor
//	N name next       that Ack returned; Next() is next
type cursorLog struct {
	appended map[uint64]bool
	tried    map[string]map[uint64]bool
	durable  map[string]uint64 // the highest Next reported after an Ack returned
	acks     int               // N lines
}

func newCursorLog(specs []CursorSpec) *cursorLog {
	l := &cursorLog{appended: map[uint64]bool{}, tried: map[string]map[uint64]bool{}, durable: map[string]uint64{}}
	for _, s := range specs {
		l.tried[s.Name] = map[uint64]bool{}
	}
	return l
}

func (l *cursorLog) line(s string) error {
	f := strings.Fields(s)
	switch {
	case len(f) == 2 && f[0] == "A":
		seq, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			return err
		}
		if l.appended[seq] {
			return fmt.Errorf("seq %d appended twice", seq)
		}
		l.appended[seq] = true
	case len(f) >= 3 && f[0] == "T":
		for _, x := range f[2:] {
			seq, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				return err
			}
			tried, ok := l.tried[f[1]]
			if !ok {
				return fmt.Errorf("line %q: no cursor %s", s, f[1])
			}
			tried[seq] = true
		}
	case len(f) == 3 && f[0] == "N":
		next, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			return err
		}
		if next < l.durable[f[1]] {
			return fmt.Errorf("cursor %s: Next went back from %d to %d", f[1], l.durable[f[1]], next)
		}
		l.durable[f[1]] = next
		l.acks++
	case len(f) >= 1 && f[0] == "FAILED", len(f) >= 1 && f[0] == "ERR", s == "DONE", len(f) >= 1 && f[0] == "NEXT":
	default:
		return fmt.Errorf("unexpected line %q", s)
	}
	return nil
}

// check reopens path and checks every cursor against what the child
// reported: its Next is not behind the Next an Ack returned with; every
// appended seq at or past Next is still stored; every seq before Next was
// stored no more or acked through that cursor. It returns the outbox.
func (l *cursorLog) check(t *testing.T, path, when string) *Outbox {
	t.Helper()
	o := openTest(t, Config{Path: path})
	stored := map[uint64]bool{}
	var maxStored uint64
	for _, r := range peekAll(t, o) {
		stored[r.Seq] = true
		maxStored = max(maxStored, r.Seq)
	}
	if len(o.Cursors()) != len(l.tried) {
		t.Fatalf("%s: cursors after reopen %+v", when, o.Cursors())
	}
	for _, cs := range o.Cursors() {
		if cs.Next < l.durable[cs.Name] {
			t.Errorf("%s: cursor %s reopened at %d, behind the %d an Ack returned with", when, cs.Name, cs.Next, l.durable[cs.Name])
		}
		if cs.Dropped != 0 {
			t.Errorf("%s: cursor %s dropped %d without a cap", when, cs.Name, cs.Dropped)
		}
		var below, above int
		for seq := range l.appended {
			switch {
			case seq >= cs.Next && !stored[seq]:
				t.Errorf("%s: cursor %s at %d: appended seq %d is missing (skipped)", when, cs.Name, cs.Next, seq)
			case seq < cs.Next && !l.tried[cs.Name][seq]:
				t.Errorf("%s: cursor %s at %d passed appended seq %d that it never acked", when, cs.Name, cs.Next, seq)
			case seq < cs.Next:
				below++
			default:
				above++
			}
		}
		t.Logf("%s: cursor %s at %d (an Ack returned with %d): %d appended seqs passed, %d still to read", when, cs.Name, cs.Next,
			l.durable[cs.Name], below, above)
	}
	rs := mkReadings(1, -1)
	if err := o.Append(context.Background(), rs); err != nil {
		t.Fatalf("%s: append after reopen: %v", when, err)
	}
	for seq := range l.appended {
		if rs[0].Seq <= seq || rs[0].Seq <= maxStored {
			t.Fatalf("%s: seq %d handed out again after reopen (appended %d, stored up to %d)", when, rs[0].Seq, seq, maxStored)
		}
	}
	l.appended[rs[0].Seq] = true
	return o
}

// TestKill9Cursors: a child appends from two goroutines while four
// consumers read through their cursors at different speeds and ack out of
// order; it is SIGKILLed after a number of acks, the file reopened and every
// cursor checked (cursorLog.check). It repeats on the same file.
func TestKill9Cursors(t *testing.T) {
	if path := os.Getenv("OUTBOX_CURSOR_CRASH_CHILD"); path != "" {
		cursorCrashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "outbox.db")
	log := newCursorLog(crashSpecs())
	for round, killAfter := range []int{20, 150, 400} {
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Cursors$")
		cmd.Env = append(os.Environ(), "OUTBOX_CURSOR_CRASH_CHILD="+path)
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		start := log.acks
		killed := false
		var hung atomic.Bool
		guard := time.AfterFunc(60*time.Second, func() { // hang guard
			hung.Store(true)
			_ = cmd.Process.Kill()
		})
		sc := bufio.NewScanner(out)
		for sc.Scan() { // keep reading after the kill: lines in the pipe count too
			if err := log.line(sc.Text()); err != nil {
				_ = cmd.Process.Kill()
				t.Fatalf("round %d: %v", round, err)
			}
			if !killed && log.acks-start >= killAfter {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		_, _ = io.Copy(io.Discard, out)
		err = cmd.Wait()
		guard.Stop()
		if hung.Load() {
			t.Fatalf("round %d: no %d acks within 60s (%d seen); killed the child:\n%s", round, killAfter, log.acks-start, stderr.String())
		}
		if !killed {
			t.Fatalf("round %d: child exited after %d acks (%v):\n%s", round, log.acks-start, err, stderr.String())
		}
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child was not killed: %v\n%s", round, err, stderr.String())
		}
		o := log.check(t, path, fmt.Sprintf("round %d", round))
		t.Logf("round %d: killed after %d acks; %d seqs appended in all", round, killAfter, len(log.appended))
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// cursorCrashChild appends and consumes until it is killed, printing
// what cursorLog reads, one write per line straight to the pipe. It exits
// on its own only on an error or after a minute.
func cursorCrashChild(path string) {
	o, err := Open(Config{Path: path, Now: func() time.Time { return testNow }})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := o.SetCursors(context.Background(), crashSpecs()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	say := func(s string) {
		mu.Lock()
		_, _ = os.Stdout.WriteString(s + "\n")
		mu.Unlock()
	}
	die := func(err error) {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				rs := mkReadings(1+i%3, float64(g)*1e9+float64(i)*10)
				if err := o.Append(context.Background(), rs); err != nil {
					die(err)
				}
				for _, r := range rs {
					say("A " + strconv.FormatUint(r.Seq, 10))
				}
				if i%4 == 3 {
					time.Sleep(time.Millisecond) // let the consumers keep up now and then
				}
			}
		})
	}
	for _, cc := range crashCursors {
		c, err := o.Cursor(cc.spec.Name)
		if err != nil {
			die(err)
		}
		wg.Go(func() {
			var after uint64
			var page = mkReadings(0, 0)
			for time.Now().Before(deadline) {
				ch := c.Changed()
				var err error
				page, err = c.Peek(after, 16, page)
				if err != nil {
					die(err)
				}
				if len(page) == 0 {
					select {
					case <-ch:
					case <-time.After(time.Second):
					}
					continue
				}
				after = page[len(page)-1].Seq
				seqs := seqsOf(page)
				// Out of order: the second half first, each half
				// reversed, in separate Ack calls.
				half := len(seqs) / 2
				for _, part := range [][]uint64{seqs[half:], seqs[:half]} {
					if len(part) == 0 {
						continue
					}
					rev := make([]uint64, len(part))
					for i, s := range part {
						rev[len(part)-1-i] = s
					}
					var b strings.Builder
					b.WriteString("T " + c.Name())
					for _, s := range rev {
						b.WriteString(" " + strconv.FormatUint(s, 10))
					}
					say(b.String())
					if err := c.Ack(context.Background(), rev); err != nil {
						die(err)
					}
					say("N " + c.Name() + " " + strconv.FormatUint(c.Next(), 10))
				}
				time.Sleep(cc.pause)
			}
		})
	}
	wg.Wait()
	os.Exit(4)
}
