package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// TestBuiltinServicesRunAsProcesses runs aggregate, rules and anomaly as
// real processes of a daemon on the simulated board: the aggregates and
// anomaly scores come back as readings, the rule switches the relay through
// the command path, and a service killed with SIGKILL is restarted.
func TestBuiltinServicesRunAsProcesses(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: svc}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: porch, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 35}}
  - {name: boiler, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: random_walk, min: 60, max: 80, period: 20ms, seed: 7}}
  - {name: fan-relay, kind: gpio-out, pin: GPIO27}
services:
  - name: stats
    kind: aggregate
    subscribe: ["+/temperature"]
    config: {window: 1s, grace: 0s, stats: [mean, count]}
    budget: {memory: 128Mi}
  - name: fan
    kind: rules
    subscribe: ["porch/temperature"]
    config:
      rules:
        - name: fan-on
          when: {device: porch, metric: temperature, above: 30}
          then: {command: {device: fan-relay, action: set, value: "on"}}
    budget: {memory: 128Mi}
  - name: boiler-watch
    kind: anomaly
    subscribe: ["boiler/temperature"]
    config: {warmup: 5, emit_all_scores: true}
`, dir)
	d, stopDaemon := startDaemon(t, writeConfig(t, dir, cfg))
	stop := sync.OnceValue(stopDaemon)
	defer stop()
	running := func() bool {
		for _, s := range d.sup.Status() {
			if s.State != supervisor.StateRunning {
				return false
			}
		}
		return true
	}
	waitUntil(t, "all services running", running)
	waitUntil(t, "aggregates of porch", func() bool { return hasMetric(d, "porch", "temperature_mean") })
	waitUntil(t, "anomaly scores of boiler", func() bool { return hasMetric(d, "boiler", "temperature_anomaly_score") })
	relay, _ := d.board.Simulated().Pin("GPIO27")
	waitUntil(t, "the rule to switch the relay on", func() bool { return relay.Level() == gpio.High })
	for _, r := range d.recent.Last("porch") {
		if r.Metric == "temperature_mean" && r.Value != 35 {
			t.Errorf("porch temperature_mean %v, want 35", r.Value)
		}
	}

	m := scrape(t, d.api.Addr())
	if m[`edged_service_up{service="stats"}`] != 1 || m[`edged_service_memory_budget_bytes{service="stats"}`] != 128<<20 {
		t.Errorf("service metrics: up %v, budget %v", m[`edged_service_up{service="stats"}`], m[`edged_service_memory_budget_bytes{service="stats"}`])
	}

	// kill -9 one service: the supervisor starts it again.
	var pid int
	for _, s := range d.sup.Status() {
		if s.Name == "stats" {
			pid = s.Pid
		}
	}
	if pid == 0 {
		t.Fatal("stats has no pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "stats restarted", func() bool {
		for _, s := range d.sup.Status() {
			if s.Name == "stats" {
				return s.Restarts == 1 && s.State == supervisor.StateRunning && s.Pid != pid
			}
		}
		return false
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// No service outlives the daemon.
	for _, s := range d.sup.Status() {
		if s.Pid != 0 {
			t.Errorf("service %s still has pid %d after stop", s.Name, s.Pid)
		}
	}
	if _, err := os.FindProcess(pid); err == nil {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("the killed service's pid %d still exists", pid)
		}
	}
}

func hasMetric(d *daemon, device, metric string) bool {
	for _, r := range d.recent.Last(device) {
		if r.Metric == metric {
			return true
		}
	}
	return false
}

func TestServiceConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	_, _, err := loadConfig(writeConfig(t, dir, `services:
  - {name: a, kind: agregate, subscribe: ["#"]}
  - {name: a, kind: rules, subscribe: ["a/#/b"], config: {rules: [{name: r, when: {device: x, metric: y, abve: 3}}]}}
  - {name: ext, path: /opt/svc, sha256: "abc", subscribe: ["#"]}
  - {name: noisy, kind: anomaly, budget: {memory: 1Ki, cpu: -1}}
`), builtinKinds())
	if err == nil {
		t.Fatal("bad services were accepted")
	}
	for _, want := range []string{
		`services[0].kind: "agregate" is not a built-in service: use one of aggregate, anomaly, rules`,
		`services[1].name: "a" is already used by services[0]`,
		`services[1].subscribe[0]`,
		`services[1].config`,
		`abve`,
		`services[2].sha256: "abc" is not a sha256`,
		`services[3].subscribe: is empty`,
		`services[3].budget`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

// TestServicesDieWithTheDaemon kills the edged binary with SIGKILL while a
// service runs: the kernel's parent-death signal takes the service down
// too, so no orphan keeps running (or holds its cgroup) after a crash.
func TestServicesDieWithTheDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the edged binary")
	}
	dir := t.TempDir()
	bin := buildEdged(t, dir)
	cfg := writeConfig(t, dir, fmt.Sprintf(`gateway: {id: orphan}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
