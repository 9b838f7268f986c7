package supervisor

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// emitted collects a supervisor's emits by device.
type emitted struct {
	mu  sync.Mutex
	got map[string][]float64
}

func (e *emitted) on(_ string, rs []reading.Reading) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range rs {
		e.got[r.Device] = append(e.got[r.Device], r.Value)
	}
}

// roundTrip publishes value for device and returns what the service
// emitted for it.
func (e *emitted) roundTrip(t *testing.T, s *Supervisor, device string, value float64) float64 {
	t.Helper()
	s.Publish([]reading.Reading{{Device: device, Metric: "m", Value: value}})
	var out float64
	waitFor(t, "the emit for "+device, func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		if v := e.got[device]; len(v) > 0 {
			out = v[0]
			return true
		}
		return false
	})
	return out
}

func bspec(mode, version, base string) Spec {
	sp := vspec("a", mode, version)
	sp.Base = base
	return sp
}

func TestConfigOnlyChangeIsConfiguredLive(t *testing.T) {
	e := &emitted{got: map[string][]float64{}}
	s, err := New(Config{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, OnEmit: e.on},
		[]Spec{bspec("passthrough", "1", "base")})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	pid := pids(t, s, "a")["a"]
	if v := e.roundTrip(t, s, "one", 5); v != 5 {
		t.Fatalf("passthrough emitted %v for 5", v)
	}

	// Only the config changed: Configure on the running process.
	ch, err := apply(s, bspec("double", "2", "base"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Configured) != 1 || ch.Configured[0] != "a" || len(ch.Restarted) != 0 {
		t.Fatalf("changes %+v, want a configured live, nothing restarted", ch)
	}
	if st := status(s, "a"); st.Pid != pid || st.Restarts != 0 || st.State != StateRunning {
		t.Fatalf("after a live config: pid %d (was %d), restarts %d, state %s", st.Pid, pid, st.Restarts, st.State)
	}
	if v := e.roundTrip(t, s, "two", 7); v != 14 {
		t.Fatalf("after the live config to double, 7 came out as %v", v)
	}

	// A refused config fails Apply with the service's reason; the process
	// runs on with its old config.
	ch, err = apply(s, bspec("reject", "3", "base"))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "mode reject: config refused") {
		t.Fatalf("apply of a refused config: %v, want ErrRefused with the service's reason", err)
	}
	if len(ch.Configured) != 0 {
		t.Fatalf("changes %+v after a refusal", ch)
	}
	if st := status(s, "a"); st.Pid != pid || st.Restarts != 0 {
		t.Fatalf("after a refused config: pid %d (was %d), restarts %d", st.Pid, pid, st.Restarts)
	}
	if v := e.roundTrip(t, s, "three", 9); v != 18 {
		t.Fatalf("after the refusal, 9 came out as %v: want the old config (double) still", v)
	}
	// Rolling back to the version it runs is no change at all.
	ch, err = apply(s, bspec("double", "2", "base"))
	if err != nil || len(ch.Unchanged) != 1 {
		t.Fatalf("roll back: %+v %v, want a unchanged", ch, err)
	}
	// And back to the first config, live again.
	if ch, err = apply(s, bspec("passthrough", "1", "base")); err != nil || len(ch.Configured) != 1 {
		t.Fatalf("back to passthrough: %+v %v", ch, err)
	}
	if v := e.roundTrip(t, s, "four", 3); v != 3 || status(s, "a").Pid != pid {
		t.Fatalf("back to passthrough: 3 came out as %v, pid %d (was %d)", v, status(s, "a").Pid, pid)
	}

	// Anything else changed (Base differs): a restart, a new process.
	ch, err = apply(s, bspec("double", "5", "other"))
	if err != nil {
		t.Fatal(err)
	}
	wantChanges(t, ch, Changes{Restarted: []string{"a"}})
	if after := pids(t, s, "a")["a"]; after == pid {
		t.Fatalf("a change beyond the config kept pid %d", pid)
	}
	gone(t, "a's old process", pid)
	if v := e.roundTrip(t, s, "five", 4); v != 8 {
		t.Fatalf("after the restart, 4 came out as %v", v)
	}
}

// TestLiveConfigureThatHangsRestartsWithTheOldConfig: a service that never
// answers its new config's Configure fails Apply (ErrRefused, saying so)
// and is restarted with its old config, which it then runs.
func TestLiveConfigureThatHangsRestartsWithTheOldConfig(t *testing.T) {
	e := &emitted{got: map[string][]float64{}}
	first := bspec("double", "1", "base")
	first.StartTimeout = time.Second
	s, err := New(Config{BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, OnEmit: e.on}, []Spec{first})
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	pid := pids(t, s, "a")["a"]
	hang := bspec("hang_configure", "2", "base")
	hang.StartTimeout = time.Second
	_, err = apply(s, hang)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no answer to Configure") {
		t.Fatalf("apply of a config the service hangs on: %v, want ErrRefused saying it did not answer", err)
	}
	waitFor(t, "a restarted", func() bool { st := status(s, "a"); return st.State == StateRunning && st.Pid != pid && st.Pid > 0 })
	if v := e.roundTrip(t, s, "after", 5); v != 10 {
		t.Fatalf("after the restart 5 came out as %v: want the old config (double)", v)
	}
}
