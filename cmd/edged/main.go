// Command edged is the edge-gateway daemon: it polls devices, makes their
// readings durable in a local outbox and forwards them to a cloud MQTT
// broker. Run `edged --help` for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/edged-gateway/edged/runtime/supervisor"
)

func main() {
	supervisor.RunShim() // when started as a service's exec shim, never returns
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
