package budget

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	cgroups "github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// memoryDisabled is the fix for the stock Raspberry Pi OS kernel, which
// keeps the memory controller off unless asked.
const memoryDisabled = "memory cgroup disabled: add cgroup_enable=memory cgroup_memory=1 to /boot/firmware/cmdline.txt (/boot/cmdline.txt before Bookworm) and reboot"

// v1Controllers are the cgroup v1 controllers a group joins; memory is
// required, the others enforce cpu and pids budgets and count CPU time.
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids"}

// v2Controllers are the cgroup v2 controllers enabled for service groups.
var v2Controllers = []string{"memory", "cpu", "pids"}

// system is what detection reads, so tests can point it at fake trees.
type system struct {
	root           string
	procSelfCgroup string
	procCgroups    string
	mode           func() cgroups.CGMode
	fsType         func(path string) (int64, error)
	writable       func(path string) error
}

func realSystem(root string) system {
	s := system{
		root:           root,
		procSelfCgroup: "/proc/self/cgroup",
		procCgroups:    "/proc/cgroups",
		fsType:         statfsType,
		writable:       writable,
	}
	s.mode = func() cgroups.CGMode { return modeAt(root, statfsType) }
	if filepath.Clean(root) == DefaultRoot {
		s.mode = cgroups.Mode
	}
	return s
}

// host is what detection found: the mode, why, and where the daemon's own
// cgroups are.
type host struct {
	mode   Mode
	reason string
	v2Dir  string            // cgroup2: the daemon's own cgroup
	v2Ctrl []string          // cgroup2: controllers delegated to it, of v2Controllers
	v1Dirs map[string]string // cgroup1: controller -> the daemon's own cgroup in it
	notes  []string          // budgets that will not be enforced, and why
}

func fallback(format string, args ...any) host {
	return host{mode: ModeRlimit, reason: fmt.Sprintf(format, args...)}
}

// Detect reports how budgets can be enforced on this host, with cgroup
// filesystems mounted at root (DefaultRoot if empty), and why: ModeCgroup2
// on a unified host whose memory controller is delegated to edged,
// ModeCgroup1 on a legacy or hybrid host (v1 memory, cpu and pids
// controllers), otherwise ModeRlimit with what is missing and how to fix it.
// It only reads; New does the setup and may still fall back.
func Detect(root string) (Mode, string) {
	if root == "" {
		root = DefaultRoot
	}
	h := detect(realSystem(root))
	return h.mode, h.reason
}

func detect(s system) host {
	switch s.mode() {
	case cgroups.Unified:
		return detectV2(s)
	case cgroups.Legacy:
		return detectV1(s, false)
	case cgroups.Hybrid:
		return detectV1(s, true)
	default:
		return fallback("no cgroup filesystem mounted at %s", s.root)
	}
}

func detectV2(s system) host {
	_, own, err := cgroups.ParseCgroupFileUnified(s.procSelfCgroup)
	if err != nil {
		return fallback("read %s: %v", s.procSelfCgroup, err)
	}
	if own == "" {
		return fallback("no cgroup v2 entry in %s", s.procSelfCgroup)
	}
	if rootCtrl := readFields(filepath.Join(s.root, "cgroup.controllers")); !has(rootCtrl, "memory") {
		if on, known := controllerEnabled(s.procCgroups, "memory"); known && !on {
			return fallback("%s", memoryDisabled)
		}
		return fallback("memory controller not available in the cgroup v2 hierarchy at %s (cgroup.controllers: %q): disabled, or bound to a cgroup v1 hierarchy", s.root, strings.Join(rootCtrl, " "))
	}
	dir := filepath.Join(s.root, own)
	if _, err := os.Stat(dir); err != nil {
		return fallback("edged's cgroup %s is not under %s: %v", own, s.root, err)
	}
	ctrl := readFields(filepath.Join(dir, "cgroup.controllers"))
	if !has(ctrl, "memory") {
		return fallback("memory controller not delegated to %s: run edged as a systemd service with Delegate=yes", dir)
	}
	if err := s.writable(dir); err != nil {
		return fallback("no write access to %s (not root, or a container without cgroup delegation?): %v", dir, err)
	}
	h := host{mode: ModeCgroup2, v2Dir: dir}
	for _, c := range v2Controllers {
		if has(ctrl, c) {
			h.v2Ctrl = append(h.v2Ctrl, c)
		} else {
			h.notes = append(h.notes, fmt.Sprintf("%s controller not delegated to %s: %s budgets not enforced", c, dir, c))
		}
	}
	h.reason = fmt.Sprintf("cgroup v2 at %s (%s)", dir, strings.Join(h.v2Ctrl, " "))
	return h
}

