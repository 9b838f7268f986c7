package bme280

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

// simBoard returns a board with a BME280 at 0x76 on i2c1 and one on
// spi0.1, whose inputs are sine waves read at the fixed instant at.
func simBoard(t *testing.T) *sim.Board {
	t.Helper()
	signals := map[string]sim.Signal{
		"temperature": {Waveform: "sine", Min: -5, Max: 35, Period: 7 * time.Minute, Seed: 123},
		"pressure":    {Waveform: "sine", Min: 950, Max: 1050, Period: 11 * time.Minute, Seed: 456},
		"humidity":    {Waveform: "sine", Min: 10, Max: 95, Period: 13 * time.Minute, Seed: 789},
	}
	board, err := sim.New(sim.Config{Chips: []sim.ChipConfig{
		{Kind: sim.KindBME280, Bus: "i2c1", Address: 0x76, Signals: signals},
		{Kind: sim.KindBME280, Bus: "spi0.1", Signals: signals},
	}}, sim.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	return board
}

// The model encodes each input as the raw value that compensates closest
// to it, so what the driver reports is within the compensation's and the
// ADC's resolution of the input.
var resolution = map[string]float64{"temperature": 0.01, "pressure": 0.01, "humidity": 0.01}

func TestAgainstSim(t *testing.T) {
	board := simBoard(t)
	chip, err := board.Chip("i2c1", 0x76)
	if err != nil {
		t.Fatal(err)
	}
	model := chip.(*sim.BME280)
	tests := []struct {
		name string
		open func() (*Device, error)
		want []string
	}{
		{name: "i2c forced 16x", want: []string{"temperature", "pressure", "humidity"}, open: func() (*Device, error) {
			bus, err := board.I2C("i2c1")
			if err != nil {
				return nil, err
			}
			return NewI2C("attic", bus, 0x76, Config{Oversampling: Oversampling{Temperature: "16x", Pressure: "16x", Humidity: "16x"}}, clock)
		}},
		{name: "i2c normal mode", want: []string{"temperature", "pressure", "humidity"}, open: func() (*Device, error) {
			bus, err := board.I2C("i2c1")
			if err != nil {
				return nil, err
			}
			return NewI2C("attic", bus, 0x76, Config{Filter: "4", Standby: 62500 * time.Microsecond}, clock)
		}},
		{name: "spi, pressure off", want: []string{"temperature", "humidity"}, open: func() (*Device, error) {
			port, err := board.SPI("spi0.1")
			if err != nil {
				return nil, err
			}
			return NewSPI("attic", port, Config{Oversampling: Oversampling{Temperature: "1x", Pressure: "off", Humidity: "1x"}}, clock)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.open()
			if err != nil {
				t.Fatal(err)
			}
			rs, err := d.Read(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rs) != len(tt.want) {
				t.Fatalf("Read = %v, want %v", rs, tt.want)
			}
			for i, r := range rs {
				in, _ := model.Value(r.Metric, at)
				if r.Metric != tt.want[i] || math.Abs(r.Value-in) > resolution[r.Metric] || r.Device != "attic" || !r.Time.Equal(at) {
					t.Errorf("reading %v, want %s=%v within %v", r, tt.want[i], in, resolution[r.Metric])
				}
			}
		})
	}
}

// TestSimTransactions records what the driver does on the sim's bus: the
// datasheet's sequence, as in the hand-made recording (the model is never
// busy, so it has a single status read).
func TestSimTransactions(t *testing.T) {
	bus, err := simBoard(t).I2C("i2c1")
	if err != nil {
		t.Fatal(err)
	}
	rec := &i2ctest.Record{Bus: bus}
	d, err := NewI2C("attic", rec, 0x76, Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	want := loadOps(t, "i2c_forced.txt")
	want = append(want[:6], want[7:]...) // one status read
	if len(rec.Ops) != len(want) {
		t.Fatalf("sim saw %d transactions, the recording has %d: %+v", len(rec.Ops), len(want), rec.Ops)
	}
	for i, op := range rec.Ops {
		if op.Addr != want[i].Addr || string(op.W) != string(want[i].W) || len(op.R) != len(want[i].R) {
			t.Errorf("transaction %d = %+v, recording has %+v", i, op, want[i])
		}
	}
}

func TestSimFaults(t *testing.T) {
	t.Run("absent on i2c", func(t *testing.T) {
		board := simBoard(t)
		chip, _ := board.Chip("i2c1", 0x76)
		chip.SetAbsent(true)
		bus, _ := board.I2C("i2c1")
		_, err := NewI2C("attic", bus, 0x76, Config{}, clock)
		if !errors.Is(err, sim.ErrNACK) || !strings.HasPrefix(err.Error(), "bme280 attic (i2c1 0x76): start: ") {
			t.Fatalf("NewI2C = %v", err)
		}
	})
	t.Run("nothing at 0x77", func(t *testing.T) {
		bus, _ := simBoard(t).I2C("i2c1")
		_, err := NewI2C("attic", bus, 0x77, Config{}, clock)
		if !errors.Is(err, sim.ErrNACK) || !strings.HasPrefix(err.Error(), "bme280 attic (i2c1 0x77): start: ") {
			t.Fatalf("NewI2C = %v", err)
		}
	})
	t.Run("absent on spi", func(t *testing.T) {
		board := simBoard(t)
		chip, _ := board.Chip("spi0.1", 0)
		chip.SetAbsent(true)
		port, _ := board.SPI("spi0.1")
		_, err := NewSPI("attic", port, Config{}, clock)
		if err == nil || err.Error() != "bme280 attic (spi0.1): start: bmxx80: unexpected chip id 0" {
			t.Fatalf("NewSPI = %v", err)
		}
	})
	t.Run("glitch during a read keeps the cause", func(t *testing.T) {
		board := simBoard(t)
		bus, _ := board.I2C("i2c1")
		d, err := NewI2C("attic", bus, 0x76, Config{Oversampling: Oversampling{Temperature: "1x", Pressure: "1x", Humidity: "1x"}}, clock)
		if err != nil {
			t.Fatal(err)
		}
		chip, _ := board.Chip("i2c1", 0x76)
		chip.FailNext(1)
		rs, err := d.Read(context.Background(), nil)
		if !errors.Is(err, sim.ErrInjected) || len(rs) != 0 || !strings.HasPrefix(err.Error(), "bme280 attic (i2c1 0x76): measure: ") {
			t.Fatalf("Read = %v, %v", rs, err)
		}
		if rs, err := d.Read(context.Background(), nil); err != nil || len(rs) != 3 {
			t.Fatalf("Read after = %v, %v", rs, err)
		}
	})
}
