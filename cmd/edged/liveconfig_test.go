package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// TestPlanConfigOnlyChangeIsLive: a plan that changes only a service's
// config gives it to the running process with Configure (same pid, and its
// output follows the new config); a config the service refuses fails the
// plan's step with the service's reason and rolls the plan back (same pid,
// old config); a change beyond the config restarts it (new pid). The
// service is a real third-party process: sdk/pluginapi's test service,
// fetched by file:// and checked by sha256.
func TestPlanConfigOnlyChangeIsLive(t *testing.T) {
	broker := mosquittotest.Start(t)
	bin, sum := buildTestService(t)
	cl := newCloud(t, broker.Addr(), "edged", "gw-live")
	d, priv, _ := startPlanDaemon(t, "gw-live", fmt.Sprintf("cloud: {url: %s}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\n", broker.URL()))
	planYAML := func(version int, mode, subscribe string) string {
		return fmt.Sprintf(`version: %d
gateway: {id: gw-live}
devices:
  - {name: boiler, kind: sim, interval: 50ms, options: {metric: temperature, unit: C, waveform: constant, min: 21}}
services:
  - {name: svc, url: "file://%s", sha256: %s, subscribe: [%q], config: {mode: %s}}
`, version, bin, sum, subscribe, mode)
	}
	svc := func() supervisor.Status {
		for _, s := range d.sup.Status() {
			if s.Name == "svc" {
				return s
			}
		}
		t.Fatal("no service svc")
		return supervisor.Status{}
	}
	emitted := func(what string, value float64) {
		t.Helper()
		cl.waitFor(what, func() bool {
			for _, s := range cl.values["boiler/temperature"] {
				if s.source == "svc" && s.value == value {
					return true
				}
			}
			return false
		})
	}
	step := func(st orchestrator.Status, name string) orchestrator.Step {
		for _, s := range st.Steps {
			if s.Name == name {
				return s
			}
		}
		t.Fatalf("no step %q in %+v", name, st.Steps)
		return orchestrator.Step{}
	}

	if st := applyPlan(t, d, priv, planYAML(1, "passthrough", "boiler/temperature")); st.State != orchestrator.StateApplied {
		t.Fatalf("v1: %+v", st)
	}
	emitted("the service's pass-through readings", 21)
	pid := svc().Pid

	// v2: only the config changes: Configure, same pid, doubled readings.
	st := applyPlan(t, d, priv, planYAML(2, "double", "boiler/temperature"))
	if st.State != orchestrator.StateApplied || step(st, "configure svc").State != "ok" ||
		!strings.Contains(step(st, "services").Detail, "configured [svc]") {
		t.Fatalf("v2 (config only): %+v", st)
	}
	if s := svc(); s.Pid != pid || s.Restarts != 0 || s.State != supervisor.StateRunning {
		t.Fatalf("after v2: pid %d (was %d), restarts %d, %s: want the same process", s.Pid, pid, s.Restarts, s.State)
	}
	emitted("the doubled readings of the new config", 42)

	// v3: a config the service refuses: the step fails with its reason,
	// the plan rolls back to v2, the process is the same.
	st = applyPlan(t, d, priv, planYAML(3, "reject", "boiler/temperature"))
	if st.State != orchestrator.StateRolledBack || step(st, "configure svc").State == "ok" ||
		!strings.Contains(step(st, "configure svc").Detail, "mode reject: config refused") ||
		!strings.Contains(st.Error, "mode reject: config refused") {
		t.Fatalf("v3 (refused config): %+v, want rolled back with the service's reason", st)
	}
	if s := svc(); s.Pid != pid || s.Restarts != 0 {
		t.Fatalf("after the refused v3: pid %d (was %d), restarts %d", s.Pid, pid, s.Restarts)
	}
	cl.mu.Lock()
	cl.values["boiler/temperature"] = nil
	cl.mu.Unlock()
	emitted("doubled readings still (v2's config) after the roll back", 42)

	// v4: the subscription changes too: a restart, a new process.
	st = applyPlan(t, d, priv, planYAML(4, "passthrough", "boiler/#"))
	if st.State != orchestrator.StateApplied || !strings.Contains(step(st, "services").Detail, "restarted [svc]") {
		t.Fatalf("v4 (subscription): %+v", st)
	}
	if s := svc(); s.Pid == pid || s.State != supervisor.StateRunning {
		t.Fatalf("after v4: pid %d (was %d), %s: want a new process", s.Pid, pid, s.State)
	}
}

// buildTestService builds sdk/pluginapi's test service (a third-party
// service whose config.mode says what it does) and returns its path and
// sha256.
func buildTestService(t *testing.T) (path, sum string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "testservice")
	build := exec.Command("go", "build", "-o", bin, "github.com/edged-gateway/edged/sdk/pluginapi/testdata/testservice")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the test service: %v\n%s", err, out)
	}
	return bin, fileSHA256(t, bin)
}