func detectV1(s system, hybrid bool) host {
	if on, known := controllerEnabled(s.procCgroups, "memory"); known && !on {
		return fallback("%s", memoryDisabled)
	}
	paths, _, err := cgroups.ParseCgroupFileUnified(s.procSelfCgroup)
	if err != nil {
		return fallback("read %s: %v", s.procSelfCgroup, err)
	}
	h := host{mode: ModeCgroup1, v1Dirs: map[string]string{}}
	var where []string
	for _, c := range v1Controllers {
		dir, err := v1Dir(s, c, paths)
		if err != nil {
			if c == "memory" {
				if hybrid && has(readFields(filepath.Join(s.root, "unified", "cgroup.controllers")), "memory") {
					return fallback("memory controller is on the cgroup v2 side of a hybrid host; edged uses v1 controllers there: boot with systemd.unified_cgroup_hierarchy=1 for a pure v2 host")
				}
				return fallback("%v", err)
			}
			if c != "cpuacct" {
				h.notes = append(h.notes, fmt.Sprintf("%v: %s budgets not enforced", err, c))
			}
			continue
		}
		if err := s.writable(dir); err != nil {
			if c == "memory" {
				return fallback("no write access to %s (container without delegation?): %v", dir, err)
			}
			h.notes = append(h.notes, fmt.Sprintf("no write access to %s: %s budgets not enforced", dir, c))
			continue
		}
		h.v1Dirs[c] = dir
		where = append(where, c+"="+dir)
	}
	kind := "legacy"
	if hybrid {
		kind = "hybrid"
	}
	h.reason = fmt.Sprintf("cgroup v1 (%s host): %s", kind, strings.Join(where, " "))
	return h
}

// v1Dir finds the daemon's own cgroup directory in controller c's hierarchy.
func v1Dir(s system, c string, paths map[string]string) (string, error) {
	mount := filepath.Join(s.root, c)
	typ, err := s.fsType(mount)
	if err != nil || typ != unix.CGROUP_SUPER_MAGIC {
		return "", fmt.Errorf("cgroup v1 %s controller not mounted at %s", c, mount)
	}
	own, ok := paths[c]
	if !ok {
		return "", fmt.Errorf("edged is in no cgroup v1 %s group (%s)", c, s.procSelfCgroup)
	}
	dir := filepath.Join(mount, own)
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("edged's %s cgroup %s is not under %s: %v", c, own, mount, err)
	}
	return dir, nil
}

// modeAt is cgroups.Mode for a root other than /sys/fs/cgroup.
func modeAt(root string, fsType func(string) (int64, error)) cgroups.CGMode {
	typ, err := fsType(root)
	switch {
	case err != nil:
		return cgroups.Unavailable
	case typ == unix.CGROUP2_SUPER_MAGIC:
		return cgroups.Unified
	}
	if typ, err := fsType(filepath.Join(root, "unified")); err == nil && typ == unix.CGROUP2_SUPER_MAGIC {
		return cgroups.Hybrid
	}
	if typ, err := fsType(filepath.Join(root, "memory")); err == nil && typ == unix.CGROUP_SUPER_MAGIC {
		return cgroups.Legacy
	}
	return cgroups.Unavailable
}

func statfsType(path string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Type), nil // int32 on 32-bit ARM
}

// writable reports whether this process may create groups in dir and move
// processes into them (a read-only mount or missing delegation says no).
func writable(dir string) error {
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return err
	}
	return unix.Access(filepath.Join(dir, "cgroup.procs"), unix.W_OK)
}

// controllerEnabled reads the enabled column of /proc/cgroups; known is
// false when the file or the controller's line is missing.
func controllerEnabled(path, name string) (on, known bool) {
	f, err := os.Open(path)
	if err != nil {
		return false, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 4 && fields[0] == name {
			return fields[3] == "1", true
		}
	}
	return false, false
}

func readFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
