package sim

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// t0 is a board time at which every default waveform is at its phase 0:
// it is a whole number of each default period since the Unix epoch.
var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable board clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newBoard builds a board from cfg with its clock fixed at t0, and returns
// the clock for the test to move.
func newBoard(t *testing.T, cfg Config) (*Board, *clock) {
	t.Helper()
	c := &clock{t: t0}
	b, err := New(cfg, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

// constant is a Signal that stays at v.
func constant(v float64) Signal { return Signal{Waveform: "constant", Min: v} }

// mustI2C returns a handle on I²C bus name of b.
func mustI2C(t *testing.T, b *Board, name string) *I2CBus {
	t.Helper()
	bus, err := b.I2C(name)
	if err != nil {
		t.Fatal(err)
	}
	return bus
}

// tx runs one I²C transaction and returns the n bytes read.
func tx(t *testing.T, bus *I2CBus, addr uint16, w []byte, n int) []byte {
	t.Helper()
	r := make([]byte, n)
	if err := bus.Tx(addr, w, r); err != nil {
		t.Fatalf("Tx(%#x, % x): %v", addr, w, err)
	}
	return r
}

func TestNewError(t *testing.T) {
	_, err := New(Config{Chips: []ChipConfig{{Kind: "ads1115", Address: 0x99}}})
	want := "sim: config: chips[0].address: 0x99 is not a valid address for ads1115, use 0x48–0x4B"
	if err == nil || err.Error() != want {
		t.Fatalf("New: %v, want %q", err, want)
	}
}

func TestBoardLookups(t *testing.T) {
	b, _ := newBoard(t, Config{})
	tests := []struct {
		name    string
		lookup  func() (string, error)
		want    string
		wantErr string
	}{
		{"i2c canonical", func() (string, error) { h, err := b.I2C("i2c1"); return str(h, err) }, "i2c1", ""},
		{"i2c periph alias", func() (string, error) { h, err := b.I2C("I2C1"); return str(h, err) }, "i2c1", ""},
		{"i2c device path", func() (string, error) { h, err := b.I2C("/dev/i2c-1"); return str(h, err) }, "i2c1", ""},
		{"i2c missing", func() (string, error) { h, err := b.I2C("i2c0"); return str(h, err) }, "",
			`sim: i2c bus "i2c0": not on this board (it has i2c1)`},
		{"spi canonical", func() (string, error) { h, err := b.SPI("spi0.1"); return str(h, err) }, "spi0.1", ""},
		{"spi periph alias", func() (string, error) { h, err := b.SPI("SPI0.0"); return str(h, err) }, "spi0.0", ""},
		{"spi missing", func() (string, error) { h, err := b.SPI("spi1.0"); return str(h, err) }, "",
			`sim: spi port "spi1.0": not on this board (it has spi0.0, spi0.1)`},
		{"pin canonical", func() (string, error) { h, err := b.Pin("GPIO17"); return str(h, err) }, "GPIO17", ""},
		{"pin number", func() (string, error) { h, err := b.Pin("27"); return str(h, err) }, "GPIO27", ""},
		{"pin missing", func() (string, error) { h, err := b.Pin("GPIO4"); return str(h, err) }, "",
			`sim: pin "GPIO4": not on this board (it has GPIO17, GPIO18, GPIO27)`},
		{"chip on i2c", func() (string, error) { c, err := b.Chip("i2c1", 0x44); return kind(c, err) }, "sht3x", ""},
		{"chip on spi", func() (string, error) { c, err := b.Chip("spi0.1", 0); return kind(c, err) }, "bme280", ""},
		{"chip missing", func() (string, error) { c, err := b.Chip("i2c1", 0x45); return kind(c, err) }, "",
			"sim: chip at i2c1 address 0x45: not on this board"},
		{"chip on unknown bus", func() (string, error) { c, err := b.Chip("usb", 0); return kind(c, err) }, "",
			"sim: chip at usb address 0x00: not on this board"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.lookup()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrNotOnBoard) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func str(s interface{ String() string }, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return s.String(), nil
}

func kind(c Chip, err error) (string, error) {
	if err != nil {
		return "", err
	}
	return c.Kind(), nil
}

func TestBoardAccessors(t *testing.T) {
	b, clk := newBoard(t, Config{})
	clk.advance(time.Hour)
	if !b.Now().Equal(t0.Add(time.Hour)) {
		t.Fatalf("Now() = %s", b.Now())
	}
	if c := b.Config(); len(c.Chips) != 5 || c.Chips[3].Bus != "spi0.0" {
		t.Fatalf("Config() = %+v", c)
	}
	chips := b.Chips()
	chips[0] = nil // a copy
	if b.Chips()[0] == nil {
		t.Fatal("Chips() exposes the board's slice")
	}
	// Handles are distinct but share the bus.
	h1, h2 := mustI2C(t, b, "i2c1"), mustI2C(t, b, "i2c1")
	if err := h1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h1.Tx(0x76, []byte{0xD0}, make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Tx on a closed handle: %v", err)
	}
	if got := tx(t, h2, 0x76, []byte{0xD0}, 1); got[0] != 0x60 {
		t.Fatalf("second handle read % x", got)
	}
	if got := strings.Join(b.Pins(), ","); got != "GPIO17,GPIO18,GPIO27" {
		t.Fatalf("Pins() = %s", got)
	}
}

// TestConcurrentUse runs drivers' transactions on every bus and pin at
// once, for the race detector.
func TestConcurrentUse(t *testing.T) {
	b, clk := newBoard(t, Config{})
	var wg sync.WaitGroup
	for _, addr := range []uint16{0x76, 0x48, 0x44} {
		wg.Go(func() {
			bus := mustI2C(t, b, "i2c1")
			for range 50 {
				_ = bus.Tx(addr, []byte{0x2C, 0x06}, make([]byte, 6))
			}
		})
	}
	wg.Go(func() {
		port, _ := b.SPI("spi0.0")
		c, _ := port.Connect(0, 0, 8)
		for range 50 {
			_ = c.Tx([]byte{1, 0x80, 0}, make([]byte, 3))
		}
	})
	wg.Go(func() {
		p, _ := b.Pin("GPIO17")
		for range 50 {
			p.Read()
			clk.advance(time.Second)
		}
	})
	wg.Go(func() {
		c, _ := b.Chip("i2c1", 0x44)
		for i := range 50 {
			c.FailNext(i % 2)
			c.(*SHT3x).CorruptCRC(1)
		}
	})
	wg.Wait()
}

// TestChipAbsentAtStart: a chip configured absent does not acknowledge
// until it is plugged in.
func TestChipAbsentAtStart(t *testing.T) {
	b, _ := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindBME280, Address: 0x77, Absent: true}}})
	bus := mustI2C(t, b, "i2c1")
	if err := bus.Tx(0x77, []byte{0xD0}, make([]byte, 1)); !errors.Is(err, ErrNACK) {
		t.Fatalf("absent chip answered: %v", err)
	}
	chip, err := b.Chip("i2c1", 0x77)
	if err != nil {
		t.Fatal(err)
	}
	chip.SetAbsent(false)
	if id := tx(t, bus, 0x77, []byte{0xD0}, 1); id[0] != 0x60 {
		t.Fatalf("chip id %#x after plugging in, want 0x60", id[0])
	}
}
