package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/internal/testpki"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// planFixture is an operator with a signing key, and a gateway that
// trusts it.
type planFixture struct {
	t    *testing.T
	dir  string
	bin  string
	priv ed25519.PrivateKey
	api  string
}

func newPlanFixture(t *testing.T) *planFixture {
	t.Helper()
	dir := t.TempDir()
	pub, priv, _ := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		t.Fatal(err)
	}
	return &planFixture{t: t, dir: dir, bin: buildEdged(t, dir), priv: priv, api: freePort(t)}
}

// sign writes the signed envelope of a plan and returns its path.
func (f *planFixture) sign(name, yaml string) string {
	f.t.Helper()
	if _, err := plan.Parse([]byte(yaml)); err != nil {
		f.t.Fatalf("plan %s: %v", name, err)
	}
	path := filepath.Join(f.dir, name+".json")
	if err := os.WriteFile(path, plan.Sign(f.priv, []byte(yaml)).Encode(), 0o644); err != nil {
		f.t.Fatal(err)
	}
	return path
}

// edged runs the built binary with args and returns its exit code and
// output.
func (f *planFixture) edged(args ...string) (int, string) {
	f.t.Helper()
	cmd := exec.Command(f.bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return 0, out.String()
}

// services returns the running daemon's services by name.
func (f *planFixture) services() map[string]supervisor.Status {
	f.t.Helper()
	var doc struct{ Services []supervisor.Status }
	if _, err := callAPI(context.Background(), "GET", "http://"+f.api+"/api/v1/services", "", nil, &doc, apiTimeout); err != nil {
		f.t.Fatal(err)
	}
	out := map[string]supervisor.Status{}
	for _, s := range doc.Services {
		out[s.Name] = s
	}
	return out
}

func (f *planFixture) statusDoc() statusDoc {
	f.t.Helper()
	var doc statusDoc
	if _, err := callAPI(context.Background(), "GET", "http://"+f.api+"/api/v1/status", "", nil, &doc, apiTimeout); err != nil {
		f.t.Fatal(err)
	}
	return doc
}

func (f *planFixture) deviceNames() []string {
	var names []string
	for _, d := range f.statusDoc().Devices {
		names = append(names, d.Name)
	}
	slices.Sort(names)
	return names
}

const planV1 = `version: 1
gateway: {id: gw-plan}
devices:
  - {name: boiler, kind: sim, interval: 100ms, options: {metric: temperature, unit: C, waveform: sine, min: 60, max: 80, period: 1m}}
services:
  - name: stats
    kind: aggregate
    subscribe: ["+/temperature"]
    config: {window: 1s, grace: 0s}
    budget: {memory: 64Mi}
  - name: alerts
    kind: rules
    depends_on: [stats]
    subscribe: ["boiler/temperature"]
    config: {rules: [{name: hot, when: {device: boiler, metric: temperature, above: 79}, then: {alert: {metric: alert_hot}}}]}
`

// TestPlansFromTheCloud is the plan story end to end, through a real
// mosquitto and `edged plan push`: v1 (devices and services) applies; v2
// changes one service's config and adds a device, and only that service
// is touched (given its new config live, same pid); v3 adds a service that crashes on start and rolls back to v2;
// a replay of v1 is rejected; then edged is killed with SIGKILL and
// started with the broker down, and comes back on v2.
func TestPlansFromTheCloud(t *testing.T) {
	broker := mosquittotest.Start(t)
	f := newPlanFixture(t)
	cfg := writeConfig(t, f.dir, fmt.Sprintf(`gateway: {id: gw-plan}
data_dir: %s/data
cloud: {url: %s}
http: {listen: %s}
local_mqtt: {mode: off}
plans: {trusted_keys: [%s/ops.pub]}
`, f.dir, broker.URL(), f.api, f.dir))
	gw := startChild(t, f.bin, cfg)
	gw.waitLine(t, regexp.MustCompile(`local API listening`))
	push := func(env string) (int, string) {
		return f.edged("plan", "push", "--url", broker.URL(), "--gateway", "gw-plan", "--wait", "60s", env)
	}

	// v1: devices and services from nothing.
	if code, out := push(f.sign("v1", planV1)); code != 0 || !strings.Contains(out, "plan 1: applied") {
		t.Fatalf("push v1: exit %d\n%s", code, out)
	}
	v1 := f.services()
	if v1["stats"].State != supervisor.StateRunning || v1["alerts"].State != supervisor.StateRunning {
		t.Fatalf("after v1: %+v", v1)
	}
	if got := f.deviceNames(); !slices.Equal(got, []string{"boiler"}) {
		t.Errorf("devices after v1: %v (the config file's demo device must be gone)", got)
	}

	// v2: alerts gets another threshold, and a device is added.
	v2yaml := strings.Replace(planV1, "version: 1", "version: 2", 1)
	v2yaml = strings.Replace(v2yaml, "above: 79", "above: 75", 1)
	v2yaml = strings.Replace(v2yaml, "services:", "  - {name: flow, kind: sim, interval: 100ms, options: {metric: rate, unit: l/min, waveform: constant, min: 3}}\nservices:", 1)
	code, out := push(f.sign("v2", v2yaml))
	if code != 0 || !strings.Contains(out, "configured [alerts], unchanged [stats]") || !strings.Contains(out, "added [flow]") {
		t.Fatalf("push v2: exit %d\n%s", code, out)
	}
	v2 := f.services()
	if v2["stats"].Pid != v1["stats"].Pid {
		t.Errorf("stats restarted (pid %d → %d) though v2 did not change it", v1["stats"].Pid, v2["stats"].Pid)
	}
	if v2["alerts"].Pid != v1["alerts"].Pid || v2["alerts"].State != supervisor.StateRunning {
		t.Errorf("alerts not configured live with its new config: pid %d → %d, %s", v1["alerts"].Pid, v2["alerts"].Pid, v2["alerts"].State)
	}
	if got := f.deviceNames(); !slices.Equal(got, []string{"boiler", "flow"}) {
		t.Errorf("devices after v2: %v", got)
	}

	// v3: a third-party service that exits at once (its artifact is
	// /bin/false, fetched by file:// and checked by sha256): rolled back.
	sum := fileSHA256(t, "/bin/false")
	v3yaml := strings.Replace(v2yaml, "version: 2", "version: 3", 1) + fmt.Sprintf(`  - name: broken
    url: file:///bin/false
    sha256: %s
    subscribe: ["#"]
`, sum)
	code, out = push(f.sign("v3", v3yaml))
	if code != 1 || !strings.Contains(out, "plan 3: rolled_back") || !strings.Contains(out, `service "broken" failed its health gate`) {
		t.Fatalf("push v3: exit %d, want 1 with a roll back naming the service\n%s", code, out)
	}
	v3 := f.services()
	if _, ok := v3["broken"]; ok || v3["stats"].Pid != v2["stats"].Pid || v3["alerts"].Pid != v2["alerts"].Pid {
		t.Errorf("after the roll back: %+v, want v2's services with the same pids", v3)
	}
	if st := f.statusDoc().Plan; st.Version != 2 || st.State != orchestrator.StateRolledBack || st.Latest != 3 {
		t.Errorf("status plan %+v, want version 2 running after 3 rolled back", st)
	}

	// A replay of v1 changes nothing.
	code, out = push(filepath.Join(f.dir, "v1.json"))
	if code != 1 || !strings.Contains(out, "plan 1: rejected") || !strings.Contains(out, "not newer than the applied version 2") {
		t.Fatalf("replayed v1: exit %d\n%s", code, out)
	}
	if got := f.services(); got["alerts"].Pid != v2["alerts"].Pid {
		t.Errorf("the replay touched alerts: pid %d → %d", v2["alerts"].Pid, got["alerts"].Pid)
	}

	// kill -9, broker down, start again: back on v2 with no network.
	if err := gw.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw.cmd.Wait()
	broker.Stop()
	gw = startChild(t, f.bin, cfg)
	gw.waitLine(t, regexp.MustCompile(`running the last applied plan.* version=2`))
	gw.waitLine(t, regexp.MustCompile(`local API listening`))
	waitUntil(t, "v2's services running after the restart", func() bool {
		s := f.services()
		return s["stats"].State == supervisor.StateRunning && s["alerts"].State == supervisor.StateRunning && len(s) == 2
	})
	if got := f.deviceNames(); !slices.Equal(got, []string{"boiler", "flow"}) {
		t.Errorf("devices after the restart: %v, want v2's", got)
	}
	if st := f.statusDoc().Plan; st.Version != 2 {
		t.Errorf("after the restart the status says plan %+v, want version 2", st)
	}
	if code, out := f.edged("plan", "status", "-o", "table", "--api", "http://"+f.api); code != 0 || !strings.Contains(out, "running plan 2") {
		t.Errorf("edged plan status: exit %d\n%s", code, out)
	}
	m := scrape(t, f.api)
	if m["edged_plan_version"] != 2 || m[`edged_plan_state{state="rejected"}`] != 1 || m[`edged_plan_state{state="applied"}`] != 0 {
		t.Errorf("plan metrics: version %v, rejected %v, applied %v; want 2, 1 (the replay was the last plan handled), 0",
			m["edged_plan_version"], m[`edged_plan_state{state="rejected"}`], m[`edged_plan_state{state="applied"}`])
	}
}

func fileSHA256(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestKill9WhileApplying kills edged while a plan waits on a service's
// health gate: the next start runs the last good plan, says the other one
// was rolled back, and does not apply it again when it comes back.
func TestKill9WhileApplying(t *testing.T) {
	f := newPlanFixture(t)
	cfg := writeConfig(t, f.dir, fmt.Sprintf(`gateway: {id: gw-plan}
data_dir: %s/data
http: {listen: %s}
local_mqtt: {mode: off}
plans: {trusted_keys: [%s/ops.pub]}
`, f.dir, f.api, f.dir))
	gw := startChild(t, f.bin, cfg)
	gw.waitLine(t, regexp.MustCompile(`local API listening`))
	api := "http://" + f.api
	tok := filepath.Join(f.dir, "data", "api.token")
	if code, out := f.edged("plan", "apply", "--api", api, "--token-file", tok, f.sign("v1", planV1)); code != 0 {
		t.Fatalf("apply v1: %d\n%s", code, out)
	}
	v1 := f.services()

	// A "service" that never answers go-plugin's handshake: the gate waits.
	script := filepath.Join(f.dir, "hang.sh")
	os.WriteFile(script, []byte("#!/bin/sh\nexec sleep 117.25\n"), 0o755)
	v2 := strings.Replace(planV1, "version: 1", "version: 2", 1) + fmt.Sprintf(`  - {name: hang, url: "file://%s", sha256: %s, subscribe: ["#"], start_timeout: 60s}
`, script, fileSHA256(t, script))
	env := f.sign("v2", v2)
	applying := exec.Command(f.bin, "plan", "apply", "--api", api, "--token-file", tok, env)
	if err := applying.Start(); err != nil {
		t.Fatal(err)
	}
	defer applying.Wait()
	waitUntil(t, "plan 2 waiting on the gate of hang", func() bool {
		var st orchestrator.Status
		callAPI(context.Background(), "GET", api+"/api/v1/plan", "", nil, &st, apiTimeout)
		for _, s := range st.Steps {
			if s.Name == "start hang" && s.State == orchestrator.StepRunning {
				return st.Version == 2
			}
		}
		return false
	})
	waitUntil(t, "the hanging service's process", func() bool { return len(procsWithCmdline("sleep\x00117.25\x00")) > 0 })
	if err := gw.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gw.cmd.Wait()

	gw = startChild(t, f.bin, cfg)
	gw.waitLine(t, regexp.MustCompile(`local API listening`))
	waitUntil(t, "plan 1's services running", func() bool {
		s := f.services()
		return len(s) == 2 && s["stats"].State == supervisor.StateRunning && s["alerts"].State == supervisor.StateRunning
	})
	if st := f.statusDoc().Plan; st.Version != 1 || st.State != orchestrator.StateRolledBack || st.Latest != 2 ||
		!strings.Contains(st.Error, "stopped while applying plan 2") {
		t.Errorf("status after the restart: %+v", st)
	}
	waitUntil(t, "the hanging service to die with edged", func() bool { return len(procsWithCmdline("sleep\x00117.25\x00")) == 0 })
	if v1["stats"].Pid == f.services()["stats"].Pid {
		t.Error("stats has the pid of before the kill: it cannot have")
	}
	// The same plan again (as the retained message would bring it) is
	// answered, not applied.
	code, out := f.edged("plan", "apply", "--api", api, "--token-file", tok, env)
	if code != 1 || !strings.Contains(out, "plan 2: rolled_back") {
		t.Errorf("v2 again: exit %d\n%s", code, out)
	}
	if _, ok := f.services()["hang"]; ok {
		t.Error("v2 was applied again after the restart")
	}
}

// procsWithCmdline lists the pids whose /proc/PID/cmdline is cmdline.
func procsWithCmdline(cmdline string) []string {
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var out []string
	for _, d := range dirs {
		if b, err := os.ReadFile(d); err == nil && string(b) == cmdline {
			out = append(out, filepath.Base(filepath.Dir(d)))
		}
	}
	return out
}

// TestPlanPushOverMutualTLS: the gateway's cloud link and the operator's
// push both use mqtts with client certificates; without the CA the push
// says why it cannot connect.
func TestPlanPushOverMutualTLS(t *testing.T) {
	f := newPlanFixture(t)
	p := testpki.New(t, t.TempDir())
	broker := mosquittotest.Start(t, mosquittotest.WithConfig("cafile "+p.CAFile, "certfile "+p.ServerCert,
		"keyfile "+p.ServerKey, "require_certificate true"))
	url := "mqtts://" + broker.Addr()
	cfg := writeConfig(t, f.dir, fmt.Sprintf(`gateway: {id: gw-tls}
data_dir: %s/data
cloud: {url: %s, tls: {ca_file: %s, cert_file: %s, key_file: %s}}
http: {listen: %s}
local_mqtt: {mode: off}
plans: {trusted_keys: [%s/ops.pub]}
`, f.dir, url, p.CAFile, p.ClientCert, p.ClientKey, f.api, f.dir))
	gw := startChild(t, f.bin, cfg)
	gw.waitLine(t, regexp.MustCompile(`local API listening`))
	env := f.sign("tls", "version: 1\ngateway: {id: gw-tls}\ndevices:\n  - {name: boiler, kind: sim, interval: 100ms}\n")
	code, out := f.edged("plan", "push", "--url", url, "--gateway", "gw-tls", "--ca-file", p.CAFile,
		"--cert-file", p.ClientCert, "--key-file", p.ClientKey, "--wait", "60s", env)
	if code != 0 || !strings.Contains(out, "plan 1: applied") {
		t.Fatalf("push over mutual TLS: exit %d\n%s", code, out)
	}
	if got := f.deviceNames(); !slices.Equal(got, []string{"boiler"}) {
		t.Errorf("devices after the plan: %v", got)
	}
	code, out = f.edged("plan", "push", "--url", url, "--gateway", "gw-tls", "--connect-timeout", "2s", env)
	if code != 1 || !strings.Contains(out, "cannot connect") || !strings.Contains(out, "certificate") {
		t.Errorf("push without the CA and client certificate: exit %d, want 1 naming the certificate problem\n%s", code, out)
	}
}
