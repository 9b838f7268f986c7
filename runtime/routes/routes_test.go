package routes

import (
	"context"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/forwarder"
)

// stuckLink never connects: a forwarder on it waits until its context ends.
type stuckLink struct{}

func (stuckLink) WaitConnected(ctx context.Context) (uint64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

func (stuckLink) Publish(string, []byte) (forwarder.Delivery, error) { panic("not connected") }

func testRoute(t *testing.T, name, key string, closed chan<- string) *Route {
	t.Helper()
	c := newMemCursor([]reading.Reading{{Seq: 1, Device: "d", Metric: "m"}})
	s := NewStore(c, nil)
	f, err := forwarder.New(forwarder.Config{Route: name, TopicPrefix: "e", GatewayID: "g"}, s, stuckLink{})
	if err != nil {
		t.Fatal(err)
	}
	return &Route{Name: name, To: "http", Key: key, Store: s, Forwarder: f, Close: func() { closed <- name }}
}

// TestManagerKeepsUnchangedRoutesAndRestartsChangedOnes: Set keeps a
// route whose key is the same (the new copy is closed, never started),
// stops a changed or removed one (closed once stopped) and starts the new.
func TestManagerKeepsUnchangedRoutesAndRestartsChangedOnes(t *testing.T) {
	closed := make(chan string, 10)
	m := NewManager(nil)
	a1, b1 := testRoute(t, "a", "1", closed), testRoute(t, "b", "1", closed)
	if _, _, err := m.Set([]*Route{a1, b1}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for deadline := time.Now().Add(time.Minute); ; { // Run has taken over
		m.mu.Lock()
		running := m.ctx != nil
		m.mu.Unlock()
		if running {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
		time.Sleep(time.Millisecond)
	}
	a2, b2, c2 := testRoute(t, "a", "1", closed), testRoute(t, "b", "2", closed), testRoute(t, "c", "1", closed)
	started, stopped, err := m.Set([]*Route{a2, b2, c2})
	if err != nil {
		t.Fatal(err)
	}
	if m.Route("a") != a1 || m.Route("b") != b2 || m.Route("c") != c2 {
		t.Fatalf("routes after Set: a %p (want the first %p), b %p, c %p", m.Route("a"), a1, m.Route("b"), m.Route("c"))
	}
	if len(started) != 2 || started[0] != "b" || started[1] != "c" || len(stopped) != 1 || stopped[0] != "b" {
		t.Fatalf("started %v stopped %v, want [b c] and [b]", started, stopped)
	}
	got := map[string]int{}
	for range 2 { // the unused copy of a, and the stopped b
		select {
		case n := <-closed:
			got[n]++
		case <-time.After(time.Minute):
			t.Fatalf("closed so far %v", got)
		}
	}
	if got["a"] != 1 || got["b"] != 1 {
		t.Fatalf("closed %v, want a's unused copy and the old b", got)
	}
	if _, _, err := m.Set([]*Route{a2, a2}); err == nil {
		t.Fatal("a name given twice was accepted")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
