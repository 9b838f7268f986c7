package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/runtime/plan"
)

// TestPlanCheckGolden checks plans against a gateway's config the way the
// daemon does before it changes anything: every problem with its field
// path, compared with testdata/plans/bad/*.golden (-update rewrites them).
func TestPlanCheckGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/plans/bad/*.yaml")
	if len(files) < 5 {
		t.Fatalf("only %d bad plans found", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"plan", "check", "--config", "testdata/plans/gateway.yaml", f}, &out, &errb)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
			}
			matchGolden(t, strings.TrimSuffix(f, ".yaml")+".golden", out.Bytes())
		})
	}
	goods, _ := filepath.Glob("testdata/plans/good/*.yaml")
	examples, _ := filepath.Glob("../../examples/plans/*.yaml")
	goods = append(goods, examples...)
	for _, f := range goods {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"plan", "check", "--config", "testdata/plans/gateway.yaml", f}, &out, &errb); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
			}
		})
	}
}

// FuzzPlanWorkload feeds plans through the whole check a gateway runs
// (parse, then the config validation of every section): it must answer
// with problems, never panic.
func FuzzPlanWorkload(f *testing.F) {
	files, _ := filepath.Glob("testdata/plans/*/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	base, _, err := loadConfig("testdata/plans/gateway.yaml", builtinKinds())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := plan.Parse(data)
		if err != nil {
			return
		}
		w, err := planWorkload(base, p, builtinKinds(), "artifacts")
		if err == nil && len(w.specs) != len(w.cfg.Services) {
			t.Fatalf("%d specs for %d services", len(w.specs), len(w.cfg.Services))
		}
	})
}

// TestPlanCheckWithoutConfig: without --config, plan check still runs every
// check that needs no gateway (service configs included) and names the
// plan file's line; plan sign runs the same checks and refuses to sign,
// unless --force (loudly). The good plans pass without --config too.
func TestPlanCheckWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`version: 3
gateway: {id: gw-01}
services:
  - {name: stats, kind: aggregate, subscribe: ["+/temperature"], config: {window: 1m}}
  - {name: alerts, kind: rules, subscribe: ["#"], config: {rules: [{name: hot, when: {device: boiler, metric: t, above: 1}, then: {alert: {metric: hot}}}]}}
  - name: watch
    kind: anomaly
    subscribe: ["boiler/temperature"]
    config:
      threshold: 4
      warmup: -5
`), 0o644)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"plan", "check", bad}, &out, &errb); code != 1 ||
		!strings.Contains(out.String(), "services[2].config: anomaly config: warmup: -5 is negative") || !strings.Contains(out.String(), "(line 11)") {
		t.Fatalf("plan check without --config: exit %d\n%s%s", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	if err := run(context.Background(), []string{"plan", "keygen", "--out", filepath.Join(dir, "ops")}, &out, &errb); err != 0 {
		t.Fatal(errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"plan", "sign", "--key", filepath.Join(dir, "ops.key"), "--out", filepath.Join(dir, "bad.json"), bad}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "warmup: -5 is negative") || !strings.Contains(errb.String(), "not signed") {
		t.Fatalf("plan sign of a plan failing its checks: exit %d\n%s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.json")); err == nil {
		t.Fatal("an envelope was written")
	}
	errb.Reset()
	if code := run(context.Background(), []string{"plan", "sign", "--force", "--key", filepath.Join(dir, "ops.key"), "--out", filepath.Join(dir, "bad.json"), bad}, &out, &errb); code != 0 ||
		!strings.Contains(errb.String(), "WARNING") {
		t.Fatalf("plan sign --force: exit %d\n%s", code, errb.String())
	}
	goods, _ := filepath.Glob("testdata/plans/good/*.yaml")
	examples, _ := filepath.Glob("../../examples/plans/*.yaml")
	for _, f := range append(goods, examples...) {
		out.Reset()
		if code := run(context.Background(), []string{"plan", "check", f}, &out, &errb); code != 0 || !strings.Contains(out.String(), "with --config also:") {
			t.Errorf("%s without --config: exit %d\n%s", f, code, out.String())
		}
	}
}
