package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
	"github.com/edged-gateway/edged/sync/planstore"
)

// TestPlanResetRecoversFromHugeVersion: a gateway runs plan 2^40, the
// ceiling, so no later plan can ever be newer. A reset plan signed with a
// reset key (plans.reset_keys) brings it back to version 1 and normal
// plans go on from there; the same reset replayed, a reset signed with a
// normal trusted key, a reset signed before the newest signature seen and
// a reset signed too long ago are refused; after a restart the lowered
// watermark holds and the reset still cannot be replayed.
func TestPlanResetRecoversFromHugeVersion(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := plan.GenerateKey()
	rpub, rpriv, rid := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		t.Fatal(err)
	}
	if err := plan.WritePublicKey(filepath.Join(dir, "reset.pub"), rpub); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf("gateway: {id: gw-rs}\ndata_dir: %s/data\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\nplans: {trusted_keys: [%s/ops.pub], reset_keys: [%s/reset.pub]}\n", dir, dir, dir))
	yamlOf := func(v int64) []byte {
		return fmt.Appendf(nil, "version: %d\ngateway: {id: gw-rs}\ndevices:\n  - {name: d%d, kind: sim, interval: 50ms, options: {metric: m}}\n", v, v)
	}
	t0 := time.Now().UTC().Truncate(time.Second)
	submit := func(d *daemon, env []byte) orchestrator.Status {
		t.Helper()
		return <-d.plans.orch.Submit(env, orchestrator.SourceAPI)
	}
	refused := func(d *daemon, what string, env []byte, has ...string) {
		t.Helper()
		st := submit(d, env)
		if st.State != orchestrator.StateRejected {
			t.Fatalf("%s: %s %q, want rejected", what, st.State, st.Error)
		}
		for _, h := range has {
			if !strings.Contains(st.Error, h) {
				t.Errorf("%s: error %q does not say %q", what, st.Error, h)
			}
		}
	}

	d, stop := startDaemon(t, cfg)
	if st := submit(d, plan.SignAt(priv, yamlOf(plan.MaxVersion), t0).Encode()); st.State != orchestrator.StateApplied {
		t.Fatalf("plan 2^40: %s %s", st.State, st.Error)
	}
	refused(d, "normal plan 2 while stuck at 2^40", plan.SignAt(priv, yamlOf(2), t0.Add(time.Second)).Encode(), "not newer")
	refused(d, "reset signed with a normal trusted key", plan.SignResetAt(priv, yamlOf(1), t0.Add(time.Second)).Encode(), "not a reset key")
	refused(d, "reset signed before the newest signature", plan.SignResetAt(rpriv, yamlOf(1), t0.Add(-time.Second)).Encode(), "replay", "not after")
	refused(d, "reset signed an hour ago", plan.SignResetAt(rpriv, yamlOf(1), t0.Add(-time.Hour)).Encode(), "before this gateway's clock")
	refused(d, "normal plan signed with the reset key", plan.SignAt(rpriv, yamlOf(2), t0.Add(time.Second)).Encode(), "reset key")

	reset := plan.SignResetAt(rpriv, yamlOf(1), t0.Add(time.Second)).Encode()
	st := submit(d, reset)
	if st.State != orchestrator.StateApplied || st.Applied != 1 {
		t.Fatalf("reset plan 1: %s %q (running %d)", st.State, st.Error, st.Applied)
	}
	want := fmt.Sprintf("watermark %d → 1", plan.MaxVersion)
	if st.Reset != want || st.KeyID != rid {
		t.Errorf("reset status: reset %q key %s, want %q by %s", st.Reset, st.KeyID, want, rid)
	}
	var out bytes.Buffer
	printStatus(&out, st)
	if !strings.Contains(out.String(), "reset: "+want) {
		t.Errorf("printed status does not show the reset:\n%s", out.String())
	}
	if st := submit(d, plan.SignAt(priv, yamlOf(2), t0.Add(time.Second)).Encode()); st.State != orchestrator.StateApplied {
		t.Fatalf("normal plan 2 after the reset: %s %s", st.State, st.Error)
	}
	// The same reset envelope again (a retained message, a replay) is
	// refused even though the status it would match is gone.
	refused(d, "the reset replayed", reset, "replay")
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	store, err := planstore.Open(filepath.Join(dir, "data", "plans.db"), planstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := store.Attempted(); err != nil || a != 2 {
		t.Errorf("attempted version after the reset and plan 2: %d %v, want 2", a, err)
	}
	store.Close()
	wm, _ := os.ReadFile(filepath.Join(dir, "data", "plans.db.version"))
	if !strings.HasPrefix(string(wm), "edged-plan-watermark 2 2 ") {
		t.Errorf("watermark file %q, want version 2", wm)
	}

	d, stop = startDaemon(t, cfg)
	defer stop()
	if v := d.plans.version(); v != 2 {
		t.Fatalf("running plan %d after the restart, want 2", v)
	}
	refused(d, "the reset replayed after a restart", reset, "replay")
	refused(d, "plan 2 again after a restart", plan.SignAt(priv, yamlOf(2), t0.Add(2*time.Second)).Encode(), "not newer")
	if st := submit(d, plan.SignAt(priv, yamlOf(3), t0.Add(2*time.Second)).Encode()); st.State != orchestrator.StateApplied {
		t.Fatalf("plan 3 after the restart: %s %s", st.State, st.Error)
	}
}

