package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/internal/browsertest"
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
	browsertest.Wait(t, ctx, "the token to leave the address bar", `location.hash === '' && localStorage.getItem('edged.apiToken') !== null`)
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
