package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/edged-gateway/edged/runtime/supervisor"
)

// TestServicesAreSandboxed runs a built-in service in a daemon that has a
// secret in its environment: the service's process has a clean environment
// with what its config names, runs as the default service user, and that
// user cannot read the daemon's api.token. Without service_usage there are
// no usage readings of the gateway.
func TestServicesAreSandboxed(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running services as another user needs root")
	}
	t.Setenv("EDGED_TEST_SECRET", "hunter2")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: sandboxed}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: porch, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 35}}
services:
  - name: stats
    kind: aggregate
    subscribe: ["+/temperature"]
    config: {window: 1s, grace: 0s, stats: [mean]}
    env: {GREETING: hello}
`, filepath.Join(dir, "data"))
	d, stop := startDaemon(t, writeConfig(t, dir, cfg))
	defer stop()
	waitUntil(t, "the service running", func() bool {
		st := d.sup.Status()
		return len(st) == 1 && st[0].State == supervisor.StateRunning
	})
	waitUntil(t, "aggregates of porch", func() bool { return hasMetric(d, "porch", "temperature_mean") })
	if st := d.sup.Status()[0]; !st.Healthy || !strings.Contains(st.HealthDetail, "aggregate: ticking; ") || !strings.Contains(st.HealthDetail, "windows closed") {
		t.Errorf("health %v %q: want healthy, from the built-in's own check with its figures", st.Healthy, st.HealthDetail)
	}
	pid := d.sup.Status()[0].Pid
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "EDGED_TEST_SECRET") || !strings.Contains(string(env), "GREETING=hello") {
		t.Errorf("the service's environment %q: want GREETING and not the daemon's secret", strings.ReplaceAll(string(env), "\x00", " "))
	}
	owner, name := defaultServiceOwner()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	wantUID := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d\n", owner.UID, owner.UID, owner.UID, owner.UID)
	if !strings.Contains(string(status), wantUID) {
		t.Errorf("the service's /proc status has no %q (user %s)", wantUID, name)
	}
	token := filepath.Join(d.cfg.DataDir, tokenFileName)
	if fi, err := os.Stat(token); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("api.token: %v %v, want mode 0600", fi, err)
	}
	// What the service's user gets when it opens the token.
	cat := exec.Command("/bin/cat", token)
	cat.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(owner.UID), Gid: uint32(owner.GID), Groups: []uint32{}}}
	if out, err := cat.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
		t.Errorf("reading api.token as %s: %v %q, want permission denied", name, err, out)
	}
	state := filepath.Join(d.cfg.DataDir, "services", "stats")
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != uint32(owner.UID) {
		t.Errorf("state directory %s: %v %v, want 0700 and the service user's", state, fi, err)
	}
	if !strings.Contains(string(env), "STATE_DIRECTORY="+state) {
		t.Errorf("no STATE_DIRECTORY=%s in the service's environment", state)
	}
	if rs := d.recent.Last("sandboxed"); len(rs) != 0 {
		t.Errorf("usage readings of the gateway without service_usage: %v", rs)
	}
}

// TestServiceUsageReadingsAreOptIn: with service_usage.every set, each
// service's memory (its process's RSS, not 0) and CPU become readings of
// the gateway, listed as a device of kind gateway.
func TestServiceUsageReadingsAreOptIn(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: gw}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: porch, kind: sim, interval: 50ms, options: {metric: temperature, unit: C, waveform: constant, min: 35}}
service_usage: {every: 1s}
services:
  - name: stats
    kind: aggregate
    subscribe: ["+/temperature"]
    config: {window: 1s, stats: [mean]}
`, filepath.Join(dir, "data"))
	d, stop := startDaemon(t, writeConfig(t, dir, cfg))
	defer stop()
	waitUntil(t, "a usage reading", func() bool { return hasMetric(d, "gw", "stats_memory_bytes") })
	for _, r := range d.recent.Last("gw") {
		if r.Metric == "stats_memory_bytes" && (r.Value < 1<<20 || r.Unit != "B") {
			t.Errorf("stats_memory_bytes %v %s, want the process's RSS in B", r.Value, r.Unit)
		}
	}
	kinds := map[string]string{}
	for _, dd := range d.devicesDoc().(map[string]any)["devices"].([]deviceDoc) {
		kinds[dd.Name] = dd.Kind
	}
	if kinds["gw"] != "gateway" {
		t.Errorf("the gateway's usage device has kind %q, want gateway", kinds["gw"])
	}
}

// TestDynamicUsersAreTheirOwn: services with user: dynamic each run as a
// uid of their own from 61184-65519, the same one at every load.
func TestDynamicUsersAreTheirOwn(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running services as another user needs root")
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: dyn}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: porch, kind: sim, interval: 50ms, options: {metric: temperature, unit: C, waveform: constant, min: 35}}
services:
  - {name: one, kind: aggregate, user: dynamic, subscribe: ["+/temperature"], config: {window: 1s, stats: [mean]}}
  - {name: two, kind: aggregate, user: dynamic, subscribe: ["+/temperature"], config: {window: 1s, stats: [mean]}}
`, filepath.Join(dir, "data"))
	path := writeConfig(t, dir, cfg)
	first, _, err := loadConfig(path, builtinKinds())
	if err != nil {
		t.Fatal(err)
	}
	d, stop := startDaemon(t, path)
	defer stop()
	waitUntil(t, "both running", func() bool {
		st := d.sup.Status()
		return len(st) == 2 && st[0].State == supervisor.StateRunning && st[1].State == supervisor.StateRunning
	})
	uids := map[string]string{}
	for i, st := range d.sup.Status() {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(st.Pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				uids[st.Name] = strings.Fields(v)[0]
			}
		}
		want := first.specs[i].User
		if want == nil || want.UID < 61184 || want.UID > 65519 || uids[st.Name] != strconv.Itoa(want.UID) {
			t.Errorf("%s runs as uid %s, config allocated %+v: want the same, in 61184-65519", st.Name, uids[st.Name], want)
		}
	}
	if uids["one"] == uids["two"] {
		t.Errorf("both services run as uid %s", uids["one"])
	}
}
