package supervisor

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// hostileReport is what testdata/hostile saw at its start.
type hostileReport struct {
	Cgroup string            `json:"cgroup"`
	UID    int               `json:"uid"`
	GID    int               `json:"gid"`
	Groups []int             `json:"groups"`
	Env    []string          `json:"env"`
	Reads  map[string]string `json:"reads"`
	Child  int               `json:"child"`
}

// hostileSpec runs testdata/hostile with env; it writes its report into a
// directory anyone may write to (it may run as nobody), whose path it returns.
func hostileSpec(t *testing.T, name string, env ...string) (Spec, string) {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's parent is private to the test's user too.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.json")
	sp := spec(name, "")
	sp.Command = func() *exec.Cmd { return exec.Command(hostile) }
	sp.Env = append([]string{"HOSTILE_REPORT=" + report}, env...)
	return sp, report
}

func readReport(t *testing.T, path string) hostileReport {
	t.Helper()
	var r hostileReport
	waitFor(t, "the service's report", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && json.Unmarshal(b, &r) == nil
	})
	return r
}

// procEnviron reads the environment of a running process.
func procEnviron(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// procStatusField reads one line of /proc/<pid>/status, without its name.
func procStatusField(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			return strings.Join(strings.Fields(string(v)), " ")
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

// TestServiceGetsACleanEnvironment: the daemon's environment holds a
// secret; the service's process has only the sandbox's base environment,
// what its spec names, and go-plugin's own variables.
func TestServiceGetsACleanEnvironment(t *testing.T) {
	t.Setenv("EDGED_TEST_SECRET", "hunter2")
	t.Setenv("TZ", "Europe/Berlin")
	sp, report := hostileSpec(t, "clean-env", "GREETING=hello")
	s := run(t, Config{}, sp)
	waitFor(t, "running", func() bool { return status(s, "clean-env").State == StateRunning })
	env := procEnviron(t, status(s, "clean-env").Pid)
	r := readReport(t, report)
	for _, list := range [][]string{env, r.Env} {
		keys := map[string]string{}
		for _, kv := range list {
			k, v, _ := strings.Cut(kv, "=")
			keys[k] = v
			switch {
			case k == "PATH", k == "TZ", k == "LANG", k == "LC_ALL", k == "GREETING", k == "HOSTILE_REPORT",
				strings.HasPrefix(k, "PLUGIN_"), k == "EDGED_PLUGIN": // go-plugin's and the handshake cookie
			default:
				t.Errorf("the service's environment has %s", kv)
			}
		}
		if keys["GREETING"] != "hello" || keys["TZ"] != "Europe/Berlin" || !strings.Contains(keys["PATH"], "/usr/bin") {
			t.Errorf("the service's environment misses what it was given: %q", list)
		}
	}
	t.Logf("service environment: %d variables", len(env))
}

// TestServiceRunsAsItsOwnUser: with edged as root, a service runs as the
// sandbox's user with no supplementary groups, no_new_privs and its own
// process group, and cannot read the daemon's 0600 files.
func TestServiceRunsAsItsOwnUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing the user needs root")
	}
	data := t.TempDir() // like edged's data dir: 0700, the daemon's
	if err := os.Chmod(data, 0o700); err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, f := range []string{"api.token", "cloud.key", "broker.passwd"} {
		p := filepath.Join(data, f)
		if err := os.WriteFile(p, []byte("secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, p)
	}
	// A file readable by anyone, in a directory the service may enter: the
	// refusals below are then the sandbox's doing, not a broken service.
	open := filepath.Join(t.TempDir(), "public")
	os.Chmod(filepath.Dir(open), 0o755)
	if err := os.WriteFile(open, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sp, report := hostileSpec(t, "own-user", "HOSTILE_READ="+strings.Join(append(secrets, open), ":"))
	states := t.TempDir()
	os.Chmod(states, 0o711)
	sp.StateDir = filepath.Join(states, "own-user")
	nobody := &pluginapi.Owner{UID: 65534, GID: 65534}
	s := run(t, Config{Sandbox: Sandbox{User: nobody}}, sp)
	waitFor(t, "running", func() bool { return status(s, "own-user").State == StateRunning })
	pid := status(s, "own-user").Pid
	if uid := procStatusField(t, pid, "Uid"); uid != "65534 65534 65534 65534" {
		t.Errorf("Uid %q, want 65534 (real, effective, saved, fs)", uid)
	}
	if gid := procStatusField(t, pid, "Gid"); gid != "65534 65534 65534 65534" {
		t.Errorf("Gid %q, want 65534", gid)
	}
	if g := procStatusField(t, pid, "Groups"); g != "" {
		t.Errorf("supplementary groups %q, want none", g)
	}
	for _, f := range []string{"CapPrm", "CapEff", "CapAmb"} {
		if c := procStatusField(t, pid, f); c != "0000000000000000" {
			t.Errorf("%s %s, want no capabilities", f, c)
		}
	}
	if nnp := procStatusField(t, pid, "NoNewPrivs"); nnp != "1" {
		t.Errorf("NoNewPrivs %q, want 1", nnp)
	}
	if pgid, err := syscallGetpgid(pid); err != nil || pgid != pid {
		t.Errorf("process group %d (%v), want its own (%d)", pgid, err, pid)
	}
	r := readReport(t, report)
	for _, p := range secrets {
		if !strings.Contains(r.Reads[p], "permission denied") {
			t.Errorf("reading %s from the service: %q, want permission denied", p, r.Reads[p])
		}
	}
	if r.Reads[open] != "ok" {
		t.Errorf("reading a public file from the service: %q, want ok", r.Reads[open])
	}
	if r.Reads["write state"] != "ok" {
		t.Errorf("writing into its state directory: %q, want ok", r.Reads["write state"])
	}
	if fi, err := os.Stat(sp.StateDir); err != nil || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Errorf("state directory %v %v: want 0700, owned by the service's user", fi, err)
	}
	if r.UID != 65534 || len(r.Groups) != 0 {
		t.Errorf("the service saw uid %d groups %v", r.UID, r.Groups)
	}
}

// TestBudgetHoldsFromTheFirstInstruction: the service's first act already
// happens inside its budget group, and 200 MiB touched before any
// handshake under a 32 MiB budget get it killed as oom.
func TestBudgetHoldsFromTheFirstInstruction(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("budgets with cgroups need root")
	}
	mgr, err := budget.New(budget.Config{Parent: "edged-sandbox-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	if mgr.Mode() != budget.ModeCgroup1 && mgr.Mode() != budget.ModeCgroup2 {
		t.Skipf("no cgroups here (%s: %s)", mgr.Mode(), mgr.Reason())
	}
	calm, report := hostileSpec(t, "first-act", "HOSTILE_FORK=1")
	calm.Budget = budget.Budget{Memory: 64 << 20}
	hog, _ := hostileSpec(t, "early-hog", "HOSTILE_ALLOC_MIB=200")
	hog.Budget = budget.Budget{Memory: 32 << 20}
	s := run(t, Config{Budgets: mgr}, calm, hog)
	r := readReport(t, report)
	want := "edged-sandbox-test/first-act"
	if !strings.Contains(r.Cgroup, want) {
		t.Errorf("the service's first read of /proc/self/cgroup:\n%s\nwant it in %s", r.Cgroup, want)
	}
	if r.Child == 0 {
		t.Fatal("the service started no child")
	}
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(r.Child) + "/cgroup")
	if err != nil || !strings.Contains(string(cg), want) {
		t.Errorf("the child the service forked before its handshake is in\n%s(%v)\nwant it in %s", cg, err, want)
	}
	waitFor(t, "the child counted", func() bool { return status(s, "first-act").Processes == 2 })
	waitFor(t, "the early hog killed", func() bool { return status(s, "early-hog").OOMKills >= 1 })
	st := status(s, "early-hog")
	if !strings.Contains(st.LastError, "oom: killed for exceeding its memory budget of 32Mi") {
		t.Errorf("early hog: %q, want an oom error naming the 32Mi budget", st.LastError)
	}
	t.Logf("first act in %q; early hog: %s", strings.TrimSpace(r.Cgroup), st.LastError)
}

func syscallGetpgid(pid int) (int, error) { return syscall.Getpgid(pid) }

// TestChecksummedServiceRunsItsCheckedCopy: with a checksum, what runs is
// the sealed copy that was hashed, not the file, which could change after
// the check.
func TestChecksummedServiceRunsItsCheckedCopy(t *testing.T) {
	b, err := os.ReadFile(hostile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	sp, _ := hostileSpec(t, "checked")
	sp.Checksum = sum[:]
	s := run(t, Config{}, sp)
	waitFor(t, "running", func() bool { return status(s, "checked").State == StateRunning })
	exe, err := os.Readlink("/proc/" + strconv.Itoa(status(s, "checked").Pid) + "/exe")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(exe, "/memfd:edged-service-checked") {
		t.Errorf("the service runs %s, want the sealed copy /memfd:edged-service-checked", exe)
	}
}

// TestUnhealthyServiceIsRestartedUntilTheBreakerOpens: a service that says
// it is unhealthy (its own HealthChecker) is restarted after UnhealthyAfter
// checks in a row, counted, and the breaker opens like for crashes.
func TestUnhealthyServiceIsRestartedUntilTheBreakerOpens(t *testing.T) {
	sp, _ := hostileSpec(t, "sick", "HOSTILE_HEALTH=bad")
	sp.HealthEvery, sp.UnhealthyAfter = 20*time.Millisecond, 3
	s := run(t, Config{Crashes: 2, Window: time.Minute}, sp)
	waitFor(t, "the breaker open", func() bool { return status(s, "sick").State == StateFailed })
	st := status(s, "sick")
	if st.HealthRestarts != 2 || st.Restarts != 2 || st.Healthy {
		t.Errorf("health restarts %d, restarts %d, healthy %v: want 2, 2, false", st.HealthRestarts, st.Restarts, st.Healthy)
	}
	if !strings.Contains(st.LastError, "unhealthy for 3 health checks in a row") || !strings.Contains(st.LastError, "deliberately unhealthy") {
		t.Errorf("last error %q, want it to say unhealthy for 3 checks and the service's reason", st.LastError)
	}
	well, _ := hostileSpec(t, "well")
	s2 := run(t, Config{}, well)
	waitFor(t, "healthy", func() bool { st := status(s2, "well"); return st.Healthy && st.HealthDetail == "fine" })
}

// TestForkedChildrenDieWithTheService: a child the service forked, with no
// budget group to kill it, dies with the service (its process group).
func TestForkedChildrenDieWithTheService(t *testing.T) {
	sp, report := hostileSpec(t, "forker", "HOSTILE_FORK=1")
	s := run(t, Config{}, sp)
	r := readReport(t, report)
	waitFor(t, "the child counted", func() bool { return status(s, "forker").Processes == 2 })
	pid := status(s, "forker").Pid
	syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, "the child gone", func() bool {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(r.Child) + "/stat")
		// Gone, or a zombie of nobody's until init reaps it.
		return err != nil || strings.Contains(string(b), ") Z ")
	})
}

