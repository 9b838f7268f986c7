package modbussim

import (
	"context"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged-gateway/edged/drivers/modbus"
	"github.com/edged-gateway/edged/reading"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ip(v int) *int { return &v }

func fp(v float64) *float64 { return &v }

func readAll(t *testing.T, d *modbus.Device) map[string]reading.Reading {
	t.Helper()
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	out := map[string]reading.Reading{}
	for _, r := range rs {
		out[r.Metric] = r
	}
	return out
}

func TestMeterAndVFDThroughTheDriver(t *testing.T) {
	clk := &clock{t: time.Unix(1_800_000_000, 0)}
	sim, err := New("sim", Config{Listen: "127.0.0.1:0"}, clk.now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	url := "tcp://" + sim.Addr()
	meter, err := modbus.New("meter", modbus.Config{URL: url, Unit: ip(1), Registers: []modbus.Register{
		{Metric: "voltage", Table: "input", Address: ip(0), Type: "float32", Unit: "V"},
		{Metric: "current", Table: "input", Address: ip(6), Type: "float32", Unit: "A"},
		{Metric: "power", Table: "input", Address: ip(12), Type: "float32", Unit: "W"},
		{Metric: "frequency", Table: "input", Address: ip(70), Type: "float32", Unit: "Hz"},
		{Metric: "energy", Table: "input", Address: ip(342), Type: "float32", Unit: "kWh"},
		{Metric: "model", Table: "input", Address: ip(100), Type: "string", Length: 5},
	}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer meter.Close()
	got := readAll(t, meter)
	if v := got["voltage"].Value; v < 226 || v > 234 {
		t.Errorf("voltage %v", v)
	}
	if v := got["frequency"].Value; v < 49.9 || v > 50.1 {
		t.Errorf("frequency %v", v)
	}
	if p, want := got["power"].Value, got["voltage"].Value*got["current"].Value*0.95; math.Abs(p-want) > 0.01*want {
		t.Errorf("power %v, want about %v", p, want)
	}
	if meter.Stats().Strings["model"] != "SIM-METER" || meter.RequestsPerPoll() != 6 { // 0..13 spans unmapped registers: split into 0, 6, 12
		t.Errorf("model %q, %d requests per poll", meter.Stats().Strings["model"], meter.RequestsPerPoll())
	}
	e0 := got["energy"].Value
	clk.add(time.Hour)
	if e1 := readAll(t, meter)["energy"].Value; math.Abs(e1-e0-1.2) > 0.01 {
		t.Errorf("energy after an hour %v → %v", e0, e1)
	}

	vfd, err := modbus.New("vfd", modbus.Config{URL: url, Unit: ip(2), Registers: []modbus.Register{
		{Metric: "run", Table: "coil", Address: ip(0), Writable: true, Safe: fp(0)},
		{Metric: "setpoint", Table: "holding", Address: ip(0), Scale: fp(0.01), Unit: "Hz", Writable: true, Min: fp(0), Max: fp(60)},
		{Metric: "frequency", Table: "holding", Address: ip(1), Scale: fp(0.01), Unit: "Hz"},
		{Metric: "running", Table: "holding", Address: ip(4), Bit: ip(0)},
		{Metric: "at_speed", Table: "holding", Address: ip(4), Bit: ip(1)},
	}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer vfd.Close()
	if err := vfd.Do(context.Background(), "set", map[string]any{"setpoint": 50.0}); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Second) // ramps 10 Hz/s
	got = readAll(t, vfd)
	if got["setpoint"].Value != 50 || got["at_speed"].Value != 0 || got["running"].Value != 1 {
		t.Fatalf("vfd mid-ramp %v", got)
	}
	clk.add(10 * time.Second)
	if got = readAll(t, vfd); got["frequency"].Value != 50 || got["at_speed"].Value != 1 {
		t.Fatalf("vfd at speed %v", got)
	}
	if err := vfd.Safe(context.Background()); err != nil {
		t.Fatal(err)
	}
	clk.add(10 * time.Second)
	if got = readAll(t, vfd); got["frequency"].Value != 0 || got["running"].Value != 0 || got["run"].Value != 0 {
		t.Fatalf("vfd after safe stop %v", got)
	}
}

func TestUnmappedAndUnknownAnswerExceptions(t *testing.T) {
	sim, err := New("sim", Config{Listen: "127.0.0.1:0"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	for _, tc := range []struct {
		unit int
		reg  modbus.Register
		want string
	}{
		{1, modbus.Register{Metric: "gap", Table: "input", Address: ip(2), Type: "float32"}, "exception 0x02 illegal data address at input 30003"},
		{9, modbus.Register{Metric: "x", Table: "input", Address: ip(0)}, "exception 0x0b gateway target device failed to respond"},
	} {
		d, err := modbus.New("d", modbus.Config{URL: "tcp://" + sim.Addr(), Unit: ip(tc.unit), Registers: []modbus.Register{tc.reg}}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Read(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("unit %d: %v, want %q", tc.unit, err, tc.want)
		}
		d.Close()
	}
}

// TestMbpollReadsTheSimulator checks the simulator against a master no one
// here wrote (Debian's mbpoll), when it is installed.
func TestMbpollReadsTheSimulator(t *testing.T) {
	bin, err := exec.LookPath("mbpoll")
	if err != nil {
		t.Skip("mbpoll not installed (apt-get install mbpoll)")
	}
	sim, err := New("sim", Config{Listen: "127.0.0.1:0"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	_, port, _ := strings.Cut(sim.Addr(), ":")
	out, err := exec.Command(bin, "-m", "tcp", "-1", "-0", "-p", port, "-a", "1", "-t", "3:float", "-B", "-r", "0", "-c", "1", "127.0.0.1").CombinedOutput()
	if err != nil {
		t.Fatalf("mbpoll: %v\n%s", err, out)
	}
	i := strings.Index(string(out), "[0]:")
	if i < 0 {
		t.Fatalf("mbpoll output:\n%s", out)
	}
	v, err := strconv.ParseFloat(strings.Fields(string(out[i+4:]))[0], 64)
	if err != nil || v < 226 || v > 234 {
		t.Fatalf("mbpoll voltage %v (%v)", v, err)
	}
	if _, err := New("sim2", Config{Listen: "0.0.0.0:0"}, nil, nil); err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Fatalf("non-loopback listen: %v", err)
	}
}
