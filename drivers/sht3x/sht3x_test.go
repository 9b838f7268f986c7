package sht3x

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"

	"github.com/edged-gateway/edged/drivers/internal/recording"
	"github.com/edged-gateway/edged/reading"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return at }

// loadOps reads a recording from testdata: one I2C transaction per line,
// "addr 44 w 24 00" or "addr 44 r 66 66 93 ...", hex bytes, # comments.
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

func TestReadPlayback(t *testing.T) {
	tests := []struct {
		file     string
		addr     uint16
		cfg      Config
		wantWait time.Duration
		temp, rh float64
	}{
		{file: "high.txt", addr: 0x44, cfg: Config{}, wantWait: 16 * time.Millisecond, temp: 25, rh: 60},
		{file: "medium.txt", addr: 0x45, cfg: Config{Repeatability: "medium"}, wantWait: 7 * time.Millisecond, temp: -10, rh: 0},
		{file: "low.txt", addr: 0x44, cfg: Config{Repeatability: "low"}, wantWait: 5 * time.Millisecond, temp: 130, rh: 100},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			bus := &i2ctest.Playback{Ops: loadOps(t, "testdata/"+tt.file), DontPanic: true}
			d, err := New("greenhouse", bus, tt.addr, tt.cfg, clock)
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
			if len(w) != 1 || w[0] != tt.wantWait {
				t.Errorf("waits = %v, want [%v]", w, tt.wantWait)
			}
			if len(rs) != 2 {
				t.Fatalf("readings = %v", rs)
			}
			want := []struct {
				metric, unit string
				value        float64
			}{{"temperature", "C", tt.temp}, {"humidity", "%RH", tt.rh}}
			for i, r := range rs {
				if r.Device != "greenhouse" || r.Metric != want[i].metric || r.Unit != want[i].unit || r.Value != want[i].value || !r.Time.Equal(at) || r.Seq != 0 {
					t.Errorf("reading %d = %+v, want %s=%v%s", i, r, want[i].metric, want[i].value, want[i].unit)
				}
			}
		})
	}
}

func TestCRCFailureIsAnErrorNotAReading(t *testing.T) {
	bus := &i2ctest.Playback{Ops: loadOps(t, "testdata/badcrc.txt"), DontPanic: true}
	d, err := New("greenhouse", bus, 0x44, Config{}, clock)
	if err != nil {
		t.Fatal(err)
	}
	var w waits
	d.sleep = w.sleep
	dst := make([]reading.Reading, 0, 4)
	rs, err := d.Read(context.Background(), dst)
	if err == nil || !strings.Contains(err.Error(), "humidity word 0x9999 has CRC 0xbf, want 0xbe") ||
		!strings.Contains(err.Error(), "sht3x greenhouse (playback 0x44)") {
		t.Fatalf("Read error = %v", err)
	}
	if len(rs) != 0 {
		t.Fatalf("Read returned readings with a CRC failure: %v", rs)
	}
}

// nackBus is an I2C bus where no device answers.
type nackBus struct{}

func (nackBus) String() string                  { return "I2C1" }
func (nackBus) Tx(uint16, []byte, []byte) error { return errors.New("i2c: remote I/O error (NACK)") }
func (nackBus) SetSpeed(physic.Frequency) error { return nil }

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		bus  *i2ctest.Playback
		addr uint16
		cfg  Config
		want string
	}{
		{name: "bad address", addr: 0x40, want: "sht3x th1: address 0x40 is not an SHT3x address, use 0x44 or 0x45"},
		{name: "bad repeatability", cfg: Config{Repeatability: "ultra"}, want: `sht3x th1: options.repeatability: "ultra" is not a repeatability, use high, medium or low`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New("th1", &i2ctest.Playback{DontPanic: true}, tt.addr, tt.cfg, nil)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("absent device", func(t *testing.T) {
		_, err := New("th1", nackBus{}, 0x44, Config{}, nil)
		want := "sht3x th1 (I2C1 0x44): soft reset: i2c: remote I/O error (NACK)"
		if err == nil || err.Error() != want {
			t.Fatalf("New error = %v, want %q", err, want)
		}
	})
	t.Run("device gone after start", func(t *testing.T) {
		bus := &i2ctest.Playback{Ops: loadOps(t, "testdata/high.txt")[:1], DontPanic: true}
		d, err := New("th1", bus, 0x44, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := d.Read(context.Background(), nil)
		if err == nil || !strings.Contains(err.Error(), "sht3x th1 (playback 0x44): start measurement: ") || rs != nil {
			t.Fatalf("Read = %v, %v", rs, err)
		}
	})
	t.Run("cancelled while waiting", func(t *testing.T) {
		ops := loadOps(t, "testdata/high.txt")[:2]
		bus := &i2ctest.Playback{Ops: ops, DontPanic: true}
		d, err := New("th1", bus, 0x44, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err = d.Read(ctx, nil)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "wait for measurement") {
			t.Fatalf("Read error = %v", err)
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{Repeatability: "high"}, ""},
		{Config{Repeatability: "medium"}, ""},
		{Config{Repeatability: "low"}, ""},
		{Config{Repeatability: "HIGH"}, `options.repeatability: "HIGH" is not a repeatability, use high, medium or low`},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Repeatability, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && err.Error() != tt.want) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}
