package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanKeygenSignVerify goes through the operator's commands: a key
// pair, a signed plan that verifies, and the tampered, foreign-key and
// invalid cases that must not.
func TestPlanKeygenSignVerify(t *testing.T) {
	dir := t.TempDir()
	cli := func(args ...string) (int, string) {
		var out bytes.Buffer
		code := run(context.Background(), args, &out, &out)
		return code, out.String()
	}
	at := func(name string) string { return filepath.Join(dir, name) }
	if code, out := cli("plan", "keygen", "--out", at("ops")); code != 0 || !strings.Contains(out, "key id ") {
		t.Fatalf("keygen: %d %s", code, out)
	}
	if fi, err := os.Stat(at("ops.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if code, out := cli("plan", "keygen", "--out", at("ops")); code != 1 || !strings.Contains(out, "--force") {
		t.Errorf("keygen over an existing key: %d %s, want a refusal naming --force", code, out)
	}
	cli("plan", "keygen", "--out", at("other"))
	os.WriteFile(at("plan.yaml"), []byte(planV1), 0o644)
	if code, out := cli("plan", "sign", "--key", at("ops.key"), "--out", at("plan.json"), at("plan.yaml")); code != 0 {
		t.Fatalf("sign: %d %s", code, out)
	}
	if code, out := cli("plan", "verify", "--pub", at("ops.pub"), at("plan.json")); code != 0 || !strings.Contains(out, "ok: plan version 1") || !strings.Contains(out, "[stats alerts]") {
		t.Errorf("verify: %d %s", code, out)
	}
	// Rotation: either of two trusted keys will do.
	if code, out := cli("plan", "verify", "--pub", at("other.pub"), "--pub", at("ops.pub"), at("plan.json")); code != 0 {
		t.Errorf("verify with two keys: %d %s", code, out)
	}

	var env map[string]string
	b, _ := os.ReadFile(at("plan.json"))
	json.Unmarshal(b, &env)
	tampered := map[string]string{"plan": env["plan"][:len(env["plan"])-8] + "dmVyc2lv", "signature": env["signature"], "key_id": env["key_id"]}
	tb, _ := json.Marshal(tampered)
	os.WriteFile(at("tampered.json"), tb, 0o644)
	os.WriteFile(at("unsigned.json"), []byte(planV1), 0o644)
	os.WriteFile(at("bad.yaml"), []byte("version: 0\ngateway: {}\nextra: 1\n"), 0o644)
	os.WriteFile(at("huge.yaml"), []byte("version: 9223372036854775807\ngateway: {id: gw-01}\n"), 0o644)
	cases := []struct {
		name string
		args []string
		has  []string
	}{
		{"tampered", []string{"plan", "verify", "--pub", at("ops.pub"), at("tampered.json")}, []string{"signature"}},
		{"unknown key", []string{"plan", "verify", "--pub", at("other.pub"), at("plan.json")}, []string{env["key_id"], "unknown signing key"}},
		{"unsigned", []string{"plan", "verify", "--pub", at("ops.pub"), at("unsigned.json")}, []string{"envelope"}},
		{"invalid plan is not signed", []string{"plan", "sign", "--key", at("ops.key"), at("bad.yaml")}, []string{"version", "gateway", `unknown key "extra"`, "not signed"}},
		{"a version past the ceiling is not signed", []string{"plan", "sign", "--key", at("ops.key"), at("huge.yaml")}, []string{"ceiling 1099511627776", "not signed"}},
		{"apply needs an envelope", []string{"plan", "apply", at("plan.yaml")}, []string{"edged plan sign"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out := cli(c.args...)
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, out)
			}
			for _, h := range c.has {
				if !strings.Contains(out, h) {
					t.Errorf("output does not say %q:\n%s", h, out)
				}
			}
		})
	}
}
