package sim

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestCRC8(t *testing.T) {
	tests := []struct {
		in   []byte
		want byte
	}{
		{[]byte{0xBE, 0xEF}, 0x92}, // the datasheet's example
		{[]byte{0x00, 0x00}, 0x81},
		{[]byte{0x66, 0x66}, 0x93},
		{nil, 0xFF},
	}
	for _, tt := range tests {
		t.Run(string(rune('a'+len(tt.in)))+string(tt.in), func(t *testing.T) {
			if got := CRC8(tt.in); got != tt.want {
				t.Fatalf("CRC8(% x) = %#x, want %#x", tt.in, got, tt.want)
			}
		})
	}
}

// shtStep is one transaction against the SHT3x at 0x44.
type shtStep struct {
	w       []byte
	n       int    // bytes to read
	want    []byte // nil: not checked
	wantErr error
}

func TestSHT3xCommands(t *testing.T) {
	// 25 °C and 50 %RH encode as 0x6666 and 0x8000.
	meas := []byte{0x66, 0x66, 0x93, 0x80, 0x00, 0xA2}
	status := func(s uint16) []byte { return withCRC(s) }
	tests := []struct {
		name  string
		steps []shtStep
	}{
		{"read with nothing pending", []shtStep{{n: 6, wantErr: ErrNACK}}},
		{"single shot high repeatability", []shtStep{{w: []byte{0x24, 0x00}}, {n: 6, want: meas}}},
		{"medium and low repeatability", []shtStep{{w: []byte{0x24, 0x0B}}, {n: 6, want: meas}, {w: []byte{0x24, 0x16}}, {n: 6, want: meas}}},
		{"no stretching, read in same transaction", []shtStep{{w: []byte{0x24, 0x00}, n: 6, wantErr: ErrNACK}, {n: 6, want: meas}}},
		{"clock stretching, read in same transaction", []shtStep{{w: []byte{0x2C, 0x06}, n: 6, want: meas}}},
		{"read clears", []shtStep{{w: []byte{0x24, 0x00}}, {n: 6, want: meas}, {n: 6, wantErr: ErrNACK}}},
		{"short read clears", []shtStep{{w: []byte{0x24, 0x00}}, {n: 3, want: meas[:3]}, {n: 3, wantErr: ErrNACK}}},
		{"long read idles high", []shtStep{{w: []byte{0x24, 0x00}}, {n: 8, want: append(append([]byte{}, meas...), 0xFF, 0xFF)}}},
		{"status after power-up", []shtStep{{w: []byte{0xF3, 0x2D}, n: 3, want: status(0x8010)}}},
		{"clear status", []shtStep{{w: []byte{0x30, 0x41}}, {w: []byte{0xF3, 0x2D}, n: 3, want: status(0x0000)}}},
		{"heater", []shtStep{{w: []byte{0x30, 0x6D}}, {w: []byte{0xF3, 0x2D}, n: 3, want: status(0xA010)},
			{w: []byte{0x30, 0x66}}, {w: []byte{0xF3, 0x2D}, n: 3, want: status(0x8010)}}},
		{"unknown command", []shtStep{{w: []byte{0x12, 0x34}}, {w: []byte{0xF3, 0x2D}, n: 3, want: status(0x8012)},
			{w: []byte{0xF3, 0x2D}, n: 3, want: status(0x8012)}, {w: []byte{0x30, 0x66}}, {w: []byte{0xF3, 0x2D}, n: 3, want: status(0x8010)}}},
		{"half a command", []shtStep{{w: []byte{0x24}}, {w: []byte{0xF3, 0x2D}, n: 3, want: status(0x8012)}}},
		{"soft reset", []shtStep{{w: []byte{0x30, 0x41}}, {w: []byte{0x30, 0x6D}}, {w: []byte{0x30, 0xA2}},
			{w: []byte{0xF3, 0x2D}, n: 3, want: status(0x8010)}}},
		{"periodic and fetch", []shtStep{{w: []byte{0x21, 0x30}}, {w: []byte{0xE0, 0x00}, n: 6, want: meas},
			{w: []byte{0xE0, 0x00}, n: 6, want: meas}}},
		{"single shot refused in periodic mode", []shtStep{{w: []byte{0x27, 0x37}}, {w: []byte{0x24, 0x00}},
			{n: 6, wantErr: ErrNACK}, {w: []byte{0xF3, 0x2D}, n: 3, want: status(0x8012)}}},
		{"break", []shtStep{{w: []byte{0x20, 0x32}}, {w: []byte{0x30, 0x93}}, {w: []byte{0xE0, 0x00}, n: 6, wantErr: ErrNACK}}},
		{"fetch outside periodic mode", []shtStep{{w: []byte{0xE0, 0x00}}, {n: 6, wantErr: ErrNACK}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindSHT3x, Signals: map[string]Signal{
				"temperature": constant(25), "humidity": constant(50)}}}})
			bus := mustI2C(t, b, "i2c1")
			for i, s := range tt.steps {
				r := make([]byte, s.n)
				err := bus.Tx(0x44, s.w, r)
				if !errors.Is(err, s.wantErr) || (s.wantErr == nil && err != nil) {
					t.Fatalf("step %d: Tx(% x): %v, want %v", i, s.w, err, s.wantErr)
				}
				if s.want != nil && string(r) != string(s.want) {
					t.Fatalf("step %d: read % x, want % x", i, r, s.want)
				}
			}
		})
	}
}

