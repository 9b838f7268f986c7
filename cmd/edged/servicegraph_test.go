package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/runtime/orchestrator"
)

func TestFiltersOverlap(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"boiler/temperature_mean", "boiler/temperature_mean", true},
		{"boiler/temperature_mean", "+/temperature_mean", true},
		{"+/+", "boiler/temperature", true},
		{"boiler/#", "+/x", true},
		{"#", "a/b", true},
		{"boiler/alert_hot", "boiler/temperature", false},
		{"porch/+", "boiler/+", false},
		{"a/b", "a/b/c", false},
		{"a/+", "a/b/c", false},
		{"a/#", "a", true}, // "#" also matches its parent level
		{"+/*_mean", "+/temperature", false},
		{"+/*_mean", "boiler/temperature_mean", true},
		{"+/*_mean", "+/+", true},
		{"porch/*_anomaly_score", "boiler/#", false},
	} {
		if got := filtersOverlap(c.a, c.b); got != c.want || filtersOverlap(c.b, c.a) != c.want {
			t.Errorf("filtersOverlap(%q, %q) = %v, want %v (both ways)", c.a, c.b, got, c.want)
		}
	}
}

const chainPlan = `version: %d
gateway: {id: gw-graph}
devices:
  - {name: boiler, kind: sim, interval: 100ms, options: {metric: temperature, unit: C, waveform: constant, min: 40}}
services:
  - name: stats
    kind: aggregate
    subscribe: ["boiler/temperature"%s]
    config: {window: 1s, grace: 0s}
  - name: alerts
    kind: rules
    subscribe: ["boiler/temperature_mean"]
    config: {rules: [{name: hot, when: {device: boiler, metric: temperature_mean, above: 30}, then: {alert: {metric: alert_hot}}}]}
`

// TestPlanWithAServiceCycleIsRefusedBeforeAnyStep: a plan whose services
// feed each other in a circle (stats' mean → alerts, alerts' alert →
// stats) is rejected at its check, the cycle named, and the running plan
// (the same chain without the loop back) is not touched; `edged plan check`
// refuses it the same way.
func TestPlanWithAServiceCycleIsRefusedBeforeAnyStep(t *testing.T) {
	d, priv, _ := startPlanDaemon(t, "gw-graph", "http: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\n")
	if st := applyPlan(t, d, priv, fmt.Sprintf(chainPlan, 1, "")); st.State != orchestrator.StateApplied {
		t.Fatalf("v1 (a chain, no cycle): %+v", st)
	}
	before := map[string]int{}
	for _, s := range d.sup.Status() {
		before[s.Name] = s.Pid
	}
	cyclic := fmt.Sprintf(chainPlan, 2, `, "boiler/alert_hot"`)
	st := applyPlan(t, d, priv, cyclic)
	if st.State != orchestrator.StateRejected || !strings.Contains(strings.Join(st.Problems, "\n"), "stats → alerts → stats forms a cycle") {
		t.Fatalf("v2 (a cycle): %+v, want rejected with the cycle named", st)
	}
	for _, s := range st.Steps {
		if s.Name == "sync" || s.Name == "devices" || s.Name == "services" {
			t.Errorf("a refused plan ran step %q", s.Name)
		}
	}
	for _, s := range d.sup.Status() {
		if before[s.Name] != s.Pid {
			t.Errorf("%s: pid %d → %d after a refused plan", s.Name, before[s.Name], s.Pid)
		}
	}

	path := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(path, []byte(cyclic), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	code := run(context.Background(), []string{"plan", "check", path}, &b, &b)
	out := b.String()
	if code != 1 || !strings.Contains(out, "stats → alerts → stats forms a cycle: stats emits boiler/temperature_mean") {
		t.Fatalf("edged plan check of the cyclic plan: exit %d\n%s", code, out)
	}
}

// TestServiceChainCheckIsBounded: a config with more filter pairs than
// the check compares is refused, quickly, with a problem naming the fix.
func TestServiceChainCheckIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("gateway: {id: big}\nservices:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  - {name: s%d, path: /x, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, subscribe: [", i)
		for j := range 64 {
			fmt.Fprintf(&b, "\"d%d/m%d\",", i, j)
		}
		b.WriteString("], emits: [")
		for j := range 64 {
			fmt.Fprintf(&b, "\"e%d/m%d\",", i, j)
		}
		b.WriteString("]}\n")
	}
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := run(context.Background(), []string{"config", "check", path}, &out, &out)
	if code != 1 || !strings.Contains(out.String(), "6400 emit filters × 6400 subscribe filters is too much for the chain check") {
		t.Fatalf("config check of 100 services × 64 filters: exit %d\n%s", code, out.String())
	}
}
