package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/drivers/sim"
	"github.com/edged-gateway/edged/runtime/devicehost"
	"github.com/edged-gateway/edged/runtime/poller"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// rewrite replaces the config file's content (the daemon reads it again
// on a reload).
func rewrite(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitReload waits for a reload newer than after to finish and returns it.
func waitReload(t *testing.T, d *daemon, after *reloadResult) reloadResult {
	t.Helper()
	var res *reloadResult
	waitUntil(t, "the reload's result", func() bool {
		res = d.reload.last.Load()
		return res != nil && res != after
	})
	return *res
}

// reloadCLI runs `edged config reload` against d's API.
func reloadCLI(t *testing.T, d *daemon, dataDir string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), []string{"config", "reload", "--api", "http://" + d.api.Addr(), "--token-file", filepath.Join(dataDir, tokenFileName)}, &out, &errb)
	return code, out.String(), errb.String()
}

// TestReloadSIGHUPKeepsTheDeviceOpenWithItsNewIntervalAndOptions: SIGHUP
// after the file's device got a new interval and new waveform options
// (which the sim driver takes live): the same slot and the same driver
// instance (no open counted) read at the new interval, with the new
// options' values.
func TestReloadSIGHUPKeepsTheDeviceOpenWithItsNewIntervalAndOptions(t *testing.T) {
	dir := t.TempDir()
	conf := func(interval string, min int) string {
		return fmt.Sprintf(`gateway: {id: gw-hup}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
devices:
  - {name: boiler, kind: counted-sim, interval: %s, options: {metric: temperature, unit: C, waveform: constant, min: %d}}
`, dir, interval, min)
	}
	var opens atomic.Int64
	kinds := map[string]deviceKind{"counted-sim": {
		help:    "sim, counting its opens",
		options: checkedOptions[sim.Config],
		open: func(d DeviceConfig, opts any, _ *board) (poller.Device, error) {
			opens.Add(1)
			return sim.New(d.Name, opts.(sim.Config), nil)
		},
	}}
	cfgFile := writeConfig(t, dir, conf("1h", 21))
	d, cancel, done := startDaemonKinds(t, cfgFile, kinds)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	d.reload.mu.Lock()
	for k, v := range kinds {
		d.reload.kinds[k] = v
	}
	d.reload.mu.Unlock()
	waitUntil(t, "the first reading", func() bool { s, _ := deviceStats(d, "boiler"); return s.Stored == 1 })
	slotBefore := d.devs.current().Slot("boiler")
	drvBefore := slotBefore.Driver()
	if opens.Load() != 1 || drvBefore == nil {
		t.Fatalf("opens %d, driver %v before the reload", opens.Load(), drvBefore)
	}

	rewrite(t, cfgFile, conf("20ms", 30))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	res := waitReload(t, d, nil)
	if res.State != reloadApplied || res.Source != "sighup" || strings.Join(res.Changed, ",") != "devices[0]" {
		t.Fatalf("reload: %+v", res)
	}
	if !strings.Contains(stepText(res.Steps), "changed [boiler (options changed live)]") {
		t.Errorf("devices step: %s", stepText(res.Steps))
	}
	waitUntil(t, "readings at the new interval with the new options", func() bool {
		s, _ := deviceStats(d, "boiler")
		return s.Stored >= 4 && s.Last.Value == 30
	})
	if s := d.devs.current().Slot("boiler"); s != slotBefore || s.Driver() != drvBefore {
		t.Fatalf("the device was reopened: slot %p → %p, driver %p → %p", slotBefore, s, drvBefore, s.Driver())
	}
	if n := opens.Load(); n != 1 {
		t.Fatalf("the driver was opened %d times, want once", n)
	}

	// A change the driver cannot take live (its metric is live, but a
	// precision is not an option) still hands it over, as before.
	rewrite(t, cfgFile, strings.Replace(conf("20ms", 30), "kind: counted-sim,", "kind: counted-sim, precision: 3,", 1))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	res = waitReload(t, d, d.reload.last.Load())
	if res.State != reloadApplied || !strings.Contains(stepText(res.Steps), "boiler (handed over)") || opens.Load() != 2 {
		t.Fatalf("precision change: %+v, opens %d", res, opens.Load())
	}
}

