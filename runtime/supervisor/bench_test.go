package supervisor

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkCrashToRunning measures the time from a SIGKILL of a service to
// the service running (configured) again, with a 1 ms backoff so the figure
// is the restart itself; the default backoff adds 0.4–0.6 s to the first.
// It also reports the RSS of one running service process. "shim" starts
// it through the exec shim (this test binary, as edged does with itself),
// "direct" without.
func BenchmarkCrashToRunning(b *testing.B) {
	b.Run("direct", func(b *testing.B) { benchCrashToRunning(b, Sandbox{}) })
	b.Run("shim", func(b *testing.B) { benchCrashToRunning(b, Sandbox{Shim: self}) })
}

func benchCrashToRunning(b *testing.B, sb Sandbox) {
	s, err := New(Config{BackoffMin: time.Millisecond, BackoffMax: time.Millisecond, Crashes: 1 << 30, Sandbox: sb}, []Spec{spec("svc", "passthrough")})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitB(b, func() bool { st := status(s, "svc"); return st.State == StateRunning && st.Pid > 0 })
	rss := float64(rssKiB(status(s, "svc").Pid)) / 1024
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pid := status(s, "svc").Pid
		if pid <= 0 {
			b.Fatalf("no pid to kill (%d)", pid) // kill(0) would hit our own process group
		}
		start := time.Now()
		syscall.Kill(pid, syscall.SIGKILL)
		waitB(b, func() bool { st := status(s, "svc"); return st.State == StateRunning && st.Pid > 0 && st.Pid != pid })
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms_crash_to_running")
	b.ReportMetric(rss, "service_rss_MiB")
}

func waitB(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// rssKiB reads VmRSS of pid.
func rssKiB(pid int) int {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}
