package bme280

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi/spitest"

	"github.com/edged-gateway/edged/drivers/internal/recording"
	"github.com/edged-gateway/edged/reading"
)

var at = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return at }

// loadOps reads a recording from testdata: one transaction per line,
// "addr 76 w f7 r 65 5a …" on I2C or "w d0 00 r 00 60" on SPI, hex bytes,
// # comments.
func loadOps(t testing.TB, file string) []i2ctest.IO {
	t.Helper()
	return recording.I2C(t, "testdata/"+file)
}

func i2cPlayback(t testing.TB, file string) *i2ctest.Playback {
	return &i2ctest.Playback{Ops: loadOps(t, file), DontPanic: true}
}

func spiPlayback(t testing.TB, file string) *spitest.Playback {
	return &spitest.Playback{Playback: conntest.Playback{Ops: recording.SPI(t, "testdata/"+file), DontPanic: true}}
}

type want struct {
	metric, unit string
	value        float64
}

// The values the recordings' calibration and raw data compensate to.
var (
	wantT = want{"temperature", "C", 25.08}
	wantP = want{"pressure", "hPa", 1006.5325390625}
	wantH = want{"humidity", "%RH", 39.0322}
)

func TestReadPlayback(t *testing.T) {
	tests := []struct {
		name  string
		open  func(t *testing.T) (*Device, interface{ Close() error }, error)
		want  []want
		polls int // status reads the recording has
	}{
		{name: "i2c forced", want: []want{wantT, wantP, wantH}, polls: 2,
			open: func(t *testing.T) (*Device, interface{ Close() error }, error) {
				bus := i2cPlayback(t, "i2c_forced.txt")
				d, err := NewI2C("attic", bus, 0x76, Config{}, clock)
				return d, bus, err
			}},
		{name: "i2c normal mode", want: []want{wantT, wantP, wantH},
			open: func(t *testing.T) (*Device, interface{ Close() error }, error) {
				bus := i2cPlayback(t, "i2c_normal.txt")
				d, err := NewI2C("attic", bus, 0x77, Config{Filter: "16", Standby: 500 * time.Millisecond}, clock)
				return d, bus, err
			}},
		{name: "spi forced, humidity off", want: []want{wantT, wantP}, polls: 1,
			open: func(t *testing.T) (*Device, interface{ Close() error }, error) {
				port := spiPlayback(t, "spi_forced.txt")
				d, err := NewSPI("attic", port, Config{Oversampling: Oversampling{Temperature: "1x", Pressure: "16x", Humidity: "off"}}, clock)
				return d, port, err
			}},
		{name: "bmp280 has no humidity", want: []want{wantT, wantP}, polls: 1,
			open: func(t *testing.T) (*Device, interface{ Close() error }, error) {
				bus := i2cPlayback(t, "i2c_bmp280.txt")
				d, err := NewI2C("attic", bus, 0, Config{}, clock)
				return d, bus, err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, bus, err := tt.open(t)
			if err != nil {
				t.Fatal(err)
			}
			var paced int
			d.g.sleep = func(d time.Duration) {
				if d != pollInterval {
					t.Errorf("paced %s, want %s", d, pollInterval)
				}
				paced++
			}
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
				if r.Device != "attic" || r.Metric != w.metric || r.Unit != w.unit || r.Value != w.value || !r.Time.Equal(at) || r.Seq != 0 {
					t.Errorf("reading %d = %v, want %s=%v%s", i, r, w.metric, w.value, w.unit)
				}
			}
			if wantPaced := max(tt.polls-1, 0); paced != wantPaced {
				t.Errorf("paced %d status polls, want %d", paced, wantPaced)
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
	t.Run("absent on i2c", func(t *testing.T) {
		_, err := NewI2C("attic", nackBus{}, 0x77, Config{}, nil)
		if !errors.Is(err, errNACK) || err.Error() != "bme280 attic (I2C1 0x77): start: i2c: remote I/O error (NACK)" {
			t.Fatalf("NewI2C error = %v", err)
		}
	})
	t.Run("absent on spi", func(t *testing.T) {
		port := spiPlayback(t, "spi_absent.txt")
		_, err := NewSPI("attic", port, Config{}, nil)
		if err == nil || err.Error() != "bme280 attic (playback): start: bmxx80: unexpected chip id 0" {
			t.Fatalf("NewSPI error = %v", err)
		}
	})
	t.Run("bad address", func(t *testing.T) {
		_, err := NewI2C("attic", nackBus{}, 0x48, Config{}, nil)
		if err == nil || err.Error() != "bme280 attic: address 0x48 is not a BME280 address, use 0x76 or 0x77" {
			t.Fatalf("NewI2C error = %v", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		_, err := NewI2C("attic", nackBus{}, 0x76, Config{Filter: "3"}, nil)
		if err == nil || err.Error() != `bme280 attic: options.filter: "3" is not a filter coefficient, use off, 2, 4, 8 or 16` {
			t.Fatalf("NewI2C error = %v", err)
		}
	})
	t.Run("register still at reset value", func(t *testing.T) {
		d, err := NewI2C("attic", i2cPlayback(t, "i2c_skipped.txt"), 0x76, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		dst := []reading.Reading{{Metric: "earlier"}}
		rs, err := d.Read(context.Background(), dst)
		if err == nil || err.Error() != "bme280 attic (playback 0x76): measure: temperature register holds its reset value 0x80000: no measurement was made" {
			t.Fatalf("Read error = %v", err)
		}
		if len(rs) != 1 || rs[0].Metric != "earlier" {
			t.Fatalf("Read returned %v, want dst unchanged", rs)
		}
	})
	t.Run("chip stuck measuring", func(t *testing.T) {
		bus := i2cPlayback(t, "i2c_stuck.txt")
		d, err := NewI2C("attic", bus, 0x76, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var paced int
		d.g.sleep = func(time.Duration) { paced++ }
		_, err = d.Read(context.Background(), nil)
		if !errors.Is(err, errStillMeasuring) || err.Error() != "bme280 attic (playback 0x76): measure: still measuring after 100 status reads 1ms apart" {
			t.Fatalf("Read error = %v", err)
		}
		if err := bus.Close(); err != nil || paced != maxPolls-1 {
			t.Fatalf("Close = %v, paced %d polls", err, paced)
		}
	})
	t.Run("context ends while polling", func(t *testing.T) {
		bus := i2cPlayback(t, "i2c_stuck.txt")
		d, err := NewI2C("attic", bus, 0x76, Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		d.g.sleep = func(time.Duration) { // the context ends during the second poll's pause
			cancel()
			for { // context.AfterFunc tells the guard from a goroutine of its own
				d.g.mu.Lock()
				aborted := d.g.abort != nil
				d.g.mu.Unlock()
				if aborted {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
		_, err = d.Read(ctx, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read error = %v", err)
		}
		if bus.Count >= len(bus.Ops) {
			t.Fatalf("the guard let all %d polls through after the context ended", bus.Count)
		}
	})
	t.Run("cancelled before the read", func(t *testing.T) {
		d, err := NewI2C("attic", i2cPlayback(t, "i2c_forced.txt"), 0x76, Config{}, nil)
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

func TestDecodeRanges(t *testing.T) {
	raw := []byte{0x65, 0x5a, 0xc0, 0x7e, 0xed, 0x00, 0x6a, 0x00}
	env := func(c, hPa, rh float64) physic.Env {
		return physic.Env{
			Temperature: physic.ZeroCelsius + physic.Temperature(math.Round(c*1e9)),
			Pressure:    physic.Pressure(math.Round(hPa * 1e11)),
			Humidity:    physic.RelativeHumidity(math.Round(rh * float64(physic.PercentRH))),
		}
	}
	tests := []struct {
		name string
		raw  []byte
		env  physic.Env
		want string
	}{
		{name: "in range", raw: raw, env: env(21.5, 1013.25, 45)},
		{name: "too hot", raw: raw, env: env(85.01, 1013.25, 45), want: "temperature 85.01 C is outside the sensor's -40..85 C (raw 7e ed 00)"},
		{name: "pressure zero", raw: raw, env: env(20, 0, 45), want: "pressure 0.00 hPa is outside the sensor's 300..1100 hPa"},
		{name: "humidity over 100", raw: raw, env: env(20, 1000, 100.5), want: "humidity 100.50 %RH is outside 0..100 %RH"},
		{name: "pressure skipped", raw: []byte{0x80, 0x00, 0x00, 0x7e, 0xed, 0x00, 0x6a, 0x00}, env: env(20, 1000, 40), want: "pressure register holds its reset value 0x80000"},
		{name: "humidity skipped", raw: []byte{0x65, 0x5a, 0xc0, 0x7e, 0xed, 0x00, 0x80, 0x00}, env: env(20, 1000, 40), want: "humidity register holds its reset value 0x8000"},
		{name: "short burst", raw: raw[:6], env: env(20, 1000, 40), want: "data burst is 6 bytes, want 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decode(tt.raw, tt.env, true, true)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("decode = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("decode = %v, want %q", err, tt.want)
			}
		})
	}
}