// TestUsageIsTheProcessTreesAsProcSeesIt: rss_bytes and anon_bytes are
// what /proc says of the service's process, with a budget and without.
func TestUsageIsTheProcessTreesAsProcSeesIt(t *testing.T) {
	cfg := Config{}
	plain, _ := hostileSpec(t, "plain", "HOSTILE_ALLOC_MIB=40")
	specs := []Spec{plain}
	if os.Geteuid() == 0 {
		mgr, err := budget.New(budget.Config{Parent: "edged-usage-test"})
		if err != nil {
			t.Fatal(err)
		}
		defer mgr.Close()
		cfg.Budgets = mgr
		capped, _ := hostileSpec(t, "capped", "HOSTILE_ALLOC_MIB=40")
		capped.Budget = budget.Budget{Memory: 128 << 20}
		specs = append(specs, capped)
	}
	s := run(t, cfg, specs...)
	for _, sp := range specs {
		waitFor(t, sp.Name+" running", func() bool { return status(s, sp.Name).State == StateRunning })
		st := status(s, sp.Name)
		rss := kibField(t, procStatusField(t, st.Pid, "VmRSS"))
		anon := kibField(t, procStatusField(t, st.Pid, "RssAnon"))
		// The process is idle: what moves between the two reads is the Go
		// runtime's own few pages.
		near := func(a, b int64) bool { d := a - b; return d < 4<<20 && d > -4<<20 }
		if !near(st.RSS, rss) || !near(st.AnonBytes, anon) || st.AnonBytes < 40<<20 {
			t.Errorf("%s: status rss %d anon %d, /proc VmRSS %d RssAnon %d: want them within 4 MiB, anon over 40 MiB",
				sp.Name, st.RSS, st.AnonBytes, rss, anon)
		}
		if st.PeakRSS < st.RSS || st.Processes != 1 {
			t.Errorf("%s: peak %d below rss %d, or processes %d (want 1)", sp.Name, st.PeakRSS, st.RSS, st.Processes)
		}
		t.Logf("%s: rss %d KiB (/proc %d), anon %d KiB (/proc %d), charged %d KiB, enforced %v",
			sp.Name, st.RSS>>10, rss>>10, st.AnonBytes>>10, anon>>10, st.ChargedBytes>>10, st.Enforced)
	}
}

func kibField(t *testing.T, v string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", v, err)
	}
	return n << 10
}

// TestStatusSaysWhichBudgetFieldsAreNotEnforced: under the rlimit
// fallback, status names cpu and pids as not enforced, memory as the
// watchdog's.
func TestStatusSaysWhichBudgetFieldsAreNotEnforced(t *testing.T) {
	mgr, err := budget.New(budget.Config{Mode: budget.ModeRlimit})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	sp, _ := hostileSpec(t, "rlimited")
	sp.Budget = budget.Budget{Memory: 256 << 20, CPU: 0.5, Pids: 32}
	s := run(t, Config{Budgets: mgr}, sp)
	waitFor(t, "running", func() bool { return status(s, "rlimited").State == StateRunning })
	got := status(s, "rlimited").Enforced
	if got["cpu"] != "not enforced" || got["pids"] != "not enforced" || !strings.HasPrefix(got["memory"], "rlimit") {
		t.Errorf("enforced %v, want cpu and pids not enforced, memory by rlimit", got)
	}
}
