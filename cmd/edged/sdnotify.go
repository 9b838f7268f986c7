package main

import (
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// sdNotifier speaks systemd's notify protocol (sd_notify(3)): one datagram
// of "KEY=value" lines to the unix socket named by NOTIFY_SOCKET. With
// Type=notify systemd counts edged as started on READY=1, and with
// WatchdogSec= it restarts edged when WATCHDOG=1 stops arriving.
//
// The environment is read once and removed, so the services edged starts
// do not inherit NOTIFY_SOCKET or WATCHDOG_USEC (systemd would ignore
// their messages, NotifyAccess=main, but a service must not be able to
// keep edged's watchdog alive). A zero sdNotifier (NOTIFY_SOCKET unset:
// not under systemd, or Type=simple) does nothing.
type sdNotifier struct {
	addr     *net.UnixAddr // nil: not under a notify-type unit
	watchdog time.Duration // WATCHDOG_USEC when it names this process; 0: no watchdog
	log      *slog.Logger
}

// newSDNotifier reads and unsets NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID.
func newSDNotifier(log *slog.Logger) *sdNotifier {
	n := &sdNotifier{log: log}
	sock, usec, pid := os.Getenv("NOTIFY_SOCKET"), os.Getenv("WATCHDOG_USEC"), os.Getenv("WATCHDOG_PID")
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		os.Unsetenv(k)
	}
	if sock == "" {
		return n
	}
	// A leading @ is an abstract socket; Go's net package maps it.
	n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"}
	us, err := strconv.ParseUint(usec, 10, 63)
	if usec == "" || err != nil || us == 0 {
		return n
	}
	// WATCHDOG_PID, when set, names the process meant (sd_watchdog_enabled(3)).
	if pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return n
	}
	n.watchdog = time.Duration(us) * time.Microsecond
	return n
}

// watchdogEvery is how often to send WATCHDOG=1 (half the timeout, as
// sd_watchdog_enabled(3) advises), or 0 when systemd does not watch.
func (n *sdNotifier) watchdogEvery() time.Duration { return n.watchdog / 2 }

// notify sends the state lines as one datagram; a failure is logged (at
// debug: systemd may be restarting) and otherwise ignored.
func (n *sdNotifier) notify(lines ...string) {
	if n == nil || n.addr == nil {
		return
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err == nil {
		_, err = conn.Write([]byte(strings.Join(lines, "\n")))
		conn.Close()
	}
	if err != nil && n.log != nil {
		n.log.Debug("sd_notify failed", "socket", n.addr.Name, "err", err)
	}
}

// sdStatus is a STATUS= line: one line, bounded.
func sdStatus(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:199], "") + "…"
	}
	return "STATUS=" + s
}

// sdReadyStatus is the STATUS= line at READY=1: where to reach edged
// (systemctl status shows it).
func (d *daemon) sdReadyStatus() string {
	parts := []string{"ready"}
	if d.api != nil {
		parts = append(parts, "console "+d.consoleURL())
	}
	if d.broker != nil && d.broker.Addr() != "" {
		parts = append(parts, "broker "+d.broker.Addr())
	}
	parts = append(parts, d.sdCounts())
	return strings.Join(parts, ", ")
}

// sdRunningStatus is the STATUS= line every status interval.
func (d *daemon) sdRunningStatus() string {
	s := "running, " + d.sdCounts()
	if d.link != nil {
		if d.link.Connected() {
			s += ", cloud connected"
		} else {
			s += ", cloud disconnected"
		}
	}
	return s
}

func (d *daemon) sdCounts() string {
	return strconv.Itoa(len(d.devs.current().Devices())) + " devices, outbox " + strconv.Itoa(int(d.outbox.Stats().Depth)) + " readings"
}
