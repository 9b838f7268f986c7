package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// notifySocket is a real unixgram socket standing in for systemd's
// NOTIFY_SOCKET: every datagram it receives arrives on msgs.
func notifySocket(t *testing.T) (path string, msgs <-chan string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 1024)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			select {
			case ch <- string(buf[:n]):
			default: // the test stopped reading
			}
		}
	}()
	return path, ch
}

// nextWith waits for the next message holding line (one of its lines).
func nextWith(t *testing.T, msgs <-chan string, line string) string {
	t.Helper()
	guard := time.NewTimer(60 * time.Second) // hang guard only
	defer guard.Stop()
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %s", line)
			}
			for _, l := range strings.Split(m, "\n") {
				if l == line {
					return m
				}
			}
		case <-guard.C:
			t.Fatalf("no %s on NOTIFY_SOCKET within 60 s", line)
		}
	}
}

// lockedBuffer is a bytes.Buffer the daemon's logger and the test share.
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

// TestSystemdNotifyReadyWatchdogStopping runs `edged run` under a fake
// systemd: a real unixgram NOTIFY_SOCKET with WATCHDOG_USEC and
// WATCHDOG_PID. READY=1 arrives, and when it does the local API's /readyz
// and the embedded broker already answer (an MQTT CONNECT gets its
// CONNACK); WATCHDOG=1 keeps arriving; stopping sends STOPPING=1 before
// run returns. The services edged would start do not inherit the socket.
func TestSystemdNotifyReadyWatchdogStopping(t *testing.T) {
	sock, msgs := notifySocket(t)
	t.Setenv("NOTIFY_SOCKET", sock)
	t.Setenv("WATCHDOG_USEC", "400000") // pings every 200 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "data_dir: "+filepath.Join(dir, "data")+"\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\nlog: {level: debug}\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "--config", cfg}, io.Discard, &logs) }()

	ready := nextWith(t, msgs, "READY=1")
	api := regexp.MustCompile(`console (http://[^ ,]+/)`).FindStringSubmatch(ready)
	brk := regexp.MustCompile(`broker ([^ ,]+)`).FindStringSubmatch(ready)
	if api == nil || brk == nil || !strings.Contains(ready, "STATUS=ready") {
		t.Fatalf("READY=1 came without a STATUS= naming the console and the broker: %q", ready)
	}
	// At this moment both already answer.
	resp, err := http.Get(api[1] + "readyz")
	if err != nil {
		t.Fatalf("/readyz at READY=1: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz at READY=1: %d %s", resp.StatusCode, body)
	}
	mqttConnack(t, brk[1])
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%s is still in the environment: services would inherit it", k, v)
		}
	}

	for range 3 {
		nextWith(t, msgs, "WATCHDOG=1")
	}
	cancel() // what SIGTERM does (main's signal.NotifyContext)
	stopping := nextWith(t, msgs, "STOPPING=1")
	if !strings.Contains(stopping, "STATUS=stopping") {
		t.Errorf("STOPPING=1 without a STATUS= line: %q", stopping)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("edged run exited %d:\n%s", code, logs.String())
		}
	case <-time.After(60 * time.Second): // hang guard only
		t.Fatalf("edged run did not return after STOPPING=1:\n%s", logs.String())
	}
}

// mqttConnack sends an MQTT 3.1.1 CONNECT to addr and wants a CONNACK
// that accepts it.
func mqttConnack(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 60*time.Second)
	if err != nil {
		t.Fatalf("broker at READY=1: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second)) // hang guard only
	id := "sdnotify-test"
	vh := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30}, byte(len(id)>>8), byte(len(id)))
	vh = append(vh, id...)
	if _, err := c.Write(append([]byte{0x10, byte(len(vh))}, vh...)); err != nil {
		t.Fatalf("broker at READY=1: %v", err)
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(c, ack); err != nil {
		t.Fatalf("broker at READY=1: no CONNACK: %v", err)
	}
	if !bytes.Equal(ack, []byte{0x20, 2, 0, 0}) {
		t.Fatalf("broker at READY=1: CONNACK % x, want 20 02 00 00", ack)
	}
}

// TestSystemdNotifyOff: without NOTIFY_SOCKET nothing is sent and there
// is no watchdog; a WATCHDOG_PID naming another process turns the
// watchdog off (sd_watchdog_enabled(3)); a bad WATCHDOG_USEC too.
func TestSystemdNotifyOff(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "30000000")
	n := newSDNotifier(nil)
	if n.addr != nil || n.watchdogEvery() != 0 {
		t.Fatalf("without NOTIFY_SOCKET: %+v", n)
	}
	n.notify("READY=1") // no socket: nothing to do, no panic

	sock, msgs := notifySocket(t)
	for _, tc := range []struct {
		usec, pid string
		every     time.Duration
	}{
		{"30000000", strconv.Itoa(os.Getpid()), 15 * time.Second},
		{"30000000", "", 15 * time.Second},
		{"30000000", strconv.Itoa(os.Getpid() + 1), 0},
		{"soon", "", 0},
		{"", "", 0},
	} {
		t.Setenv("NOTIFY_SOCKET", sock)
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		n := newSDNotifier(nil)
		if got := n.watchdogEvery(); got != tc.every {
			t.Errorf("WATCHDOG_USEC=%q WATCHDOG_PID=%q: every %s, want %s", tc.usec, tc.pid, got, tc.every)
		}
		n.notify("STATUS=x" + tc.usec)
		if m := nextWith(t, msgs, "STATUS=x"+tc.usec); m != "STATUS=x"+tc.usec {
			t.Errorf("got %q", m)
		}
	}
	if s := sdStatus("a\nb" + strings.Repeat("é", 200)); strings.Contains(s, "\n") || len(s) > 220 {
		t.Errorf("sdStatus: %q", s)
	}
}
