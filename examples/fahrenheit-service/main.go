// Command fahrenheit-service is a whole third-party edged service built on
// the SDK module alone: each Celsius reading it is handed comes back as
// <metric>_f in Fahrenheit. README's "Write a service" builds it.
package main

import (
	"context"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

type fahrenheit struct{}

func (fahrenheit) Configure(context.Context, pluginapi.Config) error { return nil }

func (fahrenheit) Process(ctx context.Context, batch []pluginapi.Reading, host pluginapi.Host) error {
	var out []pluginapi.Reading
	for _, r := range batch {
		if r.Unit == "C" {
			r.Metric, r.Unit, r.Value = r.Metric+"_f", "F", r.Value*9/5+32
			out = append(out, r)
		}
	}
	return host.Emit(ctx, out) // blocks while edged is busy: back-pressure
}

func main() { pluginapi.Serve(fahrenheit{}) }
