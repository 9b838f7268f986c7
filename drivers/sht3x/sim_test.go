package sht3x

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"

	"github.com/edged-gateway/edged/hardware/sim"
)

// simBoard returns a board with an SHT3x at 0x44 on i2c1 whose inputs are
// sine waves, read at the fixed instant at.
func simBoard(t *testing.T) (*sim.I2CBus, *sim.SHT3x) {
	t.Helper()
	board, err := sim.New(sim.Config{Chips: []sim.ChipConfig{{
		Kind: sim.KindSHT3x, Bus: "i2c1", Address: 0x44,
		Signals: map[string]sim.Signal{
			"temperature": {Waveform: "sine", Min: -10, Max: 40, Period: 7 * time.Minute},
			"humidity":    {Waveform: "sine", Min: 20, Max: 90, Period: 11 * time.Minute},
		},
	}}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	bus, err := board.I2C("i2c1")
	if err != nil {
		t.Fatal(err)
	}
	chip, err := board.Chip("i2c1", 0x44)
	if err != nil {
		t.Fatal(err)
	}
	return bus, chip.(*sim.SHT3x)
}

// quantized is what the sensor reports for v: the datasheet's conversion
// of the 16-bit word closest to v.
func quantized(v, offset, span float64) float64 {
	word := math.Round((v - offset) / span * 65535)
	return offset + span*word/65535
}

func TestAgainstSim(t *testing.T) {
	bus, chip := simBoard(t)
	rec := &i2ctest.Record{Bus: bus}
	d, err := New("greenhouse", rec, 0x44, Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	temp, _ := chip.Value("temperature", at)
	rh, _ := chip.Value("humidity", at)
	if want := quantized(temp, -45, 175); len(rs) != 2 || rs[0].Metric != "temperature" || rs[0].Value != want {
		t.Errorf("temperature = %v, want %v (the sim's %v quantized)", rs, want, temp)
	}
	if want := quantized(rh, 0, 100); len(rs) != 2 || rs[1].Metric != "humidity" || rs[1].Value != want {
		t.Errorf("humidity = %v, want %v (the sim's %v quantized)", rs, want, rh)
	}

	// The transactions the sim saw are those of the hand-made recording.
	want := loadOps(t, "testdata/high.txt")
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
	t.Run("corrupt CRC is an error, then it recovers", func(t *testing.T) {
		bus, chip := simBoard(t)
		d, err := New("greenhouse", bus, 0x44, Config{Repeatability: "low"}, clock)
		if err != nil {
			t.Fatal(err)
		}
		chip.CorruptCRC(1)
		rs, err := d.Read(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), "sht3x greenhouse (i2c1 0x44): decode measurement: temperature word") || len(rs) != 0 {
			t.Fatalf("Read with a corrupt CRC = %v, %v", rs, err)
		}
		if rs, err := d.Read(context.Background(), nil); err != nil || len(rs) != 2 {
			t.Fatalf("Read after = %v, %v", rs, err)
		}
	})
	t.Run("absent at start", func(t *testing.T) {
		bus, chip := simBoard(t)
		chip.SetAbsent(true)
		_, err := New("greenhouse", bus, 0x44, Config{}, clock)
		if !errors.Is(err, sim.ErrNACK) || !strings.HasPrefix(err.Error(), "sht3x greenhouse (i2c1 0x44): soft reset: ") {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("nothing at 0x45", func(t *testing.T) {
		bus, _ := simBoard(t)
		_, err := New("greenhouse", bus, 0x45, Config{}, clock)
		if !errors.Is(err, sim.ErrNACK) || !strings.HasPrefix(err.Error(), "sht3x greenhouse (i2c1 0x45): soft reset: ") {
			t.Fatalf("New = %v", err)
		}
	})
	t.Run("unplugged, then back", func(t *testing.T) {
		bus, chip := simBoard(t)
		d, err := New("greenhouse", bus, 0x44, Config{}, clock)
		if err != nil {
			t.Fatal(err)
		}
		chip.SetAbsent(true)
		if _, err := d.Read(context.Background(), nil); !errors.Is(err, sim.ErrNACK) || !strings.Contains(err.Error(), "start measurement") {
			t.Fatalf("Read while absent = %v", err)
		}
		chip.SetAbsent(false)
		if rs, err := d.Read(context.Background(), nil); err != nil || len(rs) != 2 {
			t.Fatalf("Read after = %v, %v", rs, err)
		}
	})
	t.Run("bus glitch", func(t *testing.T) {
		bus, chip := simBoard(t)
		d, err := New("greenhouse", bus, 0x44, Config{}, clock)
		if err != nil {
			t.Fatal(err)
		}
		chip.FailNext(1)
		if _, err := d.Read(context.Background(), nil); !errors.Is(err, sim.ErrInjected) {
			t.Fatalf("Read = %v", err)
		}
	})
}
