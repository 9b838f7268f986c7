package mosquittotest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds how long Start and Restart wait for the listener.
	readyTimeout = 10 * time.Second
	// stopTimeout is how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 5 * time.Second
)

// Option adjusts the broker configuration.
type Option func(*options)

type options struct {
	extra       []string
	persistence bool
}

// WithConfig appends lines to the generated mosquitto.conf. They follow the
// default listener's line, so listener settings such as cafile, certfile,
// keyfile and require_certificate apply to it (turning it into a TLS
// listener); a further `listener` line starts another listener.
func WithConfig(lines ...string) Option {
	return func(o *options) { o.extra = append(o.extra, lines...) }
}

// WithPersistence turns on mosquitto's persistence, stored in the test's
// temporary directory, so that retained messages and sessions survive Stop
// and Restart (not Kill, which gives it no chance to save).
func WithPersistence() Option {
	return func(o *options) { o.persistence = true }
}

// Broker is a running (or stopped) mosquitto process owned by one test.
type Broker struct {
	tb      testing.TB
	bin     string
	dir     string
	conf    string
	port    int
	release func()

	mu     sync.Mutex
	proc   *os.Process
	exited chan struct{} // closed when proc has been reaped
}

// Start starts mosquitto on a free 127.0.0.1 port and waits until it accepts
// connections. The broker is stopped, and its port released, when the test
// ends. Without the mosquitto binary it skips the test, or fails it when the
// CI environment variable is set.
func Start(tb testing.TB, opts ...Option) *Broker {
	tb.Helper()
	bin := findBinary()
	if bin == "" {
		const msg = "mosquittotest: mosquitto binary not found in PATH or /usr/sbin " +
			"(apt-get install mosquitto mosquitto-clients)"
		if os.Getenv("CI") != "" {
			tb.Fatal(msg + "; CI is set, so this is a failure, not a skip")
		}
		tb.Skip(msg)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	dir := tb.TempDir()
	port, release, err := reservePort()
	if err != nil {
		tb.Fatalf("mosquittotest: reserve a port on 127.0.0.1: %v", err)
	}
	b := &Broker{
		tb:      tb,
		bin:     bin,
		dir:     dir,
		conf:    filepath.Join(dir, "mosquitto.conf"),
		port:    port,
		release: release,
	}
	if err := os.WriteFile(b.conf, []byte(b.config(o)), 0o600); err != nil {
		release()
		tb.Fatalf("mosquittotest: write %s: %v", b.conf, err)
	}
	tb.Cleanup(func() {
		b.Stop()
		b.release()
		if tb.Failed() {
			tb.Logf("mosquitto output and log (%s):\n%s", b.Addr(), b.logs())
		}
	})
	b.start()
	return b
}

// URL returns the broker's address as mqtt://127.0.0.1:PORT.
func (b *Broker) URL() string { return "mqtt://" + b.Addr() }

// Addr returns the broker's address as 127.0.0.1:PORT.
func (b *Broker) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// Stop stops the broker with SIGTERM (SIGKILL after 5s) and waits for it to
// exit. The port stays reserved for Restart. Stopping a stopped broker does
// nothing.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return
	}
	_ = b.proc.Signal(syscall.SIGTERM)
	_ = b.proc.Signal(syscall.SIGCONT) // in case it was paused
	select {
	case <-b.exited:
	case <-time.After(stopTimeout):
		_ = b.proc.Kill()
		<-b.exited
	}
	b.proc = nil
}

// Kill kills the broker with SIGKILL, as a crash or power loss would, and
// waits for it to exit. Clients see their connections reset.
func (b *Broker) Kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return
	}
	_ = b.proc.Kill()
	<-b.exited
	b.proc = nil
}

// Pause stops the broker with SIGSTOP: connections stay open but nothing is
// answered, like a hung broker or a link that silently drops packets. Stop,
// Kill and Restart work on a paused broker.
func (b *Broker) Pause() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc != nil {
		_ = b.proc.Signal(syscall.SIGSTOP)
	}
}

// Restart stops the broker if it is running, starts it again on the same
// port and waits until it accepts connections. Call it from the test
// goroutine: it fails the test if mosquitto does not come up.
func (b *Broker) Restart() {
	b.tb.Helper()
	b.Stop()
	b.start()
}

// start launches mosquitto and waits for its listener.
func (b *Broker) start() {
	b.tb.Helper()
	out, err := os.OpenFile(filepath.Join(b.dir, "mosquitto.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.tb.Fatalf("mosquittotest: open output file: %v", err)
	}
	defer out.Close() // the child keeps its own descriptor
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.tb.Fatalf("mosquittotest: start %s: %v", b.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	b.mu.Lock()
	b.proc, b.exited = cmd.Process, exited
	b.mu.Unlock()

	if err := waitReady(b.Addr(), exited); err != nil {
		b.Kill()
		b.tb.Fatalf("mosquittotest: mosquitto on %s: %v\n%s", b.Addr(), err, b.logs())
	}
}

// waitReady dials addr until it accepts a connection, the process exits or
// readyTimeout passes.
func waitReady(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-exited:
			return errors.New("exited before accepting connections")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %s: %w", readyTimeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// config renders mosquitto.conf. Limits are generous so that benchmarks are
// not throttled or silently dropped by the broker.
func (b *Broker) config(o options) string {
	var s strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&s, format+"\n", args...) }
	line("# generated by edged/internal/mosquittotest")
	if os.Geteuid() == 0 {
		// Run as root, mosquitto would drop to user mosquitto, which
		// cannot write the log in the test's temporary directory.
		line("user root")
	}
	line("allow_anonymous true")
	line("max_queued_messages 1000000")
	line("max_inflight_messages 1000")
	if o.persistence {
		line("persistence true")
		line("persistence_location %s/", b.dir)
	} else {
		line("persistence false")
	}
	line("log_dest file %s", filepath.Join(b.dir, "mosquitto.log"))
	for _, t := range []string{"error", "warning", "notice", "information"} {
		line("log_type %s", t)
	}
	line("log_timestamp_format %%Y-%%m-%%dT%%H:%%M:%%S")
	line("listener %d 127.0.0.1", b.port)
	for _, l := range o.extra {
		line("%s", l)
	}
	return s.String()
}

// logs returns mosquitto's stdout/stderr and its log file.
func (b *Broker) logs() string {
	var s strings.Builder
	for _, name := range []string{"mosquitto.out", "mosquitto.log"} {
		data, err := os.ReadFile(filepath.Join(b.dir, name))
		if err != nil {
			fmt.Fprintf(&s, "--- %s: %v\n", name, err)
			continue
		}
		fmt.Fprintf(&s, "--- %s\n%s", name, data)
	}
	return s.String()
}

// findBinary returns the mosquitto path, or "" when it is not installed.
// /usr/sbin is often missing from a non-root PATH.
func findBinary() string {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	const debian = "/usr/sbin/mosquitto"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	return ""
}

// Reconfigure rewrites mosquitto.conf with these options in place of the
// ones Start was given; the next Restart runs with them (same port).
func (b *Broker) Reconfigure(opts ...Option) {
	b.tb.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.WriteFile(b.conf, []byte(b.config(o)), 0o600); err != nil {
		b.tb.Fatalf("mosquittotest: write %s: %v", b.conf, err)
	}
}

// Pid is the running mosquitto's process id, 0 when stopped (benchmarks
// read its CPU time from /proc).
func (b *Broker) Pid() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.proc == nil {
		return 0
	}
	return b.proc.Pid
}
