package orchestrator

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/runtime/plan"
)

// memStore is a Store in memory.
type memStore struct {
	mu        sync.Mutex
	applied   int64
	env       []byte
	attempted int64
	status    []byte
	issued    time.Time
}

func (m *memStore) Issued() (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.issued, nil
}
func (m *memStore) RaiseIssued(t time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.After(m.issued) {
		m.issued = t
	}
	return nil
}

func (m *memStore) Applied() (int64, error) { m.mu.Lock(); defer m.mu.Unlock(); return m.applied, nil }
func (m *memStore) Attempted() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.attempted, nil
}
func (m *memStore) SetAttempted(v int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempted = max(m.attempted, v)
	return nil
}
func (m *memStore) Commit(v int64, env []byte, _ []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.applied, m.env = v, env
	return nil
}
func (m *memStore) Status() ([]byte, error) { m.mu.Lock(); defer m.mu.Unlock(); return m.status, nil }
func (m *memStore) SetStatus(doc []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status = doc
	return nil
}

// fakeTarget runs "workloads" that are plan versions; a plan whose
// services section names a service "bad" fails to switch, one named
// "invalid" fails to prepare.
type fakeTarget struct {
	mu       sync.Mutex
	running  int64
	switches []int64
	gate     chan struct{} // when set, Switch waits on it

	downloadFails int // how many more times a "download" service fails to prepare
}

func (f *fakeTarget) Current() Workload { f.mu.Lock(); defer f.mu.Unlock(); return f.running }

func (f *fakeTarget) Prepare(_ context.Context, p *plan.Plan, r *Reporter) (Workload, error) {
	if strings.Contains(string(planServices(p)), "invalid") {
		return nil, &plan.InvalidError{}
	}
	if strings.Contains(string(planServices(p)), "download") {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.downloadFails > 0 {
			f.downloadFails--
			return nil, Transient(errors.New("fetch: connection refused"))
		}
	}
	r.Step("prepare").OK("")
	if strings.Contains(string(planServices(p)), "bad") {
		return -p.Version, nil
	}
	return p.Version, nil
}

func (f *fakeTarget) Switch(_ context.Context, w Workload, r *Reporter) error {
	if f.gate != nil {
		<-f.gate
	}
	v := w.(int64)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.switches = append(f.switches, v)
	if v < 0 {
		r.Step("start bad").Fail(errors.New("exit status 3"))
		return fmt.Errorf("service bad: exit status 3")
	}
	f.running = v
	return nil
}

func planServices(p *plan.Plan) []byte {
	var names []string
	for _, n := range p.Services.Content {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "name" {
				names = append(names, n.Content[i+1].Value)
			}
		}
	}
	return []byte(strings.Join(names, ","))
}

