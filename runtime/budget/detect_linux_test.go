package budget

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cgroups "github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"
)

// fakeHost builds a directory tree that looks like a cgroup mount and the
// /proc files detection reads.
type fakeHost struct {
	t       *testing.T
	root    string
	proc    string
	mode    cgroups.CGMode
	cgroupM map[string]bool // paths (relative to root) that statfs as cgroup v1
	ro      map[string]bool // paths (relative to root) not writable
}

func newFakeHost(t *testing.T, mode cgroups.CGMode) *fakeHost {
	d := t.TempDir()
	return &fakeHost{t: t, root: filepath.Join(d, "cgroup"), proc: filepath.Join(d, "proc"), mode: mode,
		cgroupM: map[string]bool{}, ro: map[string]bool{}}
}

func (f *fakeHost) file(rel, content string) {
	p := filepath.Join(f.root, rel)
	if strings.HasPrefix(rel, "/proc/") {
		p = filepath.Join(f.proc, strings.TrimPrefix(rel, "/proc/"))
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeHost) sys() system {
	return system{
		root:           f.root,
		procSelfCgroup: filepath.Join(f.proc, "self/cgroup"),
		procCgroups:    filepath.Join(f.proc, "cgroups"),
		mode:           func() cgroups.CGMode { return f.mode },
		fsType: func(p string) (int64, error) {
			rel, _ := filepath.Rel(f.root, p)
			if f.cgroupM[rel] {
				return unix.CGROUP_SUPER_MAGIC, nil
			}
			return 0, errors.New("not a cgroup mount")
		},
		writable: func(p string) error {
			rel, _ := filepath.Rel(f.root, p)
			if f.ro[rel] {
				return unix.EROFS
			}
			return nil
		},
	}
}

const procCgroupsOn = "#subsys_name hierarchy num_cgroups enabled\ncpu 1 1 1\nmemory 4 1 1\npids 8 1 1\n"
const procCgroupsOff = "#subsys_name hierarchy num_cgroups enabled\ncpu 0 1 1\nmemory 0 1 0\npids 0 1 1\n"

func TestDetect(t *testing.T) {
	const own = "system.slice/edged.service"
	v2 := func(rootCtrl, ownCtrl, procCgroups string) func(*fakeHost) {
		return func(f *fakeHost) {
			f.file("/proc/self/cgroup", "0::/"+own+"\n")
			f.file("/proc/cgroups", procCgroups)
			f.file("cgroup.controllers", rootCtrl)
			f.file(own+"/cgroup.controllers", ownCtrl)
		}
	}
	v1 := func(f *fakeHost) {
		f.file("/proc/self/cgroup", "4:memory:/"+own+"\n2:cpu,cpuacct:/"+own+"\n8:pids:/\n0::/"+own+"\n")
		f.file("/proc/cgroups", procCgroupsOn)
		for _, c := range []string{"memory", "cpu", "cpuacct"} {
			f.file(c+"/"+own+"/cgroup.procs", "")
			f.cgroupM[c] = true
		}
		f.file("pids/cgroup.procs", "")
		f.cgroupM["pids"] = true
	}
	for _, tc := range []struct {
		name    string
		mode    cgroups.CGMode
		setup   func(*fakeHost)
		want    Mode
		reason  string
		notes   string
		v1Count int
	}{
		{name: "v2 delegated", mode: cgroups.Unified, setup: v2("cpuset cpu io memory pids", "cpu memory pids", procCgroupsOn),
			want: ModeCgroup2, reason: "cgroup v2 at "},
		{name: "v2 without pids", mode: cgroups.Unified, setup: v2("cpu memory pids", "cpu memory", procCgroupsOn),
			want: ModeCgroup2, notes: "pids controller not delegated"},
		{name: "v2 memory disabled on the kernel command line", mode: cgroups.Unified, setup: v2("cpu pids", "cpu pids", procCgroupsOff),
			want: ModeRlimit, reason: "memory cgroup disabled: add cgroup_enable=memory cgroup_memory=1 to /boot/firmware/cmdline.txt"},
		{name: "v2 memory not in the hierarchy", mode: cgroups.Unified, setup: v2("cpu pids", "cpu pids", procCgroupsOn),
			want: ModeRlimit, reason: "memory controller not available in the cgroup v2 hierarchy"},
		{name: "v2 not delegated", mode: cgroups.Unified, setup: v2("cpu memory pids", "", procCgroupsOn),
			want: ModeRlimit, reason: "memory controller not delegated to"},
		{name: "v2 read-only", mode: cgroups.Unified, setup: func(f *fakeHost) {
			v2("cpu memory pids", "cpu memory pids", procCgroupsOn)(f)
			f.ro[own] = true
		}, want: ModeRlimit, reason: "no write access to"},
		{name: "v1 hybrid", mode: cgroups.Hybrid, setup: v1, want: ModeCgroup1, reason: "cgroup v1 (hybrid host): memory=", v1Count: 4},
		{name: "v1 memory disabled", mode: cgroups.Legacy, setup: func(f *fakeHost) {
			v1(f)
			f.file("/proc/cgroups", procCgroupsOff)
		}, want: ModeRlimit, reason: "memory cgroup disabled: add cgroup_enable=memory"},
		{name: "v1 memory not mounted", mode: cgroups.Legacy, setup: func(f *fakeHost) {
			v1(f)
			f.cgroupM["memory"] = false
		}, want: ModeRlimit, reason: "cgroup v1 memory controller not mounted at"},
		{name: "v1 hybrid with memory on the v2 side", mode: cgroups.Hybrid, setup: func(f *fakeHost) {
			v1(f)
			f.cgroupM["memory"] = false
			f.file("unified/cgroup.controllers", "memory")
		}, want: ModeRlimit, reason: "memory controller is on the cgroup v2 side of a hybrid host"},
		{name: "v1 container without delegation", mode: cgroups.Legacy, setup: func(f *fakeHost) {
			v1(f)
			f.ro["memory/"+own] = true
		}, want: ModeRlimit, reason: "no write access to"},
		{name: "v1 without pids", mode: cgroups.Legacy, setup: func(f *fakeHost) {
			v1(f)
			f.cgroupM["pids"] = false
		}, want: ModeCgroup1, notes: "cgroup v1 pids controller not mounted", v1Count: 3},
		{name: "no cgroups", mode: cgroups.Unavailable, setup: func(*fakeHost) {}, want: ModeRlimit, reason: "no cgroup filesystem mounted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHost(t, tc.mode)
			tc.setup(f)
			h := detect(f.sys())
			t.Logf("%s: %s; notes %q", h.mode, h.reason, h.notes)
			if h.mode != tc.want || !strings.Contains(h.reason, tc.reason) {
				t.Fatalf("detect = %s, %q; want %s, containing %q", h.mode, h.reason, tc.want, tc.reason)
			}
			if tc.notes != "" && !strings.Contains(strings.Join(h.notes, "\n"), tc.notes) {
				t.Errorf("notes = %q, want one containing %q", h.notes, tc.notes)
			}
			if tc.v1Count != 0 && len(h.v1Dirs) != tc.v1Count {
				t.Errorf("v1 controllers = %v, want %d of them", h.v1Dirs, tc.v1Count)
			}
		})
	}
}

// TestDetectHere reports what this machine offers; under root it must find
// a cgroup mode (the cgroup tests depend on it).
func TestDetectHere(t *testing.T) {
	mode, reason := Detect("")
	t.Logf("this host: %s: %s", mode, reason)
	if reason == "" {
		t.Error("Detect gave no reason")
	}
}
