package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// TestPlanArtifactAndSyncPolicy applies, through `edged plan apply`, a plan
// whose service is a third-party binary fetched over HTTP (the example
// pass-through service, served slowly so the CLI draws its progress bar)
// and whose sync policy sends only the boiler's readings to the cloud.
// Later plans reuse the artifact without fetching it again, and once no
// plan of the last two uses it, it is deleted.
func TestPlanArtifactAndSyncPolicy(t *testing.T) {
	broker := mosquittotest.Start(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "passthrough")
	build := exec.Command("go", "build", "-o", bin, "../../examples/passthrough-service")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example service: %v\n%s", err, out)
	}
	sum := fileSHA256(t, bin)
	body, _ := os.ReadFile(bin)
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		for off := 0; off < len(body); off += len(body) / 8 {
			w.Write(body[off:min(off+len(body)/8, len(body))])
			w.(http.Flusher).Flush()
			time.Sleep(200 * time.Millisecond) // slow enough for the CLI to poll its progress
		}
	}))
	defer srv.Close()

	cl := newCloud(t, broker.Addr(), "edged", "gw-art")
	d, priv, root := startPlanDaemon(t, "gw-art", fmt.Sprintf("cloud: {url: %s}\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\n", broker.URL()))
	apply := func(version int, services, extra string) (int, string) {
		y := fmt.Sprintf(`version: %d
gateway: {id: gw-art}
devices:
  - {name: boiler, kind: sim, interval: 50ms, options: {metric: temperature, unit: C, waveform: constant, min: 21}}
  - {name: flow, kind: sim, interval: 50ms, options: {metric: rate, waveform: constant, min: 3}}
%s%s`, version, services, extra)
		f := filepath.Join(dir, fmt.Sprintf("v%d.json", version))
		os.WriteFile(f, plan.Sign(priv, []byte(y)).Encode(), 0o644)
		var out bytes.Buffer
		code := run(context.Background(), []string{"plan", "apply", "--api", "http://" + d.api.Addr(), "--token-file", filepath.Join(root, "data", "api.token"), f}, &out, &out)
		return code, out.String()
	}
	echo := fmt.Sprintf(`services:
  - {name: echo, url: "%s/passthrough", sha256: %s, subscribe: ["boiler/temperature"], config: {factor: 2}}
`, srv.URL, sum)
	code, out := apply(1, echo, "sync: {metrics: [\"boiler/#\"]}\n")
	if code != 0 || !strings.Contains(out, "plan 1: applied") || !strings.Contains(out, "ok      fetch echo") {
		t.Fatalf("apply v1: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "fetch echo [") || strings.Count(out, "100%") != 1 {
		t.Errorf("no progress bar for the download in the CLI's output:\n%s", out)
	}
	cl.waitFor("the service's doubled readings in the cloud", func() bool {
		for _, s := range cl.values["boiler/temperature"] {
			if s.source == "echo" && s.value == 42 {
				return true
			}
		}
		return false
	})
	cl.waitFor("the boiler's own readings", func() bool { return len(cl.values["boiler/temperature"]) > 20 })
	cl.mu.Lock()
	flow := len(cl.values["flow/rate"])
	cl.mu.Unlock()
	if flow != 0 {
		t.Errorf("%d flow/rate readings reached the cloud; sync.metrics sends only boiler/#", flow)
	}
	if st := d.devs.current().Poller().Stats(); len(st) != 2 {
		t.Errorf("%d devices polled, want 2 (flow is polled and stored, only not sent)", len(st))
	}

	// v2 keeps the service (config changed): the artifact is reused.
	code, out = apply(2, strings.Replace(echo, "factor: 2", "factor: 3", 1), "")
	if code != 0 || fetches.Load() != 1 {
		t.Fatalf("apply v2: exit %d, %d downloads (want 1: reused)\n%s", code, fetches.Load(), out)
	}
	for _, s := range d.sup.Status() {
		if s.Name == "echo" && s.State != supervisor.StateRunning {
			t.Errorf("echo %s after v2", s.State)
		}
	}
	cl.waitFor("flow readings once sync.metrics is gone", func() bool { return len(cl.values["flow/rate"]) > 0 })

	// v3 and v4 drop it: after v4 neither of the last two plans uses it.
	art := filepath.Join(root, "data", "artifacts", sum)
	if code, out := apply(3, "", ""); code != 0 {
		t.Fatalf("apply v3: %d\n%s", code, out)
	}
	if _, err := os.Stat(art); err != nil {
		t.Errorf("artifact gone after v3, but v2 (the previous plan) uses it: %v", err)
	}
	if code, out := apply(4, "", ""); code != 0 {
		t.Fatalf("apply v4: %d\n%s", code, out)
	}
	if _, err := os.Stat(art); !os.IsNotExist(err) {
		t.Errorf("artifact still in the store after v4 (err %v): no plan of the last two uses it", err)
	}
}

// TestPlanChangesMQTTSensors: with the embedded broker, a plan may add,
// change and remove mqttsensor devices; the broker's routes follow.
func TestPlanChangesMQTTSensors(t *testing.T) {
	d, priv, _ := startPlanDaemon(t, "gw-lan", "http: {listen: \"\"}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndevices: []\n")
	apply := func(version int, devices string) {
		t.Helper()
		st := applyPlan(t, d, priv, fmt.Sprintf("version: %d\ngateway: {id: gw-lan}\ndevices:\n%s", version, devices))
		if st.State != orchestrator.StateApplied {
			t.Fatalf("plan %d: %s %s %v", version, st.State, st.Error, st.Problems)
		}
	}
	addr := d.broker.Addr()
	last := func(device string) (float64, string) {
		for _, r := range d.recent.Last(device) {
			return r.Value, r.Unit
		}
		return 0, ""
	}
	apply(1, "  - {name: lan, kind: mqttsensor, options: {topic: sensors/+device/+metric, unit: C}}\n")
	if err := mosquittoPub(t, addr, "", "-t", "sensors/porch/temperature", "-m", "21.5", "-q", "1"); err != nil {
		t.Fatal(err)
	}
	if v, u := last("porch"); v != 21.5 || u != "C" {
		t.Fatalf("porch after v1: %v %q, want 21.5 C", v, u)
	}
	// v2 changes its unit: a new decoder.
	apply(2, "  - {name: lan, kind: mqttsensor, options: {topic: sensors/+device/+metric, unit: K}}\n")
	if err := mosquittoPub(t, addr, "", "-t", "sensors/porch/temperature", "-m", "294.6", "-q", "1"); err != nil {
		t.Fatal(err)
	}
	if v, u := last("porch"); v != 294.6 || u != "K" {
		t.Errorf("porch after v2: %v %q, want 294.6 K", v, u)
	}
	// v3 removes it: the topic is no longer a route.
	routed := d.broker.Stats().Routed
	apply(3, "  - {name: boiler, kind: sim, interval: 1s}\n")
	if err := mosquittoPub(t, addr, "", "-t", "sensors/porch/temperature", "-m", "1", "-q", "1"); err != nil {
		t.Fatal(err)
	}
	if got := d.broker.Stats().Routed; got != routed {
		t.Errorf("%d publishes routed after the sensor was removed", got-routed)
	}
	if len(d.sensorList()) != 0 {
		t.Errorf("sensors after v3: %d", len(d.sensorList()))
	}
}

// TestPlanOpensTheBoardForItsFirstChip: a gateway that started with no
// hardware device opens the board when a plan brings one, while the API
// keeps answering, and the actuator takes commands.
func TestPlanOpensTheBoardForItsFirstChip(t *testing.T) {
	d, priv, _ := startPlanDaemon(t, "gw-hw", "http: {listen: \"\"}\nlocal_mqtt: {mode: off}\nhardware: {board: sim}\ndevices: []\n")
	waitUntil(t, "the daemon running", d.ready.Load)
	if got := d.statusDoc().Board; got != "none" {
		t.Fatalf("board before the plan: %q", got)
	}
	busy := make(chan struct{})
	var applied atomic.Bool
	go func() { // the API reads while the plan applies
		defer close(busy)
		for !applied.Load() {
			d.statusDoc()
		}
	}()
	st := applyPlan(t, d, priv, "version: 1\ngateway: {id: gw-hw}\ndevices:\n  - {name: fan, kind: gpio-out, pin: GPIO27}\n")
	applied.Store(true)
	<-busy
	if st.State != orchestrator.StateApplied {
		t.Fatalf("plan: %s %s %v", st.State, st.Error, st.Problems)
	}
	if got := d.statusDoc().Board; got != "sim" {
		t.Errorf("board after the plan: %q, want sim", got)
	}
	if r := d.exec.Execute(context.Background(), "fan", []byte(`{"id":"1","action":"set","value":"on"}`)); !r.OK {
		t.Fatalf("command: %+v", r)
	}
	pin, _ := d.board.Simulated().Pin("GPIO27")
	if pin.Level() != true {
		t.Error("the relay did not switch on")
	}
}

// startPlanDaemon runs a daemon in this process that trusts a fresh key:
// gateway gw, data in a temporary dir, plus the config lines extra. It
// stops when the test ends.
func startPlanDaemon(tb testing.TB, gw, extra string) (*daemon, ed25519.PrivateKey, string) {
	tb.Helper()
	dir := tb.TempDir()
	pub, priv, _ := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		tb.Fatal(err)
	}
	cfg := filepath.Join(dir, "edged.yaml")
	body := fmt.Sprintf("gateway: {id: %s}\ndata_dir: %s/data\nplans: {trusted_keys: [%s/ops.pub]}\n%s", gw, dir, dir, extra)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	d, stop := startDaemon(tb, cfg)
	tb.Cleanup(func() { stop() })
	return d, priv, dir
}

// applyPlan signs y with priv and applies it on d, waiting for the outcome.
func applyPlan(tb testing.TB, d *daemon, priv ed25519.PrivateKey, y string) orchestrator.Status {
	tb.Helper()
	st, err := d.plans.submit(context.Background(), plan.Sign(priv, []byte(y)).Encode())
	if err != nil {
		tb.Fatal(err)
	}
	return st
}