func TestSHT3xValues(t *testing.T) {
	b, clk := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindSHT3x, Address: 0x45}}})
	bus := mustI2C(t, b, "i2c1")
	chip, _ := b.Chip("i2c1", 0x45)
	sht := chip.(*SHT3x)
	for i := range 20 {
		clk.advance(47 * time.Second)
		tx(t, bus, 0x45, []byte{0x24, 0x00}, 0)
		r := tx(t, bus, 0x45, nil, 6)
		if CRC8(r[0:2]) != r[2] || CRC8(r[3:5]) != r[5] {
			t.Fatalf("reading %d: bad CRC in % x", i, r)
		}
		gotT := -45 + 175*float64(uint16(r[0])<<8|uint16(r[1]))/65535
		gotH := 100 * float64(uint16(r[3])<<8|uint16(r[4])) / 65535
		wantT, _ := sht.Value("temperature", clk.now())
		wantH, _ := sht.Value("humidity", clk.now())
		if math.Abs(gotT-wantT) > 175.0/65535/2+1e-9 || math.Abs(gotH-wantH) > 100.0/65535/2+1e-9 {
			t.Fatalf("reading %d: %g °C %g %%RH, want %g and %g", i, gotT, gotH, wantT, wantH)
		}
	}
}

func TestSHT3xFaults(t *testing.T) {
	b, _ := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindSHT3x, Signals: map[string]Signal{
		"temperature": constant(25), "humidity": constant(50)}}}})
	bus := mustI2C(t, b, "i2c1")
	chip, _ := b.Chip("i2c1", 0x44)
	sht := chip.(*SHT3x)
	measure := func() ([]byte, error) {
		r := make([]byte, 6)
		err := bus.Tx(0x44, []byte{0x2C, 0x06}, r)
		return r, err
	}
	chip.(CRCCorrupter).CorruptCRC(2)
	for i := range 3 {
		r, err := measure()
		if err != nil {
			t.Fatal(err)
		}
		corrupt := CRC8(r[0:2]) != r[2] && CRC8(r[3:5]) != r[5]
		if corrupt != (i < 2) || r[0] != 0x66 || r[3] != 0x80 {
			t.Fatalf("read %d: % x (corrupt %t)", i, r, corrupt)
		}
	}
	sht.FailNext(1)
	if _, err := measure(); !errors.Is(err, ErrInjected) {
		t.Fatalf("with FailNext: %v, want ErrInjected", err)
	}
	sht.SetAbsent(true)
	if _, err := measure(); !errors.Is(err, ErrNACK) {
		t.Fatalf("absent: %v, want ErrNACK", err)
	}
	sht.SetAbsent(false)
	if _, err := measure(); err != nil {
		t.Fatalf("replugged: %v", err)
	}
	// A general call reset clears periodic mode.
	tx(t, bus, 0x44, []byte{0x21, 0x30}, 0)
	if err := bus.Tx(0, []byte{0x06}, nil); err != nil {
		t.Fatal(err)
	}
	if err := bus.Tx(0x44, []byte{0xE0, 0x00}, make([]byte, 6)); !errors.Is(err, ErrNACK) {
		t.Fatalf("fetch after general call reset: %v, want ErrNACK", err)
	}
}
