package ads1115

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/hardware/sim"
)

// simBoard returns a board with an ADS1115 at 0x48 on i2c1 whose four
// inputs follow waveforms, read at the fixed instant at.
func simBoard(t *testing.T) (*sim.I2CBus, *sim.ADS1115) {
	t.Helper()
	board, err := sim.New(sim.Config{Chips: []sim.ChipConfig{{
		Kind: sim.KindADS1115, Bus: "i2c1", Address: 0x48,
		Signals: map[string]sim.Signal{
			"ch0": {Waveform: "sine", Min: 0.5, Max: 4.5, Period: 3 * time.Minute},
			"ch1": {Waveform: "constant", Min: 1.65},
			"ch2": {Waveform: "sine", Min: 0, Max: 3.3, Period: 7 * time.Minute},
			"ch3": {Waveform: "constant", Min: 0.1},
		},
	}}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	bus, err := board.I2C("i2c1")
	if err != nil {
		t.Fatal(err)
	}
	chip, err := board.Chip("i2c1", 0x48)
	if err != nil {
		t.Fatal(err)
	}
	return bus, chip.(*sim.ADS1115)
}

// code is the conversion the datasheet gives for v at full scale fsr.
func code(v, fsr float64) float64 {
	return min(max(math.Floor(v*32768/fsr+1e-9), -32768), 32767)
}

func TestAgainstSim(t *testing.T) {
	bus, chip := simBoard(t)
	v := map[string]float64{}
	for _, ch := range []string{"ch0", "ch1", "ch2", "ch3"} {
		v[ch], _ = chip.Value(ch, at)
	}
	cfg := Config{DataRate: 860, Channels: []Channel{
		{Input: "ch0", Metric: "pressure", Scale: scale.Linear{Factor: 2.5, Offset: -1.25, Unit: "bar"}},
		{Input: "ch1"},
		{Input: "ch1-ch3", Gain: "2", Metric: "diff"},
		{Input: "ch2", Gain: "2/3"},
		{Input: "ch3", Gain: "16"},
	}}
	want := []want{
		{"pressure", "bar", code(v["ch0"], 4.096)*4.096/32768*2.5 - 1.25},
		{"ch1", "V", code(v["ch1"], 4.096) * 4.096 / 32768},
		{"diff", "V", code(v["ch1"]-v["ch3"], 2.048) * 2.048 / 32768},
		{"ch2", "V", code(v["ch2"], 6.144) * 6.144 / 32768},
		{"ch3", "V", code(v["ch3"], 0.256) * 0.256 / 32768},
	}
	d, err := New("boiler", bus, 0x48, cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(want) {
		t.Fatalf("Read = %v", rs)
	}
	for i, r := range rs {
		if r.Metric != want[i].metric || r.Unit != want[i].unit || r.Value != want[i].value {
			t.Errorf("reading %d = %v, want %s=%v%s", i, r, want[i].metric, want[i].value, want[i].unit)
		}
	}
}

// TestSimTransactionsMatchRecording runs the defaults against the sim
// through i2ctest.Record and compares what the chip saw with the
// hand-made recording.
func TestSimTransactionsMatchRecording(t *testing.T) {
	bus, _ := simBoard(t)
	rec := &i2ctest.Record{Bus: bus}
	d, err := New("boiler", rec, 0x48, Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	d.sleep = new(waits).sleep
	if _, err := d.Read(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := loadOps(t, "testdata/single.txt")
	if len(rec.Ops) != len(want) {
		t.Fatalf("sim saw %d transactions, the recording has %d", len(rec.Ops), len(want))
	}
	for i, op := range rec.Ops {
		if op.Addr != want[i].Addr || string(op.W) != string(want[i].W) || len(op.R) != len(want[i].R) {
			t.Errorf("transaction %d = %+v, recording has %+v", i, op, want[i])
		}
	}
}

func TestSimFaults(t *testing.T) {
	t.Run("absent at start", func(t *testing.T) {
		bus, chip := simBoard(t)
		chip.SetAbsent(true)
		_, err := New("boiler", bus, 0x48, Config{}, clock)
		if !errors.Is(err, sim.ErrNACK) || !strings.HasPrefix(err.Error(), "ads1115 boiler (i2c1 0x48): read config register: ") {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("glitch mid-read", func(t *testing.T) {
		bus, chip := simBoard(t)
		d, err := New("boiler", bus, 0x48, Config{DataRate: 860}, clock)
		if err != nil {
			t.Fatal(err)
		}
		chip.FailNext(1)
		if rs, err := d.Read(context.Background(), nil); !errors.Is(err, sim.ErrInjected) || len(rs) != 0 ||
			!strings.HasPrefix(err.Error(), "ads1115 boiler (i2c1 0x48): convert ch0: start: ") {
			t.Fatalf("Read = %v, %v", rs, err)
		}
		if rs, err := d.Read(context.Background(), nil); err != nil || len(rs) != 4 {
			t.Fatalf("Read after = %v, %v", rs, err)
		}
	})
}
