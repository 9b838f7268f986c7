package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
)

// TestRolledBackPlanLeavesTheBacklog: a plan whose sync policy shrinks the
// outbox caps, and whose service fails its health gate, is rolled back:
// the backlog must be untouched (its caps apply only once a plan commits).
// The same caps in a plan that commits then drop what the status said they
// would.
func TestRolledBackPlanLeavesTheBacklog(t *testing.T) {
	dir := t.TempDir()
	pub, priv, _ := plan.GenerateKey()
	if err := plan.WritePublicKey(filepath.Join(dir, "ops.pub"), pub); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf("gateway: {id: gw-pol}\ndata_dir: %s/data\nhttp: {listen: 127.0.0.1:0}\nlocal_mqtt: {mode: off}\nplans: {trusted_keys: [%s/ops.pub]}\n", dir, dir))
	d, stop := startDaemon(t, cfg)
	defer stop()

	// A backlog of about 4 MiB, as after a long cloud outage.
	for i := range 20 {
		rs := make([]reading.Reading, 5000)
		for j := range rs {
			rs[j] = reading.Reading{Device: "boiler", Metric: "temperature", Unit: "C", Value: float64(i*5000 + j), Time: time.Now()}
		}
		if err := d.outbox.Append(context.Background(), rs); err != nil {
			t.Fatal(err)
		}
	}
	before := d.outbox.Stats()
	if before.Bytes < 2<<20 {
		t.Fatalf("backlog of %d bytes, want over 2 MiB", before.Bytes)
	}

	// The plan's device appends every millisecond, so commits happen
	// while the broken service fails its gate.
	body := `gateway: {id: gw-pol}
devices:
  - {name: fast, kind: sim, interval: 1ms, options: {metric: m}}
sync:
  outbox: {max_bytes: 1Mi}
`
	broken := fmt.Sprintf("services:\n  - {name: broken, url: file:///bin/false, sha256: %s, subscribe: [\"#\"]}\n", fileSHA256(t, "/bin/false"))
	st := <-d.plans.orch.Submit(plan.Sign(priv, []byte("version: 1\n"+body+broken)).Encode(), orchestrator.SourceAPI)
	if st.State != orchestrator.StateRolledBack {
		t.Fatalf("plan 1: %s %s, want rolled_back", st.State, st.Error)
	}
	var syncDetail string
	for _, s := range st.Steps {
		if s.Name == "sync" && syncDetail == "" {
			syncDetail = s.Detail
		}
	}
	if !strings.Contains(syncDetail, "readings, once committed") {
		t.Errorf("sync step %q does not say how many readings the caps will drop", syncDetail)
	}
	// Commits go on after the roll back (the config's devices: none; append).
	if err := d.outbox.Append(context.Background(), []reading.Reading{{Device: "x", Metric: "m", Time: time.Now()}}); err != nil {
		t.Fatal(err)
	}
	if after := d.outbox.Stats(); after.Dropped != 0 || after.Depth < before.Depth {
		t.Fatalf("the rolled-back plan dropped %d readings (depth %d, was %d)", after.Dropped, after.Depth, before.Depth)
	}
	if b, _ := d.outbox.Limits(); b != 256<<20 {
		t.Errorf("max_bytes %d after the roll back, want the config's 256Mi", b)
	}

	st = <-d.plans.orch.Submit(plan.Sign(priv, []byte("version: 2\n"+body)).Encode(), orchestrator.SourceAPI)
	if st.State != orchestrator.StateApplied {
		t.Fatalf("plan 2: %s %s", st.State, st.Error)
	}
	waitUntil(t, "the committed caps to drop the backlog", func() bool { return d.outbox.Stats().Dropped > 0 })
	if b, _ := d.outbox.Limits(); b != 1<<20 {
		t.Errorf("max_bytes %d after plan 2 committed, want 1Mi", b)
	}
}