// TestPlanSignResetCLI: `edged plan sign --reset` makes a reset envelope
// that `edged plan verify` shows as one with --reset-pub or --config, and
// refuses with the normal key alone; a config listing the same key as
// trusted and reset key is refused.
func TestPlanSignResetCLI(t *testing.T) {
	dir := t.TempDir()
	cli := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(context.Background(), args, &out, &out)
		return code, out.String()
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	for _, k := range []string{"ops", "reset"} {
		if code, out := cli("plan", "keygen", "--out", at(k)); code != 0 {
			t.Fatalf("keygen %s: %d %s", k, code, out)
		}
	}
	os.WriteFile(at("plan.yaml"), []byte(planV1), 0o644)
	code, out := cli("plan", "sign", "--reset", "--key", at("reset.key"), "--out", at("reset.json"), at("plan.yaml"))
	if code != 0 || !strings.Contains(out, "RESET plan") {
		t.Fatalf("sign --reset: %d %s", code, out)
	}
	b, _ := os.ReadFile(at("reset.json"))
	if !strings.Contains(string(b), `"kind":"reset"`) {
		t.Errorf("reset envelope %s has no \"kind\":\"reset\"", b)
	}
	if code, out := cli("plan", "verify", "--pub", at("ops.pub"), "--reset-pub", at("reset.pub"), at("reset.json")); code != 0 || !strings.Contains(out, "ok: RESET plan version 1") || !strings.Contains(out, "watermark to 1") {
		t.Errorf("verify --reset-pub: %d %s", code, out)
	}
	if code, out := cli("plan", "verify", "--pub", at("reset.pub"), at("reset.json")); code != 1 || !strings.Contains(out, "not a reset key") {
		t.Errorf("verify a reset with the key as a normal key: %d %s, want a refusal", code, out)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf("gateway: {id: gw-01}\ndata_dir: %s/data\nlocal_mqtt: {mode: off}\nplans: {trusted_keys: [%s], reset_keys: [%s]}\n", dir, at("ops.pub"), at("reset.pub")))
	if code, out := cli("plan", "verify", "--config", cfg, at("reset.json")); code != 0 || !strings.Contains(out, "RESET plan") {
		t.Errorf("verify --config: %d %s", code, out)
	}
	same := writeConfig(t, dir, fmt.Sprintf("gateway: {id: gw-01}\ndata_dir: %s/data\nlocal_mqtt: {mode: off}\nplans: {trusted_keys: [%s], reset_keys: [%s]}\n", dir, at("ops.pub"), at("ops.pub")))
	if _, _, err := loadConfig(same, builtinKinds()); err == nil || !strings.Contains(err.Error(), "plans.reset_keys[0]") || !strings.Contains(err.Error(), "also in plans.trusted_keys") {
		t.Errorf("a reset key that is also trusted: %v", err)
	}
}
