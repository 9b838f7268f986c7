package pluginapi_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/status"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

func testReadings(n int, seq0 uint64) []pluginapi.Reading {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	units := []string{"C", "%", "bar", ""}
	rs := make([]pluginapi.Reading, n)
	for i := range rs {
		rs[i] = pluginapi.Reading{
			Device: fmt.Sprintf("dev%d", i%7), Metric: fmt.Sprintf("m%d", i%3),
			Value: float64(i)*1.5 - 100, Unit: units[i%len(units)],
			Time: t0.Add(time.Duration(i) * time.Millisecond), Seq: seq0 + uint64(i), Source: "test",
		}
	}
	rs[0].Value = math.MaxFloat64
	rs[0].Time = time.Time{} // zero time stays zero
	return rs
}

func sameReading(a, b pluginapi.Reading) bool {
	return a.Device == b.Device && a.Metric == b.Metric && a.Value == b.Value && a.Unit == b.Unit &&
		a.Time.Equal(b.Time) && a.Time.IsZero() == b.Time.IsZero() && a.Seq == b.Seq && a.Source == b.Source
}

func TestRoundTripPreservesReadings(t *testing.T) {
	for _, tc := range []struct {
		mode  string
		scale float64
	}{{"passthrough", 1}, {"double", 2}} {
		t.Run(tc.mode, func(t *testing.T) {
			col := newCollector()
			conn := start(t, pluginapi.LaunchConfig{OnEmit: col.onEmit})
			configure(t, conn, tc.mode, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// 2500 is over MaxBatch: it travels as three batches.
			var sent []pluginapi.Reading
			for i, n := range []int{1, 300, 2500} {
				rs := testReadings(n, uint64(1000*i+1))
				if err := conn.Send(ctx, rs); err != nil {
					t.Fatalf("Send: %v", err)
				}
				sent = append(sent, rs...)
			}
			got := col.wait(t, len(sent))
			for i := range sent {
				want := sent[i]
				if want.Value != math.MaxFloat64 {
					want.Value *= tc.scale
				} else if tc.scale != 1 {
					want.Value = math.Inf(1)
				}
				if !sameReading(got[i], want) {
					t.Fatalf("reading %d: got %+v, want %+v", i, got[i], want)
				}
			}
			st := conn.Stats()
			if st.ReadingsSent != int64(len(sent)) || st.BatchesSent != 5 {
				t.Errorf("stats %+v: want 5 batches, %d readings sent", st, len(sent))
			}
		})
	}
}

func TestCommandRoundTrip(t *testing.T) {
	var mu sync.Mutex
	var cmds []pluginapi.Command
	col := newCollector()
	conn := start(t, pluginapi.LaunchConfig{
		OnEmit: col.onEmit,
		OnCommand: func(ctx context.Context, c pluginapi.Command) pluginapi.Result {
			mu.Lock()
			cmds = append(cmds, c)
			mu.Unlock()
			if c.Device == "relay1" {
				return pluginapi.Result{Error: "relay1 is locked"}
			}
			return pluginapi.Result{OK: true}
		},
	})
	configure(t, conn, "command", 0)
	ctx := context.Background()
	for _, dev := range []string{"relay1", "relay2"} {
		if err := conn.Send(ctx, []pluginapi.Reading{{Device: dev, Metric: "state"}}); err != nil {
			t.Fatal(err)
		}
	}
	got := col.wait(t, 2)
	if got[0].Device != "relay1" || got[0].Value != 0 || got[0].Source != "relay1 is locked" {
		t.Errorf("refused command came back as %+v", got[0])
	}
	if got[1].Device != "relay2" || got[1].Value != 1 || got[1].Source != "" {
		t.Errorf("accepted command came back as %+v", got[1])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cmds) != 2 || cmds[0].Action != "set" || string(cmds[0].Value) != `{"on":true}` || cmds[0].ID == cmds[1].ID || cmds[0].ID == "" {
		t.Errorf("commands seen by the host: %+v", cmds)
	}
}

func TestConfigureHangReturnsAtDeadline(t *testing.T) {
	conn := start(t, pluginapi.LaunchConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := conn.Configure(ctx, pluginapi.Config{Name: "hang", JSON: []byte(`{"mode":"hang_configure"}`)})
	took := time.Since(t0)
	if err == nil {
		t.Fatal("Configure of a hanging service succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), conn.Name()) {
		t.Errorf("error %q: want a deadline error naming the service", err)
	}
	if took > time.Minute { // a hang guard, not a speed test
		t.Errorf("Configure returned after %v, the deadline was 300ms", took)
	}
	// The host is not stuck: the same connection still answers.
	ok, detail, err := conn.Health(context.Background())
	if err != nil || ok || detail != "not configured" {
		t.Errorf("Health after a hung Configure = %v %q %v", ok, detail, err)
	}
	select {
	case <-conn.Exited():
		t.Error("the service exited; a timeout should kill nothing")
	default:
	}
}

func TestConfigureRejectedErrorIsPlain(t *testing.T) {
	conn := start(t, pluginapi.LaunchConfig{})
	err := conn.Configure(context.Background(), pluginapi.Config{Name: "r", JSON: []byte(`{"mode":"reject"}`)})
	if err == nil || !strings.Contains(err.Error(), "config refused") || !strings.Contains(err.Error(), "configure service") {
		t.Fatalf("error %v: want the service's reason with the operation", err)
	}
	if _, isGRPC := status.FromError(err); isGRPC {
		t.Errorf("a grpc status leaks: %#v", err)
	}
	err = conn.Configure(context.Background(), pluginapi.Config{Name: "r", JSON: []byte(`{"mode":"x","bogus":1}`)})
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown config key: error %v", err)
	}
	if ok, detail, _ := conn.Health(context.Background()); ok || !strings.Contains(detail, "bogus") {
		t.Errorf("health after failed configure: %v %q", ok, detail)
	}
}

func TestCrashIsObserved(t *testing.T) {
	t.Run("on configure", func(t *testing.T) {
		conn := start(t, pluginapi.LaunchConfig{})
		err := conn.Configure(context.Background(), pluginapi.Config{Name: "c", JSON: []byte(`{"mode":"crash_on_configure"}`)})
		if !errors.Is(err, pluginapi.ErrExited) || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("Configure error %v: want it to say the service exited with status 3", err)
		}
		waitExited(t, conn)
		if err := conn.ExitErr(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("ExitErr = %v, want exit status 3", err)
		}
	})
	t.Run("after batches", func(t *testing.T) {
		conn := start(t, pluginapi.LaunchConfig{})
		configure(t, conn, "crash_after", 3)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = conn.Send(ctx, testReadings(2, 1))
			if i >= 3 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		if !errors.Is(err, pluginapi.ErrExited) || !strings.Contains(err.Error(), "exit status 4") {
			t.Errorf("Send after the crash: %v, want it to say exit status 4", err)
		}
		waitExited(t, conn)
		if err := conn.ExitErr(); !errors.Is(err, pluginapi.ErrExited) || !strings.Contains(err.Error(), "exit status 4") {
			t.Errorf("ExitErr = %v, want exit status 4", err)
		}
	})
}

func waitExited(t *testing.T, conn *pluginapi.Conn) {
	t.Helper()
	select {
	case <-conn.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("Exited never closed")
	}
}

func fileSHA256(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

func TestChecksum(t *testing.T) {
	actual := fileSHA256(t, testservice)
	t.Run("wrong refuses to start", func(t *testing.T) {
		wrong := sha256.Sum256([]byte("another build"))
		cmd := exec.Command(testservice)
		_, err := pluginapi.Launch(context.Background(), pluginapi.LaunchConfig{Name: "sum", Cmd: cmd, SecureChecksum: wrong[:]})
		if !errors.Is(err, pluginapi.ErrChecksumMismatch) {
			t.Fatalf("Launch error %v, want ErrChecksumMismatch", err)
		}
		for _, want := range []string{fmt.Sprintf("%x", wrong), fmt.Sprintf("%x", actual), testservice, `"sum"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
		if cmd.Process != nil {
			t.Errorf("the process was started (pid %d)", cmd.Process.Pid)
		}
	})
	t.Run("right starts", func(t *testing.T) {
		col := newCollector()
		conn := start(t, pluginapi.LaunchConfig{SecureChecksum: actual, OnEmit: col.onEmit})
		configure(t, conn, "passthrough", 0)
		if err := conn.Send(context.Background(), testReadings(3, 1)); err != nil {
			t.Fatal(err)
		}
		col.wait(t, 3)
	})
}

func TestStart(t *testing.T) {
	t.Run("slower than StartTimeout fails", func(t *testing.T) {
		// The service would take an hour to start: Launch returning at all
		// shows the timeout works (the 2-minute guard is a hang guard, not
		// a speed test).
		cmd := exec.Command(testservice, "-start-delay", "1h")
		done := make(chan error, 1)
		go func() {
			_, err := pluginapi.Launch(context.Background(), pluginapi.LaunchConfig{Name: "slow", Cmd: cmd, StartTimeout: 300 * time.Millisecond})
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(2 * time.Minute):
			t.Fatal("Launch did not return: the start timeout was not applied")
		}
		if err == nil || !strings.Contains(err.Error(), "timeout") || !strings.Contains(err.Error(), `"slow"`) {
			t.Fatalf("Launch error %v, want a start timeout naming the service", err)
		}
		if cmd.Process == nil {
			t.Fatal("process never started")
		}
		recordPid(cmd.Process.Pid)
		if processAlive(cmd.Process.Pid) {
			t.Errorf("pid %d left running after the failed start", cmd.Process.Pid)
		}
	})
	t.Run("slow within StartTimeout works", func(t *testing.T) {
		col := newCollector()
		conn := start(t, pluginapi.LaunchConfig{Cmd: exec.Command(testservice, "-start-delay", "300ms"), OnEmit: col.onEmit})
		configure(t, conn, "passthrough", 0)
		if err := conn.Send(context.Background(), testReadings(1, 1)); err != nil {
			t.Fatal(err)
		}
		col.wait(t, 1)
	})
	t.Run("not a plugin", func(t *testing.T) {
		cmd := exec.Command("sh", "-c", "echo hello")
		_, err := pluginapi.Launch(context.Background(), pluginapi.LaunchConfig{Name: "echo", Cmd: cmd, StartTimeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), `start service "echo"`) {
			t.Fatalf("Launch error %v", err)
		}
		if cmd.Process != nil {
			recordPid(cmd.Process.Pid)
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		_, err := pluginapi.Launch(context.Background(), pluginapi.LaunchConfig{Name: "gone", Cmd: exec.Command("/nonexistent/svc")})
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Launch error %v, want one that is os.ErrNotExist", err)
		}
	})
	t.Run("run by hand refuses", func(t *testing.T) {
		out, err := exec.Command(testservice).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "plugin") {
			t.Fatalf("testservice outside edged: %v %s", err, out)
		}
	})
}

func TestEmitFloodIsBoundedByWindow(t *testing.T) {
	const window = 8
	conn := start(t, pluginapi.LaunchConfig{
		EmitWindow: window,
		OnEmit:     func([]pluginapi.Reading) { time.Sleep(2 * time.Millisecond) },
	})
	configure(t, conn, "flood", 0)
	// The service emits as fast as it can; the host's queue must stay
	// within the window while 200 batches trickle through OnEmit.
	guard := time.Now().Add(20 * time.Second)
	for conn.Stats().BatchesEmitted < 200 {
		if q := conn.Stats().EmitQueued; q > window {
			t.Fatalf("host queue at %d batches, window is %d", q, window)
		}
		if time.Now().After(guard) {
			t.Fatalf("only %d batches emitted", conn.Stats().BatchesEmitted)
		}
		time.Sleep(time.Millisecond)
	}
	if st := conn.Stats(); st.EmitQueuePeak > window || st.EmitQueuePeak < window/2 {
		t.Errorf("emit queue peak %d: want the window (%d) reached, never passed", st.EmitQueuePeak, window)
	}
	// The flood stops when the session drains.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Close(ctx); err != nil {
		t.Errorf("Close of a flooding service: %v", err)
	}
}

func TestLogsArriveStructured(t *testing.T) {
	t.Run("to Logger", func(t *testing.T) {
		var store recordStore
		col := newCollector()
		conn := start(t, pluginapi.LaunchConfig{Logger: store.logger(), OnEmit: col.onEmit})
		configure(t, conn, "logspam", 2000)
		col.wait(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := conn.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// Host.Log over the session.
		r, attrs, ok := store.find("spam")
		if !ok || r.Level != slog.LevelInfo || attrs["mode"] != "logspam" || attrs["i"] == nil || attrs["service"] != conn.Name() {
			t.Errorf("spam record: found %v, level %v, attrs %v", ok, r.Level, attrs)
		}
		// hclog JSON on the service's stderr, forwarded by go-plugin.
		r, attrs, ok = store.find("from stderr")
		if !ok || r.Level != slog.LevelWarn || attrs["answer"] != float64(42) || attrs["service"] != conn.Name() {
			t.Errorf("stderr record: found %v, level %v, attrs %v", ok, r.Level, attrs)
		}
		// A stray fmt.Println.
		if _, attrs, ok = store.find("plain stdout line"); !ok || attrs["stream"] != "stdout" {
			t.Errorf("stdout line: found %v, attrs %v", ok, attrs)
		}
		if n := conn.Stats().Logs; n < 1 || n > 2001 {
			t.Errorf("%d logs counted", n)
		}
	})
	t.Run("to OnLog", func(t *testing.T) {
		type line struct {
			level slog.Level
			msg   string
			attrs map[string]string
		}
		var mu sync.Mutex
		var lines []line
		col := newCollector()
		conn := start(t, pluginapi.LaunchConfig{OnEmit: col.onEmit, OnLog: func(l slog.Level, msg string, as []slog.Attr) {
			m := map[string]string{}
			for _, a := range as {
				m[a.Key] = a.Value.String()
			}
			mu.Lock()
			lines = append(lines, line{l, msg, m})
			mu.Unlock()
		}})
		configure(t, conn, "logspam", 3)
		col.wait(t, 1)
		mu.Lock()
		defer mu.Unlock()
		if len(lines) != 4 || lines[0].msg != "spam" || lines[0].attrs["i"] != "0" ||
			lines[3].level != slog.LevelWarn || lines[3].attrs["err"] != "disk full" {
			t.Errorf("OnLog got %+v", lines)
		}
	})
}

func TestHealth(t *testing.T) {
	healths := make(chan string, 4)
	conn := start(t, pluginapi.LaunchConfig{OnHealth: func(ok bool, detail string) {
		healths <- fmt.Sprint(ok, " ", detail)
	}})
	if ok, detail, err := conn.Health(context.Background()); err != nil || ok || detail != "not configured" {
		t.Errorf("Health before Configure = %v %q %v", ok, detail, err)
	}
	configure(t, conn, "unhealthy", 0)
	select {
	case h := <-healths:
		if h != "false sensor stale" {
			t.Errorf("OnHealth got %q", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnHealth never called")
	}
	if ok, detail, err := conn.Health(context.Background()); err != nil || ok || detail != "sensor stale" {
		t.Errorf("Health = %v %q %v", ok, detail, err)
	}
}

func TestCloseIsGraceful(t *testing.T) {
	col := newCollector()
	conn := start(t, pluginapi.LaunchConfig{OnEmit: col.onEmit})
	configure(t, conn, "passthrough", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		if err := conn.Send(ctx, testReadings(50, uint64(i*50+1))); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// Drain: everything sent was processed and emitted before Close returned.
	col.mu.Lock()
	n := len(col.got)
	col.mu.Unlock()
	if n != 1000 {
		t.Errorf("%d of 1000 readings came back before Close returned", n)
	}
	select {
	case <-conn.Exited():
	default:
		t.Fatal("Close returned before the process exited")
	}
	if err := conn.ExitErr(); err != nil {
		t.Errorf("ExitErr after a clean close: %v", err)
	}
	if processAlive(conn.Pid()) {
		t.Errorf("pid %d alive after Close", conn.Pid())
	}
	if err := conn.Send(ctx, testReadings(1, 1)); !errors.Is(err, pluginapi.ErrClosed) {
		t.Errorf("Send after Close: %v, want ErrClosed", err)
	}
	if err := conn.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestCloseKillsServiceThatIgnoresDrain(t *testing.T) {
	conn := start(t, pluginapi.LaunchConfig{})
	configure(t, conn, "stuck", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err := conn.Close(ctx)
	took := time.Since(t0)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Close error %v, want killed at the deadline", err)
	}
	if took < 450*time.Millisecond || took > time.Minute { // at the deadline, never before; the upper bound is a hang guard
		t.Errorf("Close took %v with a 500ms deadline", took)
	}
	if err := conn.ExitErr(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("ExitErr = %v, want killed", err)
	}
	if processAlive(conn.Pid()) {
		t.Errorf("pid %d alive after Close", conn.Pid())
	}
}

func TestKill(t *testing.T) {
	conn := start(t, pluginapi.LaunchConfig{})
	configure(t, conn, "passthrough", 0)
	conn.Kill()
	waitExited(t, conn)
	if processAlive(conn.Pid()) {
		t.Errorf("pid %d alive after Kill", conn.Pid())
	}
	if err := conn.Send(context.Background(), testReadings(1, 1)); !errors.Is(err, pluginapi.ErrClosed) {
		t.Errorf("Send after Kill: %v", err)
	}
	if _, _, err := conn.Health(context.Background()); !errors.Is(err, pluginapi.ErrClosed) {
		t.Errorf("Health after Kill: %v", err)
	}
	conn.Kill() // idempotent
}

func TestSendHonoursContextWhenServiceIsSlow(t *testing.T) {
	conn := start(t, pluginapi.LaunchConfig{})
	configure(t, conn, "passthrough", 0)
	// A second Configure that never returns holds off every Process call,
	// so the batches stay in the service's window.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_ = conn.Configure(ctx, pluginapi.Config{Name: "h", JSON: []byte(`{"mode":"hang_configure"}`)})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	var err error
	sent := 0
	for err == nil && sent < 1000 {
		err = conn.Send(ctx2, testReadings(1, 1))
		sent++
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a blocked service: %v after %d batches", err, sent)
	}
	if sent > pluginapi.ServiceWindow+1 {
		t.Errorf("%d batches accepted by a service that processes none; its window is %d", sent-1, pluginapi.ServiceWindow)
	}
}
