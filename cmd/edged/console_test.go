package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/internal/browsertest"
	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
)

// TestConsoleInBrowser opens the web console of a daemon on the simulated
// board in headless chromium: live values and sparklines appear, the relay
// switches from the page, an out-of-range duty shows the daemon's error,
// and the page fits a phone. It leaves screenshots in testdata/out.
func TestConsoleInBrowser(t *testing.T) {
	ctx := browsertest.Start(t, 60*time.Second)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: sim-board}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: env, kind: bme280, bus: i2c1, address: 0x76, interval: 200ms}
  - {name: climate, kind: sht3x, bus: i2c1, address: 0x44, interval: 200ms}
  - {name: door, kind: gpio-in, pin: GPIO17, interval: 200ms, options: {edge: both}}
  - {name: fan-relay, kind: gpio-out, pin: GPIO27, interval: 200ms, options: {safe_state: off}}
  - {name: fan-speed, kind: pwm, pin: GPIO18, interval: 200ms, options: {frequency: 25kHz}}
`, dir)
	d, stop := startDaemon(t, writeConfig(t, dir, cfg))
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	}()

	browsertest.Do(t, ctx, "open the console", chromedp.Navigate("http://"+d.api.Addr()+"/#token="+d.apiToken))
	browsertest.Wait(t, ctx, "the token to leave the address bar", `location.hash === '' && sessionStorage.getItem('edged.apiToken') !== null`)
	browsertest.Wait(t, ctx, "a numeric temperature for env", `(() => {
		const v = document.querySelector('tr[data-device="env"] .value[data-metric="temperature"]');
		return v !== null && isFinite(parseFloat(v.textContent)); })()`)
	browsertest.Wait(t, ctx, "env's temperature sparkline", `(() => {
		const svg = document.querySelector('tr[data-device="env"] svg.spark[data-metric="temperature"]');
		return svg !== null && svg.querySelector('polyline').getAttribute('points').trim().split(/\s+/).length >= 2; })()`)
	browsertest.Wait(t, ctx, "the header", `document.querySelector('#gateway').textContent === 'sim-board' &&
		document.querySelector('#mqtt-addr').textContent.startsWith('127.0.0.1:')`)

	relay := `tr[data-device="fan-relay"] `
	browsertest.Do(t, ctx, "click fan-relay's On", chromedp.Click(chromedp.CSS(relay+`button[data-command="on"]`)))
	browsertest.Wait(t, ctx, "ok, then state 1 at the next refresh", `document.querySelector('`+relay+`.result').textContent === 'ok' &&
		document.querySelector('`+relay+`.value[data-metric="state"]').textContent === '1'`)
	if pin, err := d.board.Simulated().Pin("GPIO27"); err != nil || pin.Level() != gpio.High {
		t.Fatalf("the console's On did not raise GPIO27 (%v)", err)
	}

	speed := `tr[data-device="fan-speed"] `
	browsertest.Do(t, ctx, "set fan-speed to 1.5",
		chromedp.SendKeys(chromedp.CSS(speed+`input[data-command-input]`), "1.5"),
		chromedp.Click(chromedp.CSS(speed+`button[data-command="set"]`)))
	browsertest.Wait(t, ctx, "the daemon's range error", `(() => {
		const r = document.querySelector('`+speed+`.result');
		return r.classList.contains('err') && r.textContent.includes('out of range'); })()`)
	consoleShot(t, ctx, "console.png")

	browsertest.Do(t, ctx, "a phone's viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	browsertest.Wait(t, ctx, "the device table to fit the phone", `document.querySelector('tr[data-device="env"]') !== null &&
		document.body.scrollWidth <= window.innerWidth + 1`)
	consoleShot(t, ctx, "console-phone.png")
}

// consoleShot writes a full-page screenshot to testdata/out/name.
func consoleShot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	browsertest.Shot(t, ctx, filepath.Join("testdata", "out"), name)
}

// TestConsolePanelsInBrowser opens the console of a daemon with a rules
// service, service usage readings and plans (#18): the gateway's usage is
// a resources panel in MiB and %, not a device; the rule's alert is in the
// alerts panel; the plot draws the daemon's history with a time axis; a
// restart from the page reaches the service and shows in the log tail; a
// plan that drops a device removes its row and shows its steps.
func TestConsolePanelsInBrowser(t *testing.T) {
	ctx := browsertest.Start(t, 120*time.Second)
	shotOnFailure(t, ctx)
	dir := t.TempDir()
	pub, priv, _ := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		t.Fatal(err)
	}
	devices := `devices:
  - {name: porch, kind: sim, interval: 100ms, options: {metric: temperature, unit: C, waveform: constant, min: 35}}
