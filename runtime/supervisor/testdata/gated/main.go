// Command gated is a slow edged service for the supervisor's delivery
// tests: its Process waits until the file named by its config's "gate"
// exists, then emits the batch back unchanged. Until then it holds its
// first batch, so the host's flow-control window fills and a sender waits.
//
//	{"gate": "/tmp/x/open"}
package main

import (
	"context"
	"os"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

type service struct{ gate string }

func (s *service) Configure(ctx context.Context, c pluginapi.Config) error {
	var cfg struct {
		Gate string `json:"gate"`
	}
	if err := c.Decode(&cfg); err != nil {
		return err
	}
	s.gate = cfg.Gate
	return nil
}

func (s *service) Process(ctx context.Context, batch []pluginapi.Reading, host pluginapi.Host) error {
	for {
		if _, err := os.Stat(s.gate); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return host.Emit(ctx, batch)
}

func main() { pluginapi.Serve(&service{}) }
