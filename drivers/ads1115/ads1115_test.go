package ads1115

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/edged-gateway/edged/drivers/internal/recording"
	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/reading"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return at }

// loadOps reads a recording from testdata: one I2C transaction per line,
// "addr 48 w 01 c3 83" or "addr 48 w 00 r 1f 40", hex bytes, # comments.
func loadOps(t testing.TB, file string) []i2ctest.IO {
	t.Helper()
	return recording.I2C(t, file)
}

// waits records the sleeps a device asks for instead of sleeping.
type waits []time.Duration

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	*w = append(*w, d)
	return ctx.Err()
}

type want struct {
	metric, unit string
	value        float64
}

func TestReadPlayback(t *testing.T) {
	p128 := time.Second / 128 // 7.8125ms exactly
	p860 := (time.Second + 859) / 860
	tests := []struct {
		file  string
		addr  uint16
		cfg   Config
		want  []want
		waits []time.Duration
	}{
		{file: "single.txt", addr: 0x48, want: []want{
			{"ch0", "V", 1}, {"ch1", "V", 4.095875}, {"ch2", "V", 0}, {"ch3", "V", -0.000125},
		}, waits: []time.Duration{p128, p128, p128, p128}},
		{file: "differential.txt", addr: 0x49, cfg: Config{Gain: "2/3", DataRate: 860, Channels: []Channel{
			{Input: "ch0-ch1", Gain: "16", Metric: "bridge", Scale: scale.Linear{Factor: 1000, Unit: "mV"}},
			{Input: "ch2-ch3", Metric: "pressure", Scale: scale.Linear{Factor: 2.5, Offset: -1.25, Unit: "bar"}},
		}}, want: []want{{"bridge", "mV", -256}, {"pressure", "bar", 6.43}}, waits: []time.Duration{p860, p860}},
		{file: "slow.txt", addr: 0x48, cfg: Config{Channels: []Channel{{Input: "ch0"}}},
			want: []want{{"ch0", "V", 1}}, waits: []time.Duration{p128, p128/8 + 100*time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			bus := &i2ctest.Playback{Ops: loadOps(t, "testdata/"+tt.file), DontPanic: true}
			d, err := New("boiler", bus, tt.addr, tt.cfg, clock)
			if err != nil {
				t.Fatal(err)
			}
			var w waits
			d.sleep = w.sleep
			rs, err := d.Read(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := bus.Close(); err != nil {
				t.Fatal(err)
			}
			if len(rs) != len(tt.want) {
				t.Fatalf("got %d readings, want %d: %v", len(rs), len(tt.want), rs)
			}
			for i, r := range rs {
				w := tt.want[i]
				if r.Device != "boiler" || r.Metric != w.metric || r.Unit != w.unit || math.Abs(r.Value-w.value) > 1e-12 || !r.Time.Equal(at) || r.Seq != 0 {
					t.Errorf("reading %d = %v, want %s=%v%s", i, r, w.metric, w.value, w.unit)
				}
			}
			if len(w) != len(tt.waits) {
				t.Fatalf("waits = %v, want %v", w, tt.waits)
			}
			for i := range w {
				if w[i] != tt.waits[i] {
					t.Fatalf("waits = %v, want %v", w, tt.waits)
				}
			}
		})
	}
}

// nackBus is an I2C bus where no device answers.
type nackBus struct{}

func (nackBus) String() string                  { return "I2C1" }
func (nackBus) Tx(uint16, []byte, []byte) error { return errNACK }
func (nackBus) SetSpeed(physic.Frequency) error { return nil }

var errNACK = errors.New("i2c: remote I/O error (NACK)")

func TestErrors(t *testing.T) {
	t.Run("absent chip", func(t *testing.T) {
		_, err := New("boiler", nackBus{}, 0x4A, Config{}, nil)
		if !errors.Is(err, errNACK) || err.Error() != "ads1115 boiler (I2C1 0x4a): read config register: i2c: remote I/O error (NACK)" {
			t.Fatalf("New error = %v", err)
		}
	})
	t.Run("bad address", func(t *testing.T) {
		_, err := New("boiler", nackBus{}, 0x76, Config{}, nil)
		if err == nil || err.Error() != "ads1115 boiler: address 0x76 is not an ADS1115 address, use 0x48–0x4B" {
			t.Fatalf("New error = %v", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		_, err := New("boiler", nackBus{}, 0x48, Config{Gain: "3"}, nil)
		if err == nil || err.Error() != "ads1115 boiler: options.gain: 3 is not a gain, use one of 2/3, 1, 2, 4, 8, 16" {
			t.Fatalf("New error = %v", err)
		}
	})
	t.Run("conversion never finishes", func(t *testing.T) {
		bus := &i2ctest.Playback{Ops: loadOps(t, "testdata/stuck.txt"), DontPanic: true}
		d, err := New("boiler", bus, 0x48, Config{Channels: []Channel{{Input: "ch0"}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var w waits
		d.sleep = w.sleep
		rs, err := d.Read(context.Background(), nil)
		if err == nil || !strings.HasPrefix(err.Error(), "ads1115 boiler (playback 0x48): convert ch0: conversion not done after 29.34374ms (config register reads 0x4383)") || len(rs) != 0 {
			t.Fatalf("Read = %v, %v", rs, err)
		}
		if err := bus.Close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("bus fails mid-read: no partial readings", func(t *testing.T) {
		ops := loadOps(t, "testdata/single.txt")[:5]
		d, err := New("boiler", &i2ctest.Playback{Ops: ops, DontPanic: true}, 0x48, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.sleep = new(waits).sleep
		dst := []reading.Reading{{Metric: "earlier"}}
		rs, err := d.Read(context.Background(), dst)
		if err == nil || !strings.Contains(err.Error(), "convert ch1: poll: ") || len(rs) != 1 || rs[0].Metric != "earlier" {
			t.Fatalf("Read = %v, %v", rs, err)
		}
	})
	t.Run("cancelled while converting", func(t *testing.T) {
		ops := loadOps(t, "testdata/single.txt")[:2]
		d, err := New("boiler", &i2ctest.Playback{Ops: ops, DontPanic: true}, 0x48, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := d.Read(ctx, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Read error = %v", err)
		}
	})
}
