// Command passthrough-service is a complete third-party edged service: it
// re-emits every reading it receives, multiplied by "factor" from its
// config (1, a pure pass-through, unless configured; 2 doubles values).
//
//	go build -o passthrough-service ./examples/passthrough-service
//	sha256sum passthrough-service   # the plan names this checksum
//
// Run by hand it refuses: only edged starts it (go-plugin's handshake).
package main

import (
	"context"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

type passthrough struct{ factor float64 }

func (p *passthrough) Configure(_ context.Context, cfg pluginapi.Config) error {
	c := struct {
		Factor float64 `json:"factor"`
	}{Factor: 1}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	p.factor = c.Factor
	return nil
}

func (p *passthrough) Process(ctx context.Context, batch []pluginapi.Reading, host pluginapi.Host) error {
	out := make([]pluginapi.Reading, len(batch))
	for i, r := range batch {
		r.Value *= p.factor
		r.Source = "passthrough-service"
		out[i] = r
	}
	return host.Emit(ctx, out) // blocks while the host is busy: back-pressure
}

func main() { pluginapi.Serve(&passthrough{}) }
