package supervisor

import (
	"bytes"
	"os"
	"strconv"
)

// clockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every architecture edged builds for).
const clockTicks = 100

// treeUsage is the resource use of a service's process tree, from /proc.
type treeUsage struct {
	RSS   int64   // sum of VmRSS, bytes
	Anon  int64   // sum of RssAnon, bytes
	CPU   float64 // seconds: utime+stime of the live processes plus cutime+cstime (their reaped children)
	Procs int
}

// readTree reads the use of pid and its descendants; ok is false when pid
// is gone.
func readTree(pid int) (treeUsage, bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return treeUsage{}, false
	}
	type proc struct {
		ppid int
		cpu  float64
	}
	procs := map[int]proc{}
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, cpu, ok := procStat(p)
		if !ok {
			continue
		}
		procs[p] = proc{ppid, cpu}
		children[ppid] = append(children[ppid], p)
	}
	if _, ok := procs[pid]; !ok {
		return treeUsage{}, false
	}
	var u treeUsage
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		u.Procs++
		u.CPU += procs[p].cpu
		rss, anon := procMem(p)
		u.RSS += rss
		u.Anon += anon
		queue = append(queue, children[p]...)
	}
	return u, true
}

// procStat reads the parent and the CPU seconds (own and reaped
// children's) from /proc/<pid>/stat.
func procStat(pid int) (ppid int, cpu float64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name is in parentheses and may hold anything.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(b[i+1:])
	// After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return 0, 0, false
	}
	ppid, _ = strconv.Atoi(string(f[1]))
	var ticks int64
	for _, k := range []int{11, 12, 13, 14} {
		n, _ := strconv.ParseInt(string(f[k]), 10, 64)
		ticks += n
	}
	return ppid, float64(ticks) / clockTicks, true
}

// procMem reads VmRSS and RssAnon, in bytes, from /proc/<pid>/status.
func procMem(pid int) (rss, anon int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			rss = kib(v)
		} else if v, ok := bytes.CutPrefix(line, []byte("RssAnon:")); ok {
			anon = kib(v)
		}
	}
	return rss, anon
}

func kib(v []byte) int64 {
	f := bytes.Fields(v)
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(string(f[0]), 10, 64)
	return n << 10
}
