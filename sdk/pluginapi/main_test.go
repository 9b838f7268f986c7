package pluginapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// testservice is the path of testdata/testservice, built by TestMain.
var testservice string

// launched records every pid the tests started, for the orphan check.
var launched struct {
	sync.Mutex
	pids []int
}

func recordPid(pid int) {
	if pid == 0 {
		return
	}
	launched.Lock()
	launched.pids = append(launched.pids, pid)
	launched.Unlock()
}

func TestMain(m *testing.M) {
	// Re-executed by Example as a service process, like `edged service x`.
	if os.Getenv(exampleServiceEnv) != "" {
		serveExample()
		return
	}
	dir, err := os.MkdirTemp("", "pluginapi-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testservice = filepath.Join(dir, "testservice")
	build := exec.Command("go", "build", "-o", testservice, "./testdata/testservice")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testservice: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	// Example re-executes this (race-enabled) test binary as a service;
	// without this its exit would sleep a second for the race detector.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	code := m.Run()
	launched.Lock()
	for _, pid := range launched.pids {
		if processAlive(pid) {
			fmt.Fprintf(os.Stderr, "orphan: service process %d is still running after the tests\n", pid)
			code = 1
			killProcess(pid)
		}
	}
	launched.Unlock()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start launches testservice (unless cfg has a Cmd) and kills it, checking
// that the process is gone, when the test ends.
func start(t testing.TB, cfg pluginapi.LaunchConfig) *pluginapi.Conn {
	t.Helper()
	if cfg.Cmd == nil {
		cfg.Cmd = exec.Command(testservice)
	}
	if cfg.Name == "" {
		cfg.Name = strings.ReplaceAll(t.Name(), "/", ".")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := pluginapi.Launch(ctx, cfg)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	recordPid(conn.Pid())
	t.Cleanup(func() {
		conn.Kill()
		if processAlive(conn.Pid()) {
			t.Errorf("pid %d still running after Kill", conn.Pid())
		}
	})
	return conn
}

// configure sends a testservice config.
func configure(t testing.TB, conn *pluginapi.Conn, mode string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := conn.Configure(ctx, pluginapi.Config{
		Name: conn.Name(), JSON: fmt.Appendf(nil, `{"mode":%q,"n":%d}`, mode, n), Subscriptions: []string{"#"},
	})
	if err != nil {
		t.Fatalf("Configure %s: %v", mode, err)
	}
}

// collector gathers emitted readings.
type collector struct {
	mu   sync.Mutex
	got  []pluginapi.Reading
	more chan struct{}
}

func newCollector() *collector { return &collector{more: make(chan struct{}, 1)} }

func (c *collector) onEmit(rs []pluginapi.Reading) {
	c.mu.Lock()
	c.got = append(c.got, rs...)
	c.mu.Unlock()
	select {
	case c.more <- struct{}{}:
	default:
	}
}

// wait returns the first n readings, failing after a hang guard.
func (c *collector) wait(t testing.TB, n int) []pluginapi.Reading {
	t.Helper()
	guard := time.After(20 * time.Second)
	for {
		c.mu.Lock()
		if len(c.got) >= n {
			out := append([]pluginapi.Reading(nil), c.got[:n]...)
			c.mu.Unlock()
			return out
		}
		have := len(c.got)
		c.mu.Unlock()
		select {
		case <-c.more:
		case <-guard:
			t.Fatalf("got %d readings, want %d", have, n)
		}
	}
}

// recordStore keeps every slog record a test's logger handled.
type recordStore struct {
	mu   sync.Mutex
	recs []slog.Record
}

// logger returns a logger that records into st.
func (st *recordStore) logger() *slog.Logger { return slog.New(&recorder{st: st}) }

// find returns the first record with msg and its attributes.
func (st *recordStore) find(msg string) (slog.Record, map[string]any, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, r := range st.recs {
		if r.Message == msg {
			attrs := map[string]any{}
			r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value.Any(); return true })
			return r, attrs, true
		}
	}
	return slog.Record{}, nil, false
}

// recorder is the slog.Handler behind recordStore.logger.
type recorder struct {
	st  *recordStore
	pre []slog.Attr
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.pre...)
	h.st.mu.Lock()
	h.st.recs = append(h.st.recs, r)
	h.st.mu.Unlock()
	return nil
}

func (h *recorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &recorder{st: h.st, pre: append(append([]slog.Attr(nil), h.pre...), as...)}
}

func (h *recorder) WithGroup(string) slog.Handler { return h }