devices: [{name: a, kind: sim, interval: 10ms}]
services: [{name: stats, kind: aggregate, subscribe: ["#"], config: {window: 1s}}]
`, filepath.Join(dir, "data")))
	c := startChild(t, bin, cfg)
	api := c.waitLine(t, regexp.MustCompile(`local API listening"? addr=(\S+)`))[1]
	c.waitLine(t, regexp.MustCompile(`service running.* pid=(\d+)`))
	var doc struct {
		Services []supervisor.Status `json:"services"`
	}
	if _, err := callAPI(t.Context(), "GET", "http://"+api+"/api/v1/services", "", nil, &doc, apiTimeout); err != nil || len(doc.Services) != 1 || doc.Services[0].Pid <= 0 {
		t.Fatalf("services: %v %+v", err, doc)
	}
	pid := doc.Services[0].Pid
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
	waitUntil(t, "the service to die with the daemon", func() bool { return syscall.Kill(pid, 0) != nil })
}

// TestAggregatesOnlyGoToTheCloud runs an aggregate with forward_raw false:
// the cloud gets the porch's window means, tagged with the service as
// source, and none of its raw readings; the boiler's raw readings, not
// aggregated, still go.
func TestAggregatesOnlyGoToTheCloud(t *testing.T) {
	cloudBroker := mosquittotest.Start(t)
	dir := t.TempDir()
	cl := newCloud(t, cloudBroker.Addr(), "edged", "gw-agg")
	d, stopDaemon := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-agg}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
cloud: {url: %s}
devices:
  - {name: porch, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 21}}
  - {name: boiler, kind: sim, interval: 50ms, options: {metric: temperature, unit: C, waveform: constant, min: 70}}
services:
  - name: porch-stats
    kind: aggregate
    subscribe: ["porch/#"]
    config: {window: 1s, grace: 0s, stats: [mean], forward_raw: false}
`, dir, cloudBroker.URL())))
	stop := sync.OnceValue(stopDaemon)
	defer stop()
	cl.waitFor("a porch mean and boiler readings", func() bool {
		return len(cl.values["porch/temperature_mean"]) >= 2 && len(cl.values["boiler/temperature"]) >= 5
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if n := len(cl.values["porch/temperature"]); n != 0 {
		t.Errorf("the cloud got %d raw porch readings; with forward_raw false only the aggregates go", n)
	}
	if m := cl.values["porch/temperature_mean"][0]; m.value != 21 || m.unit != "C" || m.source != "porch-stats" {
		t.Errorf("porch mean %+v, want 21 C from source porch-stats", m)
	}
	if b := cl.values["boiler/temperature"][0]; b.source != "" {
		t.Errorf("a device's own reading has source %q, want none", b.source)
	}
	_ = d
}

// TestTwoDaemonsKeepTheirOwnServiceGroups: a daemon starting on another
// data dir (here in the same process) clears only its own leftover groups,
// never the services of a daemon already running.
func TestTwoDaemonsKeepTheirOwnServiceGroups(t *testing.T) {
	cfg := func(dir string) string {
		return writeConfig(t, dir, fmt.Sprintf(`gateway: {id: two}
http: {listen: ""}
local_mqtt: {mode: off}
data_dir: %s
devices: [{name: porch, kind: sim, interval: 50ms}]
services:
  - {name: stats, kind: aggregate, subscribe: ["#"], config: {window: 1s}, budget: {memory: 128Mi}}
`, dir))
	}
	running := func(d *daemon) (int, bool) {
		for _, s := range d.sup.Status() {
			return s.Pid, s.State == supervisor.StateRunning && s.Restarts == 0
		}
		return 0, false
	}
	a, stopA := startDaemon(t, cfg(t.TempDir()))
	defer stopA()
	waitUntil(t, "a's service", func() bool { _, ok := running(a); return ok })
	if a.budgets.Mode() == budget.ModeNone || a.budgets.Mode() == budget.ModeRlimit {
		t.Skipf("budgets enforced by %s here: no cgroups to share", a.budgets.Mode())
	}
	pidA, _ := running(a)
	b, stopB := startDaemon(t, cfg(t.TempDir()))
	defer stopB()
	waitUntil(t, "b's service", func() bool { _, ok := running(b); return ok })
	time.Sleep(200 * time.Millisecond) // a kill would show as a restart by now
	if pid, ok := running(a); !ok || pid != pidA {
		t.Errorf("a's service after b started: pid %d (was %d), running without restarts %v", pid, pidA, ok)
	}
}
