package main

import (
	"context"
	"os"
	"testing"

	"github.com/edged-gateway/edged/runtime/supervisor"
)

// TestMain lets the test binary stand in for edged when the supervisor
// re-executes it as `edged service KIND`: daemons started in-process by the
// tests run their built-in services as real processes.
func TestMain(m *testing.M) {
	supervisor.RunShim() // the daemons under test use this binary as their services' shim
	if len(os.Args) > 1 && (os.Args[1] == "service" || os.Args[1] == completeCommand) {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
