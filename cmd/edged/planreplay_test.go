package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
)

// TestReplayRefusedAfterPlanStoreCorruption: plan 25 runs; plans.db is
// damaged in the middle while edged is down, so edged moves it aside and
// starts without a plan. A stale signed plan 1 (as an old retained message
// would bring) must still be refused: the watermark beside plans.db keeps
// the highest version.
func TestReplayRefusedAfterPlanStoreCorruption(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf("gateway: {id: gw-rp}\ndata_dir: %s/data\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\nplans: {trusted_keys: [%s/ops.pub]}\n", dir, dir))
	signed := func(v int) []byte {
		return plan.Sign(priv, fmt.Appendf(nil, "version: %d\ngateway: {id: gw-rp}\ndevices:\n  - {name: d%d, kind: sim, interval: 50ms, options: {metric: m}}\n", v, v)).Encode()
	}
	v1 := signed(1)

	d, stop := startDaemon(t, cfg)
	for _, env := range [][]byte{v1, signed(25)} {
		if st := <-d.plans.orch.Submit(env, orchestrator.SourceAPI); st.State != orchestrator.StateApplied {
			t.Fatalf("plan %d: %s %s", st.Version, st.State, st.Error)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(dir, "data", "plans.db")
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	ps := int64(os.Getpagesize())
	junk := make([]byte, 4*ps)
	for i := range junk {
		junk[i] = byte(i * 13)
	}
	if _, err := f.WriteAt(junk, 2*ps); err != nil {
		t.Fatal(err)
	}
	f.Close()

	d, stop = startDaemon(t, cfg)
	defer stop()
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) != 1 {
		t.Fatalf("plans.db not moved aside: %v", aside)
	}
	if rec := d.planStatus().Recovered; rec == nil || !strings.Contains(rec.MovedTo, "plans.db.corrupt-") || rec.Reason == "" {
		t.Errorf("status plan.recovered = %+v, want the moved-aside file and why", rec)
	}
	if v := d.plans.version(); v != 0 {
		t.Fatalf("running plan %d after the store was started afresh, want 0", v)
	}
	st := <-d.plans.orch.Submit(v1, orchestrator.SourceMQTT)
	if st.State != orchestrator.StateRejected || !strings.Contains(st.Error, "replay") || !strings.Contains(st.Error, "26") {
		t.Fatalf("stale plan 1 after the corruption: %s %q, want rejected as a replay naming 26", st.State, st.Error)
	}
	if st := <-d.plans.orch.Submit(signed(26), orchestrator.SourceAPI); st.State != orchestrator.StateApplied {
		t.Fatalf("plan 26: %s %s", st.State, st.Error)
	}
}
