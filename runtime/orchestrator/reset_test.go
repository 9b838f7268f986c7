package orchestrator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/runtime/plan"
)

// Reset makes memStore a Resetter.
func (m *memStore) Reset(v int64, issued time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.attempted
	m.attempted = v
	if issued.After(m.issued) {
		m.issued = issued
	}
	return old, nil
}

// TestResetPlan: from a gateway at 2^40, a reset plan by a reset key is
// applied and says "watermark 2^40 → 1"; it is applied once; a reset by a
// trusted key, signed before the newest signature, or signed more than
// MaxClockSkew ago is refused; and a reset waiting with a higher normal
// plan is the one applied.
func TestResetPlan(t *testing.T) {
	pub, priv, _ := plan.GenerateKey()
	rpub, rpriv, _ := plan.GenerateKey()
	trust, _ := plan.NewTrust(pub)
	if err := trust.AddResetKeys(rpub); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	store := &memStore{applied: plan.MaxVersion, attempted: plan.MaxVersion, issued: now}
	target := &fakeTarget{running: plan.MaxVersion}
	o, err := New(Config{Trust: trust, GatewayID: "gw-01", Target: target, Store: store, MaxClockSkew: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	y := func(v int64) []byte { return fmt.Appendf(nil, "version: %d\ngateway: {id: gw-01}\n", v) }

	for _, c := range []struct {
		name string
		env  []byte
		has  string
	}{
		{"by a trusted key", plan.SignResetAt(priv, y(1), now.Add(time.Second)).Encode(), "not a reset key"},
		{"signed before the newest signature", plan.SignResetAt(rpriv, y(1), now.Add(-time.Second)).Encode(), "not after"},
		{"signed long ago", plan.SignResetAt(rpriv, y(1), now.Add(-2*time.Minute)).Encode(), "before this gateway's clock"},
		{"signed in the future", plan.SignResetAt(rpriv, y(1), now.Add(2*time.Minute)).Encode(), "ahead of this gateway's clock"},
	} {
		if st := <-o.Submit(c.env, "test"); st.State != StateRejected || !strings.Contains(st.Error, c.has) {
			t.Errorf("reset %s: %s %q, want rejected saying %q", c.name, st.State, st.Error, c.has)
		}
	}
	reset := plan.SignResetAt(rpriv, y(1), now.Add(time.Second)).Encode()
	st := <-o.Submit(reset, "test")
	if want := fmt.Sprintf("watermark %d → 1", plan.MaxVersion); st.State != StateApplied || st.Reset != want || st.Applied != 1 {
		t.Fatalf("reset: %s %q reset %q applied %d, want applied saying %q", st.State, st.Error, st.Reset, st.Applied, want)
	}
	if a, _ := store.Attempted(); a != 1 {
		t.Errorf("attempted %d after the reset, want 1", a)
	}
	if st := <-o.Submit(plan.SignAt(priv, y(2), now.Add(time.Second)).Encode(), "test"); st.State != StateApplied {
		t.Fatalf("plan 2 after the reset: %s %s", st.State, st.Error)
	}
	if st := <-o.Submit(reset, "test"); st.State != StateRejected || !strings.Contains(st.Error, "replay") {
		t.Errorf("reset replayed: %s %q", st.State, st.Error)
	}

	// A new reset and a higher normal plan waiting together: the reset is
	// applied, the other superseded.
	target.gate = make(chan struct{})
	busy := o.Submit(plan.SignAt(priv, y(3), now.Add(2*time.Second)).Encode(), "test")
	for deadline := time.Now().Add(time.Minute); ; waitABit() { // hang guard only
		if st := o.Status(); st.State == StateApplying && st.Version == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("plan 3 never started switching")
		}
	}
	normal := o.Submit(plan.SignAt(priv, y(9), now.Add(2*time.Second)).Encode(), "test")
	second := o.Submit(plan.SignResetAt(rpriv, y(5), now.Add(3*time.Second)).Encode(), "test")
	close(target.gate)
	<-busy
	if st := <-second; st.State != StateApplied || st.Reset != "watermark 3 → 5" {
		t.Errorf("second reset: %s %q %q", st.State, st.Error, st.Reset)
	}
	if st := <-normal; st.State != StateRejected || !strings.Contains(st.Error, "superseded") {
		t.Errorf("normal plan waiting with the reset: %s %q, want superseded", st.State, st.Error)
	}
}
