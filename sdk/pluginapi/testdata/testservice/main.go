// Command testservice is a deliberately (mis)behaving edged service for
// sdk/pluginapi's tests. Its config JSON picks the behaviour:
//
//	{"mode": "passthrough"}          emit every batch back
//	{"mode": "double"}               emit every batch back, values doubled
//	{"mode": "crash_on_configure"}   os.Exit(3) inside Configure
//	{"mode": "crash_after", "n": 3}  os.Exit(4) in the n-th Process
//	{"mode": "hang_configure"}       Configure never returns, ignoring ctx
//	{"mode": "logspam", "n": 1000}   n Log calls, a JSON line on stderr, a stdout line, then a "done" reading
//	{"mode": "flood"}                emit batches of 16 as fast as Emit allows, until the session ends
//	{"mode": "command"}              per batch: command its first reading's device, emit the result
//	{"mode": "unhealthy"}            report unhealthy from Run
//	{"mode": "stuck"}                Run ignores its ctx and never returns
//	{"mode": "hog"}                  Run allocates and touches 8 MiB every 20 ms, up to 1 GiB
//
// -start-delay sleeps before Serve (a slow start).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

type config struct {
	Mode string `json:"mode"`
	N    int    `json:"n"`
}

type service struct {
	cfg     atomic.Pointer[config]
	batches int
}

func (s *service) Configure(ctx context.Context, c pluginapi.Config) error {
	var cfg config
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	switch cfg.Mode {
	case "crash_on_configure":
		os.Exit(3)
	case "hang_configure":
		select {}
	case "reject":
		return fmt.Errorf("mode reject: config refused")
	}
	s.cfg.Store(&cfg)
	return nil
}

func (s *service) Process(ctx context.Context, batch []pluginapi.Reading, host pluginapi.Host) error {
	cfg := s.cfg.Load()
	s.batches++
	switch cfg.Mode {
	case "passthrough":
		return host.Emit(ctx, batch)
	case "double":
		out := make([]pluginapi.Reading, len(batch))
		for i, r := range batch {
			r.Value *= 2
			out[i] = r
		}
		return host.Emit(ctx, out)
	case "crash_after":
		if s.batches >= cfg.N {
			os.Exit(4)
		}
	case "command":
		res, err := host.Command(ctx, batch[0].Device, "set", map[string]any{"on": true})
		if err != nil {
			return err
		}
		v := 0.0
		if res.OK {
			v = 1
		}
		return host.Emit(ctx, []pluginapi.Reading{{Device: batch[0].Device, Metric: "command_ok", Value: v, Source: res.Error}})
	}
	return nil
}

func (s *service) Run(ctx context.Context, host pluginapi.Host) error {
	cfg := s.cfg.Load()
	switch cfg.Mode {
	case "logspam":
		for i := range cfg.N {
			host.Log(slog.LevelInfo, "spam", "i", i, "mode", cfg.Mode)
		}
		// go-plugin has replaced os.Stderr; fd 2 is the log stream.
		fmt.Fprintf(os.NewFile(2, "stderr"), `{"@level":"warn","@message":"from stderr","@timestamp":%q,"answer":42}`+"\n",
			time.Now().Format("2006-01-02T15:04:05.000000Z07:00"))
		fmt.Println("plain stdout line")
		host.Log(slog.LevelWarn, "last", "err", fmt.Errorf("disk %s", "full"))
		return host.Emit(ctx, []pluginapi.Reading{{Device: "logspam", Metric: "done", Value: float64(cfg.N)}})
	case "flood":
		batch := make([]pluginapi.Reading, 16)
		for i := range batch {
			batch[i] = pluginapi.Reading{Device: "flood", Metric: "n", Value: float64(i)}
		}
		for ctx.Err() == nil {
			if err := host.Emit(ctx, batch); err != nil {
				return nil
			}
		}
	case "unhealthy":
		host.SetHealth(false, "sensor stale")
	case "stuck":
		select {}
	case "hog":
		var held [][]byte
		for len(held) < 128 && ctx.Err() == nil {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = byte(i)
			}
			held = append(held, b)
			time.Sleep(20 * time.Millisecond)
		}
		<-ctx.Done()
	}
	return nil
}

func main() {
	delay := flag.Duration("start-delay", 0, "sleep this long before serving")
	flag.Parse()
	time.Sleep(*delay)
	pluginapi.Serve(&service{})
}