`
	services := `services:
  - name: porch-rules
    kind: rules
    subscribe: ["porch/temperature"]
    config: {rules: [{name: hot, when: {device: porch, metric: temperature, above: 30}, then: {alert: {metric: alert_hot}}}]}
`
	cfg := fmt.Sprintf(`gateway: {id: panels}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s/data
plans: {trusted_keys: [%s/ops.pub]}
service_usage: {every: 1s}
%s  - {name: shed, kind: sim, interval: 100ms, options: {metric: temperature, unit: C, waveform: constant, min: 10}}
%s`, dir, dir, devices, services)
	d, stop := startDaemon(t, writeConfig(t, dir, cfg))
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	}()

	browsertest.Do(t, ctx, "open the console", chromedp.Navigate("http://"+d.api.Addr()+"/#token="+d.apiToken))
	browsertest.Wait(t, ctx, "porch and shed, and no device named after the gateway", `document.querySelector('tr[data-device="porch"]') !== null &&
		document.querySelector('tr[data-device="shed"]') !== null && document.querySelector('tr[data-device="panels"]') === null`)
	browsertest.Wait(t, ctx, "the gateway's resources in MiB and %", `(() => {
		const m = document.querySelector('#gateway-usage .value[data-metric="porch-rules_memory_bytes"]');
		const c = document.querySelector('#gateway-usage .value[data-metric="porch-rules_cpu_percent"]');
		return !document.querySelector('#gateway-section').hidden && m && /^[\d.]+ (KiB|MiB)$/.test(m.textContent) &&
			c && /^[\d.]+ %$/.test(c.textContent); })()`)
	browsertest.Wait(t, ctx, "the rule's alert", `(() => {
		const r = document.querySelector('#alerts tr[data-alert="porch/alert_hot"]');
		return r && r.dataset.kind === 'rules' && r.dataset.cleared === 'false' && r.textContent.includes('porch-rules'); })()`)

	browsertest.Do(t, ctx, "plot porch's temperature", chromedp.Click(chromedp.CSS(`tr[data-device="porch"] .metric[data-metric="temperature"] .mname`)))
	browsertest.Wait(t, ctx, "the plot from the daemon's history", `(() => {
		const c = document.querySelector('#chart');
		return c.dataset.device === 'porch' && c.dataset.points >= 2 && c.querySelectorAll('.x-tick').length >= 4 &&
			c.querySelector('.unit-label') && c.querySelector('.unit-label').textContent === 'C'; })()`)
	browsertest.Do(t, ctx, "choose 24 h", chromedp.Click(chromedp.CSS(`#chart-ranges button[data-range="24h"]`)))
	browsertest.Wait(t, ctx, "the 24 h plot", `document.querySelector('#chart').dataset.range === '24h' && document.querySelector('#chart').dataset.points >= 1`)

	browsertest.Do(t, ctx, "restart porch-rules", chromedp.Click(chromedp.CSS(`tr[data-service="porch-rules"] button[data-action="restart"]`)))
	browsertest.Wait(t, ctx, "the restart's result", `document.querySelector('tr[data-service="porch-rules"] .result').textContent.startsWith('restarted')`)
	browsertest.Wait(t, ctx, "the restart in the log tail", `[...document.querySelectorAll('#log-lines .logline')].some((l) =>
		l.querySelector('.msg').textContent === 'local service restart' && l.querySelector('.attrs').textContent.includes('service=porch-rules'))`)

	// A plan keeps porch and the rules, and drops shed.
	st := <-d.plans.orch.Submit(plan.Sign(priv, []byte("version: 1\ngateway: {id: panels}\n"+devices+services)).Encode(), orchestrator.SourceAPI)
	if st.State != orchestrator.StateApplied {
		t.Fatalf("plan: %s %s", st.State, st.Error)
	}
	browsertest.Wait(t, ctx, "shed gone, the plan's steps shown", `document.querySelector('tr[data-device="shed"]') === null &&
		document.querySelector('tr[data-device="porch"]') !== null &&
		document.querySelector('#plan-summary').textContent.startsWith('v1 · applied') &&
		document.querySelector('#plan-steps tr[data-step="devices"]').textContent.includes('shed') &&
		document.querySelector('#plan-history').textContent.includes('v1 (running)')`)
	consoleShot(t, ctx, "console-panels.png")
}