// TestReloadBrokenFileListsEveryProblemAndChangesNothing: `edged config
// reload` with a file that does not check exits 1 listing every problem
// with its field path; the daemon runs on with its old config.
func TestReloadBrokenFileListsEveryProblemAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	good := fmt.Sprintf(`gateway: {id: gw-broken}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
devices:
  - {name: boiler, kind: sim, interval: 1h, options: {metric: temperature, waveform: constant, min: 21}}
`, dir)
	cfgFile := writeConfig(t, dir, good)
	d, stop := startDaemon(t, cfgFile)
	defer stop()
	waitUntil(t, "the first reading", func() bool { s, _ := deviceStats(d, "boiler"); return s.Stored == 1 })
	slotBefore := d.devs.current().Slot("boiler")

	rewrite(t, cfgFile, fmt.Sprintf(`gateway: {id: gw-broken}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
outbox: {max_bytes: lots}
devices:
  - {name: boiler, kind: sim, interval: 10ms, options: {metric: temperature, waveform: zigzag, min: 21}}
  - {name: boiler, kind: sim}
`, dir))
	code, stdout, stderr := reloadCLI(t, d, dir)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{"refused", "outbox.max_bytes", "devices[0].options: waveform", "devices[1].name"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if res := d.reload.last.Load(); res == nil || res.State != reloadRefused || len(res.Problems) < 3 {
		t.Fatalf("last reload: %+v", res)
	}
	cur := d.devs.current()
	if cur.Slot("boiler") != slotBefore || cur.Spec("boiler").Interval != time.Hour || !d.ready.Load() {
		t.Fatalf("a refused reload changed the daemon: slot kept %v, interval %v, ready %v",
			cur.Slot("boiler") == slotBefore, cur.Spec("boiler").Interval, d.ready.Load())
	}

	// The file fixed, the same command applies it.
	rewrite(t, cfgFile, strings.Replace(good, "interval: 1h", "interval: 10ms", 1))
	if code, stdout, stderr := reloadCLI(t, d, dir); code != 0 || !strings.Contains(stdout, "applied") || !strings.Contains(stdout, "devices[0]") {
		t.Fatalf("fixed file: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if got := d.devs.current().Spec("boiler").Interval; got != 10*time.Millisecond {
		t.Fatalf("interval after the reload: %v", got)
	}
}

// TestReloadRefusesRestartOnlyKeys: a file that changes keys edged cannot
// change while it runs is refused (HTTP 422), naming each key with "restart
// edged to change it"; the live change beside them is not applied either.
func TestReloadRefusesRestartOnlyKeys(t *testing.T) {
	dir := t.TempDir()
	conf := func(id, interval, batch string) string {
		return fmt.Sprintf(`gateway: {id: %s}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
cloud: {batch: %s}
devices:
  - {name: boiler, kind: sim, interval: %s}
`, id, dir, batch, interval)
	}
	cfgFile := writeConfig(t, dir, conf("gw-a", "1h", "64"))
	d, stop := startDaemon(t, cfgFile)
	defer stop()
	rewrite(t, cfgFile, conf("gw-b", "10ms", "32")+"log: {level: debug}\n")
	token, _ := os.ReadFile(filepath.Join(dir, tokenFileName))
	var res reloadResult
	code, err := callAPI(t.Context(), http.MethodPost, "http://"+d.api.Addr()+"/api/v1/config/reload", strings.TrimSpace(string(token)), nil, &res, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusUnprocessableEntity || res.State != reloadRefused {
		t.Fatalf("HTTP %d %+v", code, res)
	}
	probs := strings.Join(res.Problems, "\n")
	for _, key := range []string{"gateway.id", "log.level"} {
		if !strings.Contains(probs, key+": cannot change while edged runs: restart edged to change it") {
			t.Errorf("problems do not name %s:\n%s", key, probs)
		}
	}
	for _, live := range []string{"devices", "cloud.batch"} {
		if strings.Contains(probs, live) {
			t.Errorf("a live key is named as a problem: %s\n%s", live, probs)
		}
	}
	if got := d.devs.current().Spec("boiler").Interval; got != time.Hour {
		t.Fatalf("the refused reload changed the interval to %v", got)
	}
	// A daemon started without services runs no supervisor: the first
	// service needs a restart, and says so.
	rewrite(t, cfgFile, conf("gw-a", "1h", "64")+"services: [{name: stats, kind: aggregate, subscribe: [\"#\"], config: {window: 1s}}]\n")
	if res := d.reload.reload(t.Context(), "api"); res.State != reloadRefused ||
		!strings.Contains(strings.Join(res.Problems, "\n"), "services: edged started without services") {
		t.Fatalf("first service: %+v", res)
	}
	// Nor does it keep dead letters: the first route needs a restart too.
	rewrite(t, cfgFile, conf("gw-a", "1h", "64")+"routes: [{name: hist, to: http, http: {url: \"http://127.0.0.1:1/write\"}}]\n")
	if res := d.reload.reload(t.Context(), "api"); res.State != reloadRefused ||
		!strings.Contains(strings.Join(res.Problems, "\n"), "routes: edged started without routes") {
		t.Fatalf("first route: %+v", res)
	}
	// Without the API token the endpoint answers 401, as every non-GET.
	if code, _ := callAPI(t.Context(), http.MethodPost, "http://"+d.api.Addr()+"/api/v1/config/reload", "", nil, &json.RawMessage{}, time.Minute); code != http.StatusUnauthorized {
		t.Fatalf("without a token: HTTP %d", code)
	}
}

// TestReloadServiceConfigOnlyIsConfiguredAndAFailedSwitchRollsBack: a
// reload that changes only a file service's config gives it to the same
// process with Configure; one whose new config the service refuses fails
// its switch and rolls back: the device change made with it is undone, the
// service runs on, same pid, on its previous config.
func TestReloadServiceConfigOnlyIsConfiguredAndAFailedSwitchRollsBack(t *testing.T) {
	bin, sum := buildTestService(t)
	dir := t.TempDir()
	conf := func(interval, mode string) string {
		return fmt.Sprintf(`gateway: {id: gw-svc}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: off}
data_dir: %s
devices:
  - {name: boiler, kind: sim, interval: %s, options: {metric: temperature, unit: C, waveform: constant, min: 21}}
services:
  - {name: svc, path: %s, sha256: %s, subscribe: ["boiler/temperature"], config: {mode: %s}}
`, dir, interval, bin, sum, mode)
	}
	cfgFile := writeConfig(t, dir, conf("50ms", "passthrough"))
	d, stop := startDaemon(t, cfgFile)
	defer stop()
	svc := func() supervisor.Status {
		for _, s := range d.sup.Status() {
			if s.Name == "svc" {
				return s
			}
		}
		t.Fatal("no service svc")
		return supervisor.Status{}
	}
	emitted := func(what string, value float64, since time.Time) {
		t.Helper()
		waitUntil(t, what, func() bool {
			rs, _ := d.recent.Since("boiler", since, time.Now())
			for _, r := range rs {
				if r.Source == "svc" && r.Value == value {
					return true
				}
			}
			return false
		})
	}
	emitted("the service's pass-through readings", 21, time.Time{})
	pid := svc().Pid

	rewrite(t, cfgFile, conf("50ms", "double"))
	code, stdout, stderr := reloadCLI(t, d, dir)
	if code != 0 || !strings.Contains(stdout, "configured [svc]") || !strings.Contains(stdout, "services[0]") {
		t.Fatalf("config-only change: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if s := svc(); s.Pid != pid || s.Restarts != 0 || s.State != supervisor.StateRunning {
		t.Fatalf("after Configure: pid %d (was %d), restarts %d, %s", s.Pid, pid, s.Restarts, s.State)
	}
	emitted("the doubled readings of the new config", 42, time.Now())

	// The service refuses the next config: the switch fails after the
	// devices step took the new interval; all of it is rolled back.
	rewrite(t, cfgFile, conf("20ms", "reject"))
	code, stdout, stderr = reloadCLI(t, d, dir)
	if code != exitFailure || !strings.Contains(stderr, "rolled back") || !strings.Contains(stderr, "mode reject: config refused") ||
		!strings.Contains(stderr, "roll back") {
		t.Fatalf("refused config: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if got := d.devs.current().Spec("boiler").Interval; got != 50*time.Millisecond {
		t.Errorf("interval after the roll back: %v, want 50ms again", got)
	}
	if s := svc(); s.Pid != pid || s.Restarts != 0 {
		t.Fatalf("after the roll back: pid %d (was %d), restarts %d", s.Pid, pid, s.Restarts)
	}
	emitted("doubled readings still (the previous config) after the roll back", 42, time.Now())

	// The file in force is still the previous one: a reload of it
	// changes nothing.
	rewrite(t, cfgFile, conf("50ms", "double"))
	if code, stdout, _ := reloadCLI(t, d, dir); code != 0 || !strings.Contains(stdout, "unchanged") {
		t.Fatalf("the previous file again: exit %d\n%s", code, stdout)
	}
}

// TestReloadUnderASignedPlan: with plan 1 in force, a reload that changes
// the file's devices is refused naming the plan; one that changes only the
// outbox cap applies under the plan (its devices keep running).
func TestReloadUnderASignedPlan(t *testing.T) {
	d, priv, _ := startPlanDaemon(t, "gw-rp", "http: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\n")
	if st := applyPlan(t, d, priv, "version: 1\ngateway: {id: gw-rp}\ndevices:\n  - {name: planned, kind: sim, interval: 1h}\n"); st.State != "applied" {
		t.Fatalf("plan 1: %+v", st)
	}
	path := d.reload.path
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rewrite(t, path, string(base)+"devices: [{name: filed, kind: sim}]\n")
	res := d.reload.reload(t.Context(), "api")
	if res.State != reloadRefused || res.PlanVersion != 1 || !strings.Contains(strings.Join(res.Problems, "\n"), "plan 1 is in force") {
		t.Fatalf("devices under a plan: %+v", res)
	}
	rewrite(t, path, string(base)+"outbox: {max_bytes: 3Mi}\n")
	res = d.reload.reload(t.Context(), "api")
	if res.State != reloadApplied || strings.Join(res.Changed, ",") != "outbox.max_bytes" {
		t.Fatalf("outbox cap under a plan: %+v", res)
	}
	if b, _ := d.outbox.Limits(); b != 3<<20 {
		t.Fatalf("outbox cap %d after the reload, want 3 MiB", b)
	}
	if d.devs.current().Slot("planned") == nil || d.plans.version() != 1 {
		t.Fatalf("the plan's device is gone, or the plan (%d)", d.plans.version())
	}
}

// TestConfigChangesNamesKeys: configChanges names the keys that differ,
// list entries by index.
func TestConfigChangesNamesKeys(t *testing.T) {
	a := defaultConfig()
	b := defaultConfig()
	b.HTTP.Listen = "127.0.0.1:9"
	b.Devices = append(b.Devices, DeviceConfig{Name: "x", Kind: "sim"})
	got, err := configChanges(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != fmt.Sprintf("devices[%d],http.listen", len(a.Devices)) {
		t.Fatalf("changes %v", got)
	}
	if got, _ := configChanges(a, defaultConfig()); len(got) != 0 {
		t.Fatalf("the same config differs: %v", got)
	}
}

// TestModbusPacingIsLiveOtherOptionsAreNot: a read-only modbus device
// (behind the wrapper that hides commands) takes a request_delay change
// live; a url change reopens it.
func TestModbusPacingIsLiveOtherOptionsAreNot(t *testing.T) {
	kinds := builtinKinds()
	spec := func(opts string) device {
		t.Helper()
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(opts), &n); err != nil {
			t.Fatal(err)
		}
		cfg := DeviceConfig{Name: "meter", Kind: "modbus", Interval: time.Second, Options: *n.Content[0]}
		o, err := kinds["modbus"].options(cfg, "devices[0].options")
		if err != nil {
			t.Fatal(err)
		}
		return device{cfg: cfg, kind: kinds["modbus"], options: o}
	}
	regs := "registers: [{metric: voltage, table: input, address: 0, type: float32}]"
	old := spec("{url: 'tcp://127.0.0.1:1', " + regs + "}")
	dev, err := old.open(nil) // connects on its first read: nothing is dialled here
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dev.(readOnly); !ok {
		t.Fatalf("a modbus device without writable registers is %T, want readOnly", dev)
	}
	s := devicehost.NewSlot(hostSpec(old, func() (poller.Device, bool, error) { return dev, false, nil }), slog.New(slog.DiscardHandler))
	defer s.Close()
	if _, err := s.Open(); err != nil {
		t.Fatal(err)
	}
	if !s.TakesLive(hostSpec(old, nil), hostSpec(spec("{url: 'tcp://127.0.0.1:1', request_delay: 20ms, "+regs+"}"), nil)) {
		t.Error("a request_delay change is not taken live")
	}
	if s.TakesLive(hostSpec(old, nil), hostSpec(spec("{url: 'tcp://127.0.0.1:2', "+regs+"}"), nil)) {
		t.Error("a url change is taken live")
	}
	if err := s.Reconfigure(hostSpec(spec("{url: 'tcp://127.0.0.1:1', close_after_poll: true, "+regs+"}"), nil)); err != nil {
		t.Fatal(err)
	}
}
