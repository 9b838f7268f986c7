package pluginapi

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Service is what a service author implements; Serve runs it.
//
// Configure is called before any batch and again when the plan changes the
// config; Process is called with each batch of readings for the service's
// subscriptions, one at a time and in order. The two are never called
// concurrently. ctx ends when the host goes away; a Process error is logged
// to the host and the next batch still comes.
type Service interface {
	Configure(ctx context.Context, cfg Config) error
	Process(ctx context.Context, batch []Reading, host Host) error
}

// Runner is optional: a Service that also implements it has Run called once
// the first Configure has succeeded, on a goroutine of its own, for work
// that is not driven by batches (timers, reporting health). ctx ends when
// the session ends. A non-nil error other than ctx's marks the service
// unhealthy with the error as detail.
type Runner interface {
	Run(ctx context.Context, host Host) error
}

// HealthChecker is optional: a Service that implements it answers the
// host's health checks itself, once its first Configure has succeeded (a
// service that is not configured is unhealthy). It must return quickly;
// ctx ends when the host stops waiting. The supervisor restarts a service
// that stays unhealthy for several checks in a row. Without it, health is
// what SetHealth last recorded (healthy once configured).
type HealthChecker interface {
	Health(ctx context.Context) (healthy bool, detail string)
}

// Host is the daemon as a service sees it. Its methods are safe to call
// from any goroutine.
type Host interface {
	// Emit sends derived readings to the host. It blocks while the host's
	// window is full (the host has not finished earlier emits): a service
	// cannot outrun the host. Larger batches than MaxBatch go as several.
	Emit(ctx context.Context, readings []Reading) error
	// Command asks the host to act on a device through its command path
	// (value is marshalled to JSON) and waits for the result. The error is
	// for the asking (ctx, session gone); a refused command is a Result
	// with OK false.
	Command(ctx context.Context, device, action string, value any) (Result, error)
	// Log sends a structured log line to the host; attrs are slog-style
	// key/value pairs or slog.Attr values. It never blocks: when the host
	// is not keeping up, lines are dropped and counted (the next line that
	// gets through carries "logs_dropped").
	Log(level slog.Level, msg string, attrs ...any)
	// SetHealth records the service's health: the host's Health call
	// answers it, and a change is pushed to the host.
	SetHealth(healthy bool, detail string)
}

// shutdownGrace bounds how long a service process waits, once its session
// has ended, for its goroutines and for the host to stop it.
const shutdownGrace = 5 * time.Second

// Serve runs s as an edged service process: call it from main. It performs
// go-plugin's handshake (refusing to run outside edged), serves the
// contract over gRPC with mTLS on a unix socket, and returns when the
// session has ended; main should then return.
//
// After Serve has started, os.Stdout and os.Stderr are go-plugin's pipes to
// the host (their lines appear in the host's log); go-plugin's own logs go
// to the real stderr as JSON, which the host turns into structured records.
func Serve(s Service) {
	stderr := os.Stderr // go-plugin replaces os.Stderr; keep the real one
	srv := newServer(s, hclog.New(&hclog.LoggerOptions{
		Output: stderr, JSONFormat: true, Level: hclog.Info,
	}))
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: handshake,
		Plugins:         plugin.PluginSet{pluginName: &grpcPlugin{server: srv}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(maxMessageBytes), grpc.MaxSendMsgSize(maxMessageBytes))
			gs := grpc.NewServer(opts...)
			srv.setGRPC(gs)
			return gs
		},
		Logger: srv.logger,
	})
	srv.wait(shutdownGrace)
}
