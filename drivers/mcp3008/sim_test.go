package mcp3008

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/spi/spitest"

	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/hardware/sim"
)

// simBoard returns a board with an MCP3008 on spi0.0 (vref 3.3 V) whose
// inputs are sine waves of different periods and phases, read at the fixed instant at.
func simBoard(t *testing.T) (*sim.SPIPort, *sim.MCP3008) {
	t.Helper()
	signals := map[string]sim.Signal{}
	for i := range 8 {
		signals[fmt.Sprintf("ch%d", i)] = sim.Signal{Waveform: "sine", Min: 0, Max: 3.3, Period: time.Duration(i+2) * time.Minute, Seed: int64(i*97 + 13)}
	}
	board, err := sim.New(sim.Config{Chips: []sim.ChipConfig{{Kind: sim.KindMCP3008, Bus: "spi0.0", Signals: signals}}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	port, err := board.SPI("spi0.0")
	if err != nil {
		t.Fatal(err)
	}
	chip, err := board.Chip("spi0.0", 0)
	if err != nil {
		t.Fatal(err)
	}
	return port, chip.(*sim.MCP3008)
}

// volts is what the chip reports for v: the 10-bit code, back in volts.
func volts(v, vref float64) float64 {
	return min(max(math.Floor(v*1024/vref+1e-9), 0), 1023) * vref / 1024
}

func TestAgainstSim(t *testing.T) {
	port, chip := simBoard(t)
	in := func(ch string) float64 { v, _ := chip.Value(ch, at); return v }
	cfg := Config{Channels: []Channel{
		{Input: "ch0"}, {Input: "ch3"}, {Input: "ch7", Metric: "level", Scale: scale.Linear{Factor: 100, Unit: "%"}},
		{Input: "ch0-ch1"}, {Input: "ch1-ch0"}, {Input: "ch4-ch5"}, {Input: "ch5-ch4"},
	}}
	wants := []want{
		{"ch0", "V", volts(in("ch0"), 3.3)},
		{"ch3", "V", volts(in("ch3"), 3.3)},
		{"level", "%", volts(in("ch7"), 3.3) * 100},
		{"ch0-ch1", "V", volts(in("ch0")-in("ch1"), 3.3)},
		{"ch1-ch0", "V", volts(in("ch1")-in("ch0"), 3.3)},
		{"ch4-ch5", "V", volts(in("ch4")-in("ch5"), 3.3)},
		{"ch5-ch4", "V", volts(in("ch5")-in("ch4"), 3.3)},
	}
	d, err := New("tank", port, cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != len(wants) {
		t.Fatalf("Read = %v", rs)
	}
	nonzero := 0
	for i, r := range rs {
		if r.Metric != wants[i].metric || r.Unit != wants[i].unit || r.Value != wants[i].value {
			t.Errorf("reading %d = %v, want %s=%v%s", i, r, wants[i].metric, wants[i].value, wants[i].unit)
		}
		if r.Value != 0 {
			nonzero++
		}
	}
	if nonzero < 5 {
		t.Fatalf("only %d of the readings are non-zero: pick another instant: %v", nonzero, rs)
	}
}

// TestSimTransactionsMatchRecording runs the defaults against the sim
// through spitest.Record and compares what the chip saw with the
// hand-made recording.
func TestSimTransactionsMatchRecording(t *testing.T) {
	port, _ := simBoard(t)
	rec := &spitest.Record{Port: port}
	d, err := New("tank", rec, Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := loadOps(t, "testdata/single.txt")
	if len(rec.Ops) != len(want) {
		t.Fatalf("sim saw %d frames, the recording has %d", len(rec.Ops), len(want))
	}
	for i, op := range rec.Ops {
		if string(op.W) != string(want[i].W) || len(op.R) != len(want[i].R) || op.R[1]&0x04 != 0 {
			t.Errorf("frame %d = %+v, recording has %+v", i, op, want[i])
		}
	}
}

func TestSimFaults(t *testing.T) {
	t.Run("glitch", func(t *testing.T) {
		port, chip := simBoard(t)
		d, err := New("tank", port, Config{}, clock)
		if err != nil {
			t.Fatal(err)
		}
		chip.FailNext(1)
		if rs, err := d.Read(context.Background(), nil); !errors.Is(err, sim.ErrInjected) || len(rs) != 0 ||
			!strings.HasPrefix(err.Error(), "mcp3008 tank (spi0.0): convert ch0: ") {
			t.Fatalf("Read = %v, %v", rs, err)
		}
	})
	t.Run("absent reads 0 V", func(t *testing.T) {
		// MISO is pulled low on the board: an absent MCP3008 cannot be
		// told from inputs at 0 V (the package documents this).
		port, chip := simBoard(t)
		d, err := New("tank", port, Config{}, clock)
		if err != nil {
			t.Fatal(err)
		}
		chip.SetAbsent(true)
		rs, err := d.Read(context.Background(), nil)
		if err != nil || len(rs) != 8 {
			t.Fatalf("Read = %v, %v", rs, err)
		}
		for _, r := range rs {
			if r.Value != 0 {
				t.Fatalf("absent chip read %v", r)
			}
		}
	})
}

// TestCheckInputDetectsAnAbsentChip: with ch7 tied to VREF and
// options.check on it, an absent chip (MISO low: every code 0) fails at
// open and on every read, instead of reading 0 V as healthy; plugged in,
// it reads.
func TestCheckInputDetectsAnAbsentChip(t *testing.T) {
	board, err := sim.New(sim.Config{Chips: []sim.ChipConfig{{Kind: sim.KindMCP3008, Bus: "spi0.0", Absent: true,
		Signals: map[string]sim.Signal{"ch7": {Waveform: "constant", Min: 3.3}}}}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	port, _ := board.SPI("spi0.0")
	chip, _ := board.Chip("spi0.0", 0)
	cfg := Config{Channels: []Channel{{Input: "ch0"}}, Check: &Check{Input: "ch7", Min: 3.0, Max: 3.3}}
	if _, err := New("tank", port, cfg, clock); err == nil ||
		err.Error() != "mcp3008 tank (spi0.0): check ch7 reads 0 V, it is wired to read 3–3.3 V: the chip is absent, unpowered or not on this chip select" {
		t.Fatalf("New with the chip absent: %v", err)
	}
	chip.SetAbsent(false)
	port, _ = board.SPI("spi0.0") // a port handle connects once
	d, err := New("tank", port, cfg, clock)
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := d.Read(context.Background(), nil); err != nil || len(rs) != 1 {
		t.Fatalf("Read = %v, %v", rs, err)
	}
	chip.SetAbsent(true)
	if rs, err := d.Read(context.Background(), nil); err == nil || len(rs) != 0 || !strings.Contains(err.Error(), "check ch7 reads 0 V") {
		t.Fatalf("Read with the chip unplugged = %v, %v", rs, err)
	}
}

func TestCheckValidation(t *testing.T) {
	for _, tc := range []struct {
		check Check
		want  string
	}{
		{Check{Input: "ch9", Min: 3, Max: 3.3}, `options.check.input: "ch9" is not an input`},
		{Check{Input: "ch7", Min: 3.3, Max: 3}, "options.check: min 3.3 and max 3 must satisfy"},
		{Check{Input: "ch7", Min: 3, Max: 5}, "options.check: min 3 and max 5 must satisfy"},
		{Check{Input: "ch7", Min: 0, Max: 1}, "options.check.min: 0 V is what an absent chip reads"},
	} {
		if err := (Config{Check: &tc.check}).Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.check, err, tc.want)
		}
	}
}
