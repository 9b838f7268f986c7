package mcp3008

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/edged-gateway/edged/drivers/internal/recording"
	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/reading"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return at }

// loadOps reads a recording from testdata: one SPI frame per line,
// "w 01 80 00 r 00 02 00", hex bytes, # comments.
func loadOps(t testing.TB, file string) []conntest.IO {
	t.Helper()
	return recording.SPI(t, file)
}

func playback(t testing.TB, file string) *spitest.Playback {
	return &spitest.Playback{Playback: conntest.Playback{Ops: loadOps(t, "testdata/"+file), DontPanic: true}}
}

type want struct {
	metric, unit string
	value        float64
}

func TestReadPlayback(t *testing.T) {
	tests := []struct {
		name string
		file string
		cfg  Config
		want []want
	}{
		{name: "default single-ended at 3.3 V", file: "single.txt", want: []want{
			{"ch0", "V", 0}, {"ch1", "V", 1023 * 3.3 / 1024}, {"ch2", "V", 1.65}, {"ch3", "V", 3.3 / 1024},
			{"ch4", "V", 0.825}, {"ch5", "V", 2.475}, {"ch6", "V", 100 * 3.3 / 1024}, {"ch7", "V", 1000 * 3.3 / 1024},
		}},
		{name: "differential pairs scaled", file: "differential.txt", cfg: Config{Vref: 4, Channels: []Channel{
			{Input: "ch0-ch1", Metric: "bridge", Scale: scale.Linear{Factor: 1000, Unit: "mV"}},
			{Input: "ch1-ch0"},
			{Input: "ch6-ch7", Metric: "level", Scale: scale.Linear{Factor: 50, Offset: -10, Unit: "cm"}},
		}}, want: []want{{"bridge", "mV", 1000}, {"ch1-ch0", "V", 0}, {"level", "cm", 90}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := playback(t, tt.file)
			d, err := New("tank", port, tt.cfg, clock)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := d.Read(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := port.Close(); err != nil {
				t.Fatal(err)
			}
			if len(rs) != len(tt.want) {
				t.Fatalf("got %d readings, want %d: %v", len(rs), len(tt.want), rs)
			}
			for i, r := range rs {
				w := tt.want[i]
				if r.Device != "tank" || r.Metric != w.metric || r.Unit != w.unit || math.Abs(r.Value-w.value) > 1e-12 || !r.Time.Equal(at) {
					t.Errorf("reading %d = %v, want %s=%v%s", i, r, w.metric, w.value, w.unit)
				}
			}
		})
	}
}

// failConn is an SPI port whose every frame fails.
type failPort struct{ err error }

func (p failPort) String() string { return "SPI0.1" }
func (p failPort) Connect(physic.Frequency, spi.Mode, int) (spi.Conn, error) {
	return failConn(p), nil
}

type failConn failPort

func (c failConn) String() string                 { return "SPI0.1" }
func (c failConn) Tx(w, r []byte) error           { return c.err }
func (c failConn) Duplex() conn.Duplex            { return conn.Full }
func (c failConn) TxPackets(p []spi.Packet) error { return c.err }

func TestReadErrors(t *testing.T) {
	t.Run("null bit set", func(t *testing.T) {
		d, err := New("tank", playback(t, "nullbit.txt"), Config{Channels: []Channel{{Input: "ch0"}}}, clock)
		if err != nil {
			t.Fatal(err)
		}
		dst := []reading.Reading{{Metric: "earlier"}}
		rs, err := d.Read(context.Background(), dst)
		if err == nil || err.Error() != "mcp3008 tank (playback): convert ch0: reply ff ff ff has its null bit set: no chip is driving MISO" {
			t.Fatalf("Read error = %v", err)
		}
		if len(rs) != 1 || rs[0].Metric != "earlier" {
			t.Fatalf("Read returned %v, want dst unchanged", rs)
		}
	})
	t.Run("bus fault", func(t *testing.T) {
		cause := errors.New("spi: ioctl: input/output error")
		d, err := New("tank", failPort{cause}, Config{}, clock)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := d.Read(context.Background(), nil)
		if !errors.Is(err, cause) || err.Error() != "mcp3008 tank (SPI0.1): convert ch0: spi: ioctl: input/output error" || len(rs) != 0 {
			t.Fatalf("Read = %v, %v", rs, err)
		}
	})
	t.Run("half-way failure returns no readings", func(t *testing.T) {
		port := playback(t, "single.txt")
		port.Ops = port.Ops[:3]
		d, err := New("tank", port, Config{}, clock)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := d.Read(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), "convert ch3: ") || len(rs) != 0 {
			t.Fatalf("Read = %v, %v", rs, err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		d, err := New("tank", playback(t, "single.txt"), Config{}, clock)
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

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "zero value", cfg: Config{}},
		{name: "5 V reference and pairs", cfg: Config{Vref: 5, Channels: []Channel{{Input: "ch7-ch6"}, {Input: "ch2"}}}},
		{name: "vref too high", cfg: Config{Vref: 12}, want: "options.vref: 12 is not a reference voltage, use 0.25–5.5 volts such as 3.3"},
		{name: "vref negative", cfg: Config{Vref: -3.3}, want: "options.vref: -3.3 is not a reference voltage"},
		{name: "vref NaN", cfg: Config{Vref: math.NaN()}, want: "options.vref: NaN is not a reference voltage"},
		{name: "unknown input", cfg: Config{Channels: []Channel{{Input: "ch0"}, {Input: "ch8"}}}, want: `options.channels[1].input: "ch8" is not an input, use ch0–ch7 or a pair`},
		{name: "not a pair", cfg: Config{Channels: []Channel{{Input: "ch1-ch2"}}}, want: `options.channels[0].input: "ch1-ch2" is not an input`},
		{name: "empty input", cfg: Config{Channels: []Channel{{Metric: "x"}}}, want: `options.channels[0].input: "" is not an input`},
		{name: "duplicate metric", cfg: Config{Channels: []Channel{{Input: "ch0", Metric: "p"}, {Input: "ch1", Metric: "p"}}}, want: `options.channels[1].metric: "p" is already the metric of channels[0]`},
		{name: "bad scale", cfg: Config{Channels: []Channel{{Input: "ch0", Scale: scale.Linear{Factor: math.Inf(1)}}}}, want: "options.channels[0].scale.factor +Inf is not a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
			if _, err := New("tank", playback(t, "nullbit.txt"), tt.cfg, nil); err == nil || !strings.HasPrefix(err.Error(), "mcp3008 tank: options.") {
				t.Fatalf("New error = %v", err)
			}
		})
	}
}
