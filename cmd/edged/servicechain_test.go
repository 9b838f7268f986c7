package main

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/runtime/supervisor"
)

// TestServicesChainAggregateToRules is the README's plan example end to
// end with real service processes: aggregate emits porch/temperature_mean,
// which reaches the rules service (it subscribes to the mean only), whose
// rule switches the relay on the simulated board.
func TestServicesChainAggregateToRules(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`gateway: {id: chain}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
hardware: {board: sim}
devices:
  - {name: porch, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 35}}
  - {name: pump-relay, kind: gpio-out, pin: GPIO27}
services:
  - name: stats
    kind: aggregate
    subscribe: ["porch/temperature"]
    config: {window: 1s, grace: 0s, stats: [mean]}
  - name: pump
    kind: rules
    subscribe: ["porch/temperature_mean"]
    config:
      rules:
        - name: pump-on
          when: {device: porch, metric: temperature_mean, above: 30}
          then: {command: {device: pump-relay, action: set, value: "on"}}
`, dir)
	d, stopDaemon := startDaemon(t, writeConfig(t, dir, cfg))
	stop := sync.OnceValue(stopDaemon)
	defer stop()
	relay, _ := d.board.Simulated().Pin("GPIO27")
	waitUntil(t, "the rule on the aggregate's mean to switch the relay on", func() bool { return relay.Level() == gpio.High })
	for _, r := range d.recent.Last("porch") {
		if r.Metric == "temperature_mean" && (r.Source != "stats" || r.Value != 35) {
			t.Errorf("porch temperature_mean %+v, want 35 from source stats", r)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestServiceCycleEndsAtMaxDepth runs two third-party services (the SDK's
// test service, passing readings through) that each subscribe to
// everything of porch and declare no emits: a cycle the config check
// cannot see (two built-ins like this are refused at check, see
// testdata/config/bad/service-cycle.yaml). Neither gets its own emits, and
// the chain stops at service_chain.max_depth (3 here) at run time: the
// refused hand-offs are counted in status and /metrics.
func TestServiceCycleEndsAtMaxDepth(t *testing.T) {
	dir := t.TempDir()
	bin, sum := buildTestService(t)
	cfg := fmt.Sprintf(`gateway: {id: cycle}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0}
data_dir: %s
devices:
  - {name: porch, kind: sim, interval: 20ms, options: {metric: temperature, unit: C, waveform: constant, min: 20}}
service_chain: {max_depth: 3}
services:
  - {name: ping, path: %s, sha256: %s, subscribe: ["porch/#"], config: {mode: passthrough}}
  - {name: pong, path: %s, sha256: %s, subscribe: ["porch/#"], config: {mode: passthrough}}
`, dir, bin, sum, bin, sum)
	d, stopDaemon := startDaemon(t, writeConfig(t, dir, cfg))
	stop := sync.OnceValue(stopDaemon)
	defer stop()
	tooDeep := func() (n uint64) {
		for _, s := range d.sup.Status() {
			if s.State != supervisor.StateRunning {
				return 0
			}
			n += s.TooDeep
		}
		return n
	}
	waitUntil(t, "a hand-off refused at max_depth", func() bool { return tooDeep() > 0 })
	// The cycle goes on at the depth limit: more readings come, more
	// hand-offs are refused, and the services keep running.
	first := tooDeep()
	waitUntil(t, "further hand-offs refused", func() bool { return tooDeep() >= first+4 })
	// The services' emits are stored: among porch's kept readings (not only
	// the latest per metric, which the sim or a service may have written
	// last) some come from ping or pong.
	sources := map[string]bool{}
	kept, _ := d.recent.Since("porch", time.Time{}, time.Now())
	for _, r := range kept {
		sources[r.Source] = true
	}
	if !sources["ping"] && !sources["pong"] {
		t.Errorf("no porch reading from ping or pong among the %d kept: sources %v", len(kept), sources)
	}
	m := scrape(t, d.api.Addr())
	if m[`edged_service_chain_too_deep_total{service="ping"}`]+m[`edged_service_chain_too_deep_total{service="pong"}`] == 0 {
		t.Error("edged_service_chain_too_deep_total is 0 for both services")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}
