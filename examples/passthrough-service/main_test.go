package main

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// TestMain serves the service when the test re-executes itself as the
// plugin process (the way edged would start the built binary).
func TestMain(m *testing.M) {
	if os.Getenv("PASSTHROUGH_SERVICE_TEST") == "serve" {
		main()
		return
	}
	os.Exit(m.Run())
}

func TestPassThroughAndDouble(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   float64
	}{{``, 21.5}, {`{"factor": 2}`, 43}} {
		t.Run("config "+tc.config, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			self, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(self)
			cmd.Env = append(os.Environ(), "PASSTHROUGH_SERVICE_TEST=serve")
			got := make(chan []pluginapi.Reading, 1)
			conn, err := pluginapi.Launch(ctx, pluginapi.LaunchConfig{Name: "pt", Cmd: cmd, OnEmit: func(rs []pluginapi.Reading) { got <- rs }})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Kill()
			if err := conn.Configure(ctx, pluginapi.Config{Name: "pt", JSON: []byte(tc.config), Subscriptions: []string{"#"}}); err != nil {
				t.Fatal(err)
			}
			if err := conn.Send(ctx, []pluginapi.Reading{{Device: "boiler", Metric: "t", Value: 21.5, Unit: "C", Seq: 7}}); err != nil {
				t.Fatal(err)
			}
			select {
			case rs := <-got:
				if len(rs) != 1 || rs[0].Value != tc.want || rs[0].Unit != "C" || rs[0].Seq != 7 || rs[0].Source != "passthrough-service" {
					t.Errorf("emitted %+v, want value %g", rs, tc.want)
				}
			case <-ctx.Done():
				t.Fatal("nothing emitted")
			}
			if err := conn.Close(ctx); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}
