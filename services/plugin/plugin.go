package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
	"github.com/edged-gateway/edged/services/internal/series"
)

// Logic is a built-in service's logic.
type Logic interface {
	Process(batch []series.Reading, now time.Time) (emit []series.Reading, cmds []series.Command)
	Tick(now time.Time) (emit []series.Reading, cmds []series.Command)
}

// New builds a service's logic from its JSON config.
type New func(config []byte) (Logic, error)

// Serve runs the logic as a service process; call it from `edged service
// <kind>`. It returns when the host ends the session.
func Serve(kind string, build New) {
	pluginapi.Serve(&adapter{kind: kind, build: build, tick: time.Second})
}

// adapter is the pluginapi.Service around a Logic.
type adapter struct {
	kind  string
	build New
	tick  time.Duration

	mu    sync.Mutex
	logic Logic

	// lastTick is when the logic last finished a tick (unix nanoseconds);
	// Configure starts it. Health fails when it stops moving: the logic is
	// wedged (a Process or Tick that never returns).
	lastTick atomic.Int64
}

// stuckTicks is how many ticks may go by without one finishing before the
// service reports itself unhealthy.
const stuckTicks = 5

// Health implements pluginapi.HealthChecker: healthy while the logic is
// configured and its ticks keep finishing.
func (a *adapter) Health(context.Context) (bool, string) {
	last := a.lastTick.Load()
	if last == 0 {
		return false, a.kind + ": not configured"
	}
	if since := time.Since(time.Unix(0, last)); since > stuckTicks*a.tick {
		return false, fmt.Sprintf("%s: logic stuck: no tick finished for %s (every %s)", a.kind, since.Round(time.Millisecond), a.tick)
	}
	detail := a.kind + ": ticking"
	// The logic's own figures, unless it is busy (never wait on it here).
	if a.mu.TryLock() {
		if sm, ok := a.logic.(Summarizer); ok {
			detail += "; " + sm.Summary()
		}
		a.mu.Unlock()
	}
	return true, detail
}

// Summarizer is optional for a Logic: its Summary (what it has done, in a
// few words) goes into the service's health detail.
type Summarizer interface {
	Summary() string
}

func (a *adapter) Configure(_ context.Context, cfg pluginapi.Config) error {
	l, err := a.build(cfg.JSON)
	if err != nil {
		return fmt.Errorf("%s %s: %w", a.kind, cfg.Name, err)
	}
	a.mu.Lock()
	a.logic = l
	a.mu.Unlock()
	a.lastTick.CompareAndSwap(0, time.Now().UnixNano())
	return nil
}

func (a *adapter) Process(ctx context.Context, batch []pluginapi.Reading, host pluginapi.Host) error {
	in := make([]series.Reading, len(batch))
	for i, r := range batch {
		in[i] = series.Reading{Device: r.Device, Metric: r.Metric, Value: r.Value, Unit: r.Unit, Time: r.Time, Source: r.Source}
	}
	a.mu.Lock()
	emit, cmds := a.logic.Process(in, time.Now())
	a.mu.Unlock()
	return a.send(ctx, host, emit, cmds)
}

// Run ticks the logic: windows close, hold timers expire, devices go
// offline even when no reading comes.
func (a *adapter) Run(ctx context.Context, host pluginapi.Host) error {
	t := time.NewTicker(a.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			a.mu.Lock()
			emit, cmds := a.logic.Tick(now)
			a.mu.Unlock()
			a.lastTick.Store(time.Now().UnixNano())
			if err := a.send(ctx, host, emit, cmds); err != nil {
				host.Log(slog.LevelWarn, "tick output not delivered", "err", err)
			}
		}
	}
}

func (a *adapter) send(ctx context.Context, host pluginapi.Host, emit []series.Reading, cmds []series.Command) error {
	if len(emit) > 0 {
		out := make([]pluginapi.Reading, len(emit))
		for i, r := range emit {
			src := r.Source
			if src == "" {
				src = a.kind
			}
			out[i] = pluginapi.Reading{Device: r.Device, Metric: r.Metric, Value: r.Value, Unit: r.Unit, Time: r.Time, Source: src}
		}
		if err := host.Emit(ctx, out); err != nil {
			return err
		}
	}
	for _, c := range cmds {
		res, err := host.Command(ctx, c.Device, c.Action, c.Value)
		switch {
		case err != nil:
			return err
		case !res.OK:
			host.Log(slog.LevelWarn, "command refused", "device", c.Device, "action", c.Action, "err", res.Error)
		}
	}
	return nil
}
