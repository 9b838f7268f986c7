package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/runtime/orchestrator"
)

// benchPlan is a plan of n sim devices and five built-in services, plus
// extra services; variant changes every device's and service's config.
func benchPlan(version int64, devices, variant int, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: %d\ngateway: {id: bench}\ndevices:\n", version)
	for i := range devices {
		fmt.Fprintf(&b, "  - {name: d%02d, kind: sim, interval: 100ms, options: {metric: temperature, unit: C, waveform: sine, min: 10, max: 30, period: 1m, seed: %d}}\n", i, i+1000*variant)
	}
	fmt.Fprintf(&b, `services:
  - {name: stats, kind: aggregate, subscribe: ["+/temperature"], config: {window: %ds}, budget: {memory: 64Mi}}
  - {name: watch, kind: anomaly, depends_on: [stats], subscribe: ["+/temperature"], budget: {memory: 64Mi}}
  - {name: hot, kind: rules, depends_on: [stats], subscribe: ["d00/temperature"], config: {rules: [{name: hot, when: {device: d00, metric: temperature, above: 29}, then: {alert: {metric: alert_hot}}}]}, budget: {memory: 64Mi}}
  - {name: cold, kind: rules, subscribe: ["d01/temperature"], config: {rules: [{name: cold, when: {device: d01, metric: temperature, below: 11}, then: {alert: {metric: alert_cold}}}]}, budget: {memory: 64Mi}}
  - {name: minute, kind: aggregate, depends_on: [watch], subscribe: ["+/+"], config: {window: %dm, stats: [mean]}, budget: {memory: 64Mi}}
`, 10+5*variant, 1+variant)
	b.WriteString(extra)
	return b.String()
}

// BenchmarkPlanApply measures, on a daemon in this process with real
// service processes: the time from a plan of 50 devices and 5 services
// arriving to applied (from a gateway running nothing), and the time a
// plan whose sixth service crashes on start takes to roll back to it.
func BenchmarkPlanApply(b *testing.B) {
	d, priv, _ := startPlanDaemon(b, "bench", "http: {listen: \"\"}\nlocal_mqtt: {mode: off}\ndevices: []\n")
	version := int64(0)
	apply := func(y string) orchestrator.Status { return applyPlan(b, d, priv, y) }
	empty := func() {
		version++
		if st := apply(fmt.Sprintf("version: %d\ngateway: {id: bench}\n", version)); st.State != orchestrator.StateApplied {
			b.Fatalf("empty plan: %s %s", st.State, st.Error)
		}
	}
	// The broken service starts last (it depends on all the others), so
	// the roll back restarts five services and swaps 50 devices back.
	broken := fmt.Sprintf("  - {name: broken, url: \"file:///bin/false\", sha256: %s, subscribe: [\"#\"], depends_on: [stats, watch, hot, cold, minute]}\n", fileSHA256(b, "/bin/false"))
	var applyTotal, rollbackTotal, rolledTotal time.Duration
	round := func() {
		empty()
		version++
		start := time.Now()
		st := apply(benchPlan(version, 50, 0, ""))
		applyTotal += time.Since(start)
		if st.State != orchestrator.StateApplied {
			b.Fatalf("plan %d: %s %s", version, st.State, st.Error)
		}
		version++
		start = time.Now()
		st = apply(benchPlan(version, 50, 1, broken))
		rolledTotal += time.Since(start)
		if st.State != orchestrator.StateRolledBack {
			b.Fatalf("plan %d: %s, want rolled_back: %s %v", version, st.State, st.Error, st.Problems)
		}
		for _, s := range st.Steps {
			if s.Name == "roll back" { // it spans the whole switch back
				rollbackTotal += time.Duration(s.MS * float64(time.Millisecond))
			}
		}
	}
	const rounds = 5 // per iteration: make bench runs one
	for b.Loop() {
		for range rounds {
			round()
		}
	}
	n := float64(b.N * rounds)
	b.ReportMetric(float64(applyTotal.Milliseconds())/n, "apply-ms")
	b.ReportMetric(float64(rolledTotal.Milliseconds())/n, "failed-plan-total-ms")
	b.ReportMetric(float64(rollbackTotal.Microseconds())/1000/n, "rollback-ms")
	b.ReportMetric(0, "ns/op")
}