// shotOnFailure saves a screenshot of the page when the test fails, into
// a directory it names (kept after the test).
func shotOnFailure(t *testing.T, ctx context.Context) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		dir, err := os.MkdirTemp("", "edged-console-")
		if err != nil {
			t.Log(err)
			return
		}
		browsertest.Shot(t, ctx, dir, "failure.png")
		t.Logf("screenshot of the failure: %s", filepath.Join(dir, "failure.png"))
	})
}

// TestConsoleDeadLettersInBrowser opens the console of a daemon whose
// cloud is a real mosquitto, with one dead letter whose reason holds
// markup: the panel shows it (the reason as text), Replay on its row
// replays it with the session's token, the row goes, and the cloud
// receives the reading under a new seq.
func TestConsoleDeadLettersInBrowser(t *testing.T) {
	ctx := browsertest.Start(t, 120*time.Second)
	shotOnFailure(t, ctx)
	cloudBroker := mosquittotest.Start(t)
	dir := t.TempDir()
	cl := newCloud(t, cloudBroker.Addr(), "edged", "gw-dlconsole")
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-dlconsole}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
cloud: {url: %s}
`, dir, cloudBroker.URL())))
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("daemon stopped with %v", err)
		}
	}()
	r := reading.Reading{Device: "porch", Metric: "replayed_from_console", Value: 42, Unit: "C", Time: time.Now(), Seq: 9999}
	if err := (deadLetters{d.dead, "cloud"}).DeadLetter(context.Background(), r, `refused: <script>document.body.dataset.pwned=1</script>`, 3); err != nil {
		t.Fatal(err)
	}

	browsertest.Do(t, ctx, "open the console", chromedp.Navigate("http://"+d.api.Addr()+"/#token="+d.apiToken))
	row := `#deadletters tr[data-dead-letter="1"]`
	browsertest.Wait(t, ctx, "the dead letter, its reason as text", `(() => {
		const r = document.querySelector('`+row+`');
		return r && !document.querySelector('#deadletters-section').hidden &&
			document.querySelector('#dl-summary').textContent === '1 dead letter' &&
			document.querySelector('#dl-routes .route-count[data-route="cloud"]').textContent === 'cloud 1' &&
			r.dataset.route === 'cloud' && r.querySelector('.dl-dev').textContent === 'porch · replayed_from_console = 42 C' &&
			r.querySelector('.reason').textContent === 'refused: <script>document.body.dataset.pwned=1</script>' &&
			r.querySelector('.attempts').textContent === '3' &&
			document.querySelector('#deadletters script') === null && document.body.dataset.pwned === undefined; })()`)
	browsertest.Do(t, ctx, "click Replay", chromedp.Click(chromedp.CSS(row+` button[data-action="replay"]`)))
	browsertest.Wait(t, ctx, "replayed, the row gone", `/^replayed 1 \(new seq \d+\)$/.test(document.querySelector('#dl-result').textContent) &&
		document.querySelector('`+row+`') === null && document.querySelector('#dl-summary').textContent === '0 dead letters'`)
	cl.waitFor("the replayed reading at the cloud", func() bool {
		s := cl.values["porch/replayed_from_console"]
		return len(s) > 0 && s[0].value == 42 && s[0].unit == "C"
	})
	if st := d.dead.Stats(); st.Count != 0 || st.Replayed != 1 {
		t.Errorf("dead letters after the replay: %+v, want none kept, 1 replayed", st)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.seen[9999] != 0 {
		t.Errorf("the cloud got the original seq 9999; a replay gets a new one")
	}
}
