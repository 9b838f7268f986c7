package budget

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of utime and stime in /proc/<pid>/stat: USER_HZ is 100
// on every Linux architecture edged builds for.
const userHZ = 100

// dataBackstop is the RLIMIT_DATA set for a memory budget. It is not the
// budget: RLIMIT_DATA counts private writable address space, and a Go
// program reserves ~40 MiB of it before its first allocation, so a limit at
// the budget kills a Go service with a fraction of it in use ("fatal error:
// runtime: out of memory", exit 2). The watchdog enforces the budget on RSS;
// the backstop only stops a runaway allocation between two samples from
// taking the whole board.
func dataBackstop(memory int64) uint64 {
	return uint64(2*memory + 64<<20)
}

// setDataLimit lowers RLIMIT_DATA of pid to the backstop for memory
// (never raising a lower hard limit the service already has).
func setDataLimit(pid int, memory int64) (uint64, error) {
	want := dataBackstop(memory)
	var old unix.Rlimit
	if err := unix.Prlimit(pid, unix.RLIMIT_DATA, nil, &old); err != nil {
		return 0, fmt.Errorf("read RLIMIT_DATA of pid %d: %w", pid, err)
	}
	lim := unix.Rlimit{Cur: min(want, old.Max), Max: min(want, old.Max)}
	if err := unix.Prlimit(pid, unix.RLIMIT_DATA, &lim, nil); err != nil {
		return 0, fmt.Errorf("set RLIMIT_DATA of pid %d to %d: %w", pid, lim.Cur, err)
	}
	return lim.Cur, nil
}

// procStatus reads VmRSS and VmHWM, in bytes, from /proc/<pid>/status. ok
// is false when the process is gone or a zombie (which has no memory).
func procStatus(pid int) (rss, hwm int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, false
	}
	var seen bool
	for line := range bytes.Lines(b) {
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			rss, seen = statusKiB(line[len("VmRSS:"):]), true
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			hwm = statusKiB(line[len("VmHWM:"):])
		}
	}
	return rss, max(hwm, rss), seen
}

func statusKiB(field []byte) int64 {
	f := bytes.Fields(field)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return n << 10
}

// procCPU reads the CPU time (user + system) of pid from /proc/<pid>/stat.
// A zombie still has its stat, so the final value can be read after exit
// and before the supervisor reaps the process.
func procCPU(pid int) (float64, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	st, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return float64(ut+st) / userHZ, true
}

// watchdog enforces a memory budget without cgroups: it reads the RSS of one
// process every interval and SIGKILLs it past the limit. It holds a pidfd so
// that neither a sample nor the kill can reach another process that reused
// the pid. The goroutine ends when the process exits or on close.
type watchdog struct {
	pid      int
	pidfd    int // -1 where pidfd_open is missing (kernels before 5.3)
	limit    int64
	interval time.Duration
	log      *slog.Logger

	rss, peak atomic.Int64
	cpuBits   atomic.Uint64 // float64 seconds
	killed    atomic.Bool
	gone      atomic.Bool

	stop chan struct{}
	done chan struct{}
}

func startWatchdog(pid int, limit int64, interval time.Duration, log *slog.Logger) (*watchdog, error) {
	w := &watchdog{pid: pid, pidfd: -1, limit: limit, interval: interval, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	fd, err := unix.PidfdOpen(pid, 0)
	switch {
	case err == nil:
		w.pidfd = fd
	case errors.Is(err, unix.ENOSYS):
		log.Warn("pidfd_open unavailable: watchdog signals by pid", "pid", pid)
	default:
		return nil, fmt.Errorf("watch pid %d: %w", pid, err)
	}
	w.sample()
	go w.run()
	return w, nil
}

func (w *watchdog) run() {
	defer close(w.done)
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for !w.gone.Load() {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.sample()
		}
	}
}

// sample reads the process once, kills it past the limit, and marks it
// gone when it has exited.
func (w *watchdog) sample() {
	if w.exited() {
		w.finish()
		return
	}
	rss, hwm, ok := procStatus(w.pid)
	if !ok {
		w.finish()
		return
	}
	w.rss.Store(rss)
	w.raisePeak(hwm)
	if cpu, ok := procCPU(w.pid); ok {
		w.cpuBits.Store(math.Float64bits(cpu))
	}
	if w.limit > 0 && rss > w.limit && !w.killed.Load() {
		if err := w.signal(unix.SIGKILL); err != nil {
			w.log.Error("kill service over its memory budget", "pid", w.pid, "err", err)
			return
		}
		w.killed.Store(true)
		w.log.Warn("killed service over its memory budget", "pid", w.pid, "rss_bytes", rss, "memory_bytes", w.limit)
	}
}

// finish records the final CPU time (a zombie still has it) and stops sampling.
func (w *watchdog) finish() {
	if cpu, ok := procCPU(w.pid); ok && !w.reused() {
		w.cpuBits.Store(math.Float64bits(cpu))
	}
	w.rss.Store(0)
	w.gone.Store(true)
}

func (w *watchdog) raisePeak(v int64) {
	for {
		old := w.peak.Load()
		if v <= old || w.peak.CompareAndSwap(old, v) {
			return
		}
	}
}

// exited reports whether the process has exited (it may be an unreaped zombie).
func (w *watchdog) exited() bool {
	if w.pidfd < 0 {
		return false // procStatus tells
	}
	fds := []unix.PollFd{{Fd: int32(w.pidfd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// reused reports whether the pid may now name another process: without a
// pidfd there is no telling, so a reaped pid is assumed reused.
func (w *watchdog) reused() bool {
	if w.pidfd < 0 {
		_, err := os.Stat("/proc/" + strconv.Itoa(w.pid))
		return err != nil
	}
	return false
}

func (w *watchdog) signal(sig unix.Signal) error {
	if w.pidfd >= 0 {
		return unix.PidfdSendSignal(w.pidfd, sig, nil, 0)
	}
	return unix.Kill(w.pid, sig)
}

// kill SIGKILLs the process unless it has exited, and waits up to wait for it to.
func (w *watchdog) kill(wait time.Duration) error {
	if w.gone.Load() || w.exited() {
		return nil
	}
	if err := w.signal(unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill pid %d: %w", w.pid, err)
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if w.exited() {
			return nil
		}
		if _, _, ok := procStatus(w.pid); !ok {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("pid %d still running %v after SIGKILL", w.pid, wait)
}

// close stops the goroutine and releases the pidfd. Not safe to call twice.
func (w *watchdog) close() {
	close(w.stop)
	<-w.done
	if !w.gone.Load() {
		w.sample() // last values before the group closes
	}
	if w.pidfd >= 0 {
		unix.Close(w.pidfd)
	}
}

func (w *watchdog) stats() Stats {
	s := Stats{
		RSS:         w.rss.Load(),
		PeakRSS:     w.peak.Load(),
		CPUSeconds:  math.Float64frombits(w.cpuBits.Load()),
		Enforcement: ModeRlimit,
	}
	if w.killed.Load() {
		s.OOMKills = 1
	}
	return s
}