type fixture struct {
	o      *Orchestrator
	target *fakeTarget
	store  *memStore
	priv   ed25519.PrivateKey
	mu     sync.Mutex
	seen   []Status
	cancel context.CancelFunc
	done   chan struct{}
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pub, priv, _ := plan.GenerateKey()
	trust, err := plan.NewTrust(pub)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{target: &fakeTarget{}, store: &memStore{}, priv: priv}
	f.o, err = New(Config{Trust: trust, GatewayID: "gw-01", Labels: map[string]string{"site": "plant-3"},
		Target: f.target, Store: f.store, OnStatus: func(s Status) {
			f.mu.Lock()
			f.seen = append(f.seen, s)
			f.mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() { f.o.Run(ctx); close(f.done) }()
	t.Cleanup(func() { cancel(); <-f.done })
	return f
}

func (f *fixture) signed(version int64, gateway string, services ...string) []byte {
	y := fmt.Sprintf("version: %d\ngateway: %s\n", version, gateway)
	if len(services) > 0 {
		y += "services:\n"
		for _, s := range services {
			y += fmt.Sprintf("  - {name: %s, kind: rules}\n", s)
		}
	}
	return plan.Sign(f.priv, []byte(y)).Encode()
}

func TestApplyRejectRollBack(t *testing.T) {
	f := newFixture(t)
	other, _ := func() (ed25519.PrivateKey, error) { _, k, _ := plan.GenerateKey(); return k, nil }()
	tampered := plan.Sign(f.priv, []byte("version: 9\ngateway: {id: gw-01}\n"))
	tampered.Plan = []byte("version: 9\ngateway: {id: gw-02}\n")

	cases := []struct {
		name    string
		env     []byte
		state   string
		running int64
		errHas  string
	}{
		{"v1 applies", f.signed(1, "{id: gw-01}", "a"), StateApplied, 1, ""},
		{"by labels", f.signed(2, "{labels: {site: plant-3}}", "a"), StateApplied, 2, ""},
		{"other gateway", f.signed(3, "{id: gw-02}"), StateRejected, 2, "not this one"},
		{"replay", f.signed(1, "{id: gw-01}", "a"), StateRejected, 2, "not newer than the applied version 2"},
		{"unknown key", plan.Sign(other, []byte("version: 5\ngateway: {id: gw-01}\n")).Encode(), StateRejected, 2, "unknown"},
		{"tampered", tampered.Encode(), StateRejected, 2, "signature"},
		{"not an envelope", []byte("version: 5"), StateRejected, 2, "envelope"},
		{"invalid plan", f.signed(4, "{id: gw-01}", "invalid"), StateRejected, 2, "invalid plan"},
		{"crash rolls back", f.signed(5, "{id: gw-01}", "bad"), StateRolledBack, 2, "service bad: exit status 3"},
		{"failed version is not retried", f.signed(5, "{id: gw-01}", "a"), StateRejected, 2, "already tried"},
		{"version past the ceiling", f.signed(math.MaxInt64, "{id: gw-01}", "a"), StateRejected, 2, "invalid plan"},
		{"next version applies", f.signed(6, "{id: gw-01}", "a", "b"), StateApplied, 6, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := <-f.o.Submit(c.env, "test")
			if st.State != c.state {
				t.Fatalf("state %s, want %s (error %q, problems %v)", st.State, c.state, st.Error, st.Problems)
			}
			if !strings.Contains(st.Error, c.errHas) {
				t.Errorf("error %q does not say %q", st.Error, c.errHas)
			}
			if got := f.target.Current().(int64); got != c.running {
				t.Errorf("running workload %d, want %d", got, c.running)
			}
			if st.Applied != c.running {
				t.Errorf("status says applied_version %d, want %d", st.Applied, c.running)
			}
			if got := f.o.Status(); got.SHA256 != st.SHA256 || got.State != st.State {
				t.Errorf("Status() = %s %s, want the submitted plan's", got.State, got.SHA256)
			}
		})
	}
	if got, want := fmt.Sprint(f.target.switches), "[1 2 -5 2 6]"; got != want {
		t.Errorf("switches %s, want %s (rolled back to 2 after -5)", got, want)
	}
	f.mu.Lock()
	last := f.seen[len(f.seen)-1]
	f.mu.Unlock()
	if last.Version != 6 || last.State != StateApplied {
		t.Errorf("last published status %d %s, want 6 applied", last.Version, last.State)
	}
}

func TestRetainedPlanAgainChangesNothing(t *testing.T) {
	f := newFixture(t)
	env := f.signed(1, "{id: gw-01}", "a")
	if st := <-f.o.Submit(env, "mqtt"); st.State != StateApplied {
		t.Fatalf("state %s: %s", st.State, st.Error)
	}
	f.mu.Lock()
	published := len(f.seen)
	f.mu.Unlock()
	st := <-f.o.Submit(env, "mqtt") // the broker sends the retained plan on reconnect
	if st.State != StateApplied {
		t.Errorf("the same plan again is answered %s (%s), want its applied status", st.State, st.Error)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != published {
		t.Errorf("status published again for a plan already applied: %+v", f.seen[published:])
	}
	if len(f.target.switches) != 1 {
		t.Errorf("switched %d times, want once", len(f.target.switches))
	}
}

func TestNewerPlanSupersedesWaitingOnes(t *testing.T) {
	f := newFixture(t)
	f.target.gate = make(chan struct{})
	first := f.o.Submit(f.signed(1, "{id: gw-01}", "a"), "test")
	// Wait until v1 is switching, then queue v3 and v2 behind it.
	for f.o.Status().Version != 1 {
		waitABit()
	}
	v3 := f.o.Submit(f.signed(3, "{id: gw-01}", "a"), "test")
	v2 := f.o.Submit(f.signed(2, "{id: gw-01}", "a"), "test")
	close(f.target.gate)
	if st := <-first; st.State != StateApplied {
		t.Fatalf("v1: %s %s", st.State, st.Error)
	}
	if st := <-v2; st.State != StateRejected || !strings.Contains(st.Error, "superseded by plan 3") {
		t.Errorf("v2: %s %q, want rejected as superseded by plan 3", st.State, st.Error)
	}
	if st := <-v3; st.State != StateApplied {
		t.Errorf("v3: %s %s", st.State, st.Error)
	}
	if got, want := fmt.Sprint(f.target.switches), "[1 3]"; got != want {
		t.Errorf("switches %s, want %s: plans must not interleave and v2 must not run", got, want)
	}
}

func TestDiedWhileApplyingIsReportedOnStart(t *testing.T) {
	store := &memStore{applied: 2, status: []byte(`{"version":3,"state":"applying"}`)}
	pub, _, _ := plan.GenerateKey()
	trust, _ := plan.NewTrust(pub)
	o, err := New(Config{Trust: trust, GatewayID: "gw", Target: &fakeTarget{}, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	st := o.Status()
	if st.State != StateRolledBack || st.Applied != 2 || !strings.Contains(st.Error, "came back on plan 2") {
		t.Errorf("status after a crash mid-apply: %+v", st)
	}
}

func waitABit() { time.Sleep(time.Millisecond) }

// TestFailedDownloadIsTriedAgain: a plan rejected because an artifact
// could not be fetched is applied when the same envelope comes again,
// while an invalid one is answered from its status.
func TestFailedDownloadIsTriedAgain(t *testing.T) {
	f := newFixture(t)
	f.target.downloadFails = 1
	env := f.signed(1, "{id: gw-01}", "download")
	if st := <-f.o.Submit(env, SourceMQTT); st.State != StateRejected || !st.Retry {
		t.Fatalf("first try: %s retry=%v (%s)", st.State, st.Retry, st.Error)
	}
	if st := <-f.o.Submit(env, SourceMQTT); st.State != StateApplied {
		t.Fatalf("the same plan again: %s (%s), want applied", st.State, st.Error)
	}
	bad := f.signed(2, "{id: gw-01}", "invalid")
	<-f.o.Submit(bad, SourceMQTT)
	f.mu.Lock()
	n := len(f.seen)
	f.mu.Unlock()
	if st := <-f.o.Submit(bad, SourceMQTT); st.State != StateRejected || st.Retry {
		t.Errorf("invalid plan again: %s retry=%v", st.State, st.Retry)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) != n {
		t.Errorf("an invalid plan that came again was handled again: %d more statuses", len(f.seen)-n)
	}
}

// TestDyingMidApplyLeavesAnApplyingStatus: while a plan switches, the store
// says so; an orchestrator started on that store (edged after kill -9)
// reports the plan rolled back, and the same plan coming again (the
// retained message) is not applied again.
func TestDyingMidApplyLeavesAnApplyingStatus(t *testing.T) {
	f := newFixture(t)
	if st := <-f.o.Submit(f.signed(1, "{id: gw-01}", "a"), SourceMQTT); st.State != StateApplied {
		t.Fatal(st.Error)
	}
	f.target.gate = make(chan struct{})
	env := f.signed(2, "{id: gw-01}", "a", "b")
	reply := f.o.Submit(env, SourceMQTT)
	for f.o.Status().Version != 2 {
		waitABit()
	}
	var stored Status
	for stored.State != StateApplying {
		waitABit()
		doc, _ := f.store.Status()
		json.Unmarshal(doc, &stored)
	}
	if stored.Version != 2 {
		t.Fatalf("stored status %+v while switching", stored)
	}
	// "kill -9": a new orchestrator on the same store.
	pub := f.priv.Public().(ed25519.PublicKey)
	trust, _ := plan.NewTrust(pub)
	target := &fakeTarget{running: 1}
	again, err := New(Config{Trust: trust, GatewayID: "gw-01", Target: target, Store: f.store})
	if err != nil {
		t.Fatal(err)
	}
	st := again.Status()
	if st.State != StateRolledBack || st.Version != 2 || st.Applied != 1 || !strings.Contains(st.Error, "stopped while applying plan 2") {
		t.Errorf("after the restart: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { again.Run(ctx); close(done) }()
	if st := <-again.Submit(env, SourceMQTT); st.State != StateRolledBack {
		t.Errorf("the retained plan after the restart: %s %q", st.State, st.Error)
	}
	if len(target.switches) != 0 {
		t.Errorf("the plan that was switching when edged died was applied again: %v", target.switches)
	}
	cancel()
	<-done
	close(f.target.gate)
	<-reply
}

// TestSignatureTimeIsChecked: a plan signed too far in the future is
// refused; one signed before the newest signature already seen is refused
// as a replay even with a higher version; an envelope from before issued_at
// is judged by its version alone.
func TestSignatureTimeIsChecked(t *testing.T) {
	f := newFixture(t)
	y := func(v int) []byte { return fmt.Appendf(nil, "version: %d\ngateway: {id: gw-01}\n", v) }
	now := time.Now().UTC()
	for _, c := range []struct {
		name  string
		env   []byte
		state string
		has   string
	}{
		{"from the future", plan.SignAt(f.priv, y(1), now.Add(time.Hour)).Encode(), StateRejected, "ahead of this gateway's clock"},
		{"now", plan.SignAt(f.priv, y(2), now).Encode(), StateApplied, ""},
		{"newer version signed earlier", plan.SignAt(f.priv, y(3), now.Add(-time.Hour)).Encode(), StateRejected, "before " + now.Truncate(time.Second).Format(time.RFC3339)},
		{"signed later", plan.SignAt(f.priv, y(3), now.Add(time.Second)).Encode(), StateApplied, ""},
		{"old envelope without issued_at", plan.Envelope{Plan: y(4), Signature: ed25519.Sign(f.priv, y(4)), KeyID: plan.KeyID(f.priv.Public().(ed25519.PublicKey))}.Encode(), StateApplied, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := <-f.o.Submit(c.env, "test")
			if st.State != c.state || !strings.Contains(st.Error, c.has) {
				t.Fatalf("%s %q, want %s saying %q", st.State, st.Error, c.state, c.has)
			}
		})
	}
}
