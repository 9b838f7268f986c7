package plugin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
	"github.com/edged-gateway/edged/services/internal/series"
)

// wedge is logic whose ticks block until released.
type wedge struct{ release chan struct{} }

func (w wedge) Process([]series.Reading, time.Time) ([]series.Reading, []series.Command) {
	return nil, nil
}
func (w wedge) Tick(time.Time) ([]series.Reading, []series.Command) {
	<-w.release
	return nil, nil
}

// TestHealthSaysWhenTheLogicIsStuck: a built-in service is healthy while
// its ticks finish, and reports itself unhealthy once its logic is wedged.
func TestHealthSaysWhenTheLogicIsStuck(t *testing.T) {
	w := wedge{release: make(chan struct{})}
	a := &adapter{kind: "test", tick: 5 * time.Millisecond, build: func([]byte) (Logic, error) { return w, nil }}
	if ok, detail := a.Health(context.Background()); ok || !strings.Contains(detail, "not configured") {
		t.Fatalf("before Configure: %v %q, want unhealthy, not configured", ok, detail)
	}
	if err := a.Configure(context.Background(), pluginConfig()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, nil) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, detail := a.Health(context.Background())
		if !ok && strings.Contains(detail, "logic stuck") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health %v %q, want unhealthy: logic stuck", ok, detail)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(w.release)
	for ok, _ := a.Health(context.Background()); !ok; ok, _ = a.Health(context.Background()) {
		if time.Now().After(deadline) {
			t.Fatal("still unhealthy once the logic runs again")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

func pluginConfig() pluginapi.Config { return pluginapi.Config{Name: "t", JSON: []byte("{}")} }
