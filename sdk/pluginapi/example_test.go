package pluginapi_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// scaler is a whole service: it re-emits each reading with its value
// multiplied by the configured factor (2 unless configured).
type scaler struct{ factor float64 }

func (s *scaler) Configure(_ context.Context, cfg pluginapi.Config) error {
	c := struct {
		Factor float64 `json:"factor"`
	}{Factor: 2}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	s.factor = c.Factor
	return nil
}

func (s *scaler) Process(ctx context.Context, batch []pluginapi.Reading, host pluginapi.Host) error {
	out := make([]pluginapi.Reading, len(batch))
	for i, r := range batch {
		r.Value *= s.factor
		r.Source = "scaler"
		out[i] = r
	}
	return host.Emit(ctx, out)
}

// exampleServiceEnv makes the test binary serve scaler, the way edged
// re-executes itself as `edged service <name>`; a third-party service's
// main is just pluginapi.Serve(&scaler{}).
const exampleServiceEnv = "PLUGINAPI_EXAMPLE_SERVICE"

func serveExample() { pluginapi.Serve(&scaler{}) }

// The host side: launch the service, configure it, send a batch, print
// what it emits, close it.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), exampleServiceEnv+"=scaler")

	emitted := make(chan []pluginapi.Reading, 1)
	conn, err := pluginapi.Launch(ctx, pluginapi.LaunchConfig{
		Name:   "scaler",
		Cmd:    cmd,
		OnEmit: func(rs []pluginapi.Reading) { emitted <- rs },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Kill()
	recordPid(conn.Pid())

	err = conn.Configure(ctx, pluginapi.Config{Name: "scaler", JSON: []byte(`{"factor": 3}`), Subscriptions: []string{"boiler/#"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	err = conn.Send(ctx, []pluginapi.Reading{
		{Device: "boiler", Metric: "temperature", Value: 21.5, Unit: "C", Seq: 41},
		{Device: "boiler", Metric: "pressure", Value: 1.25, Unit: "bar", Seq: 42},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range <-emitted {
		fmt.Printf("%s/%s = %g %s (seq %d, from %s)\n", r.Device, r.Metric, r.Value, r.Unit, r.Seq, r.Source)
	}
	fmt.Println("close:", conn.Close(ctx), "exit:", conn.ExitErr())
	// Output:
	// boiler/temperature = 64.5 C (seq 41, from scaler)
	// boiler/pressure = 3.75 bar (seq 42, from scaler)
	// close: <nil> exit: <nil>
}
