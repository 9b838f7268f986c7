package sim

import (
	"math"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/bmxx80"
)

// bmeBoard is a board with one BME280 on i2c1 at 0x76 and one on spi0.0,
// both with constant inputs.
func bmeBoard(t *testing.T) (*Board, *clock) {
	t.Helper()
	sig := map[string]Signal{"temperature": constant(23.45), "pressure": constant(987.65), "humidity": constant(42.42)}
	return newBoard(t, Config{Chips: []ChipConfig{
		{Kind: KindBME280, Bus: "i2c1", Address: 0x76, Signals: sig},
		{Kind: KindBME280, Bus: "spi0.0", Signals: sig},
	}})
}

// bmeDecode compensates a data burst (0xF7–0xFE) with the model's
// calibration.
func bmeDecode(data []byte) (tempC, hPa, rh float64) {
	c := realCalibration()
	rp := int32(data[0])<<12 | int32(data[1])<<4 | int32(data[2])>>4
	rt := int32(data[3])<<12 | int32(data[4])<<4 | int32(data[5])>>4
	rhRaw := int32(data[6])<<8 | int32(data[7])
	tf := c.tFine(rt)
	return float64(tf) / 5120, float64(c.pressure(rp, tf)) / 25600, float64(c.humidity(rhRaw, tf)) / 1024
}

func TestBME280Registers(t *testing.T) {
	tests := []struct {
		name   string
		writes [][]byte // each one transaction
		read   byte
		want   []byte
	}{
		{"chip id", nil, 0xD0, []byte{0x60}},
		{"status idle", nil, 0xF3, []byte{0x00}},
		{"reset values", nil, 0xF2, []byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00}},
		{"calibration H1", nil, 0xA1, []byte{75}},
		{"ctrl_hum masks", [][]byte{{0xF2, 0xFF}}, 0xF2, []byte{0x07}},
		{"forced returns to sleep", [][]byte{{0xF4, 0xB5}}, 0xF4, []byte{0xB4}},
		{"normal stays", [][]byte{{0xF4, 0xB7}}, 0xF4, []byte{0xB7}},
		{"config in sleep, bit 1 reserved", [][]byte{{0xF5, 0xFF}}, 0xF5, []byte{0xFD}},
		{"config ignored in normal", [][]byte{{0xF4, 0x27}, {0xF5, 0xA0}}, 0xF5, []byte{0x00}},
		{"pairs in one write", [][]byte{{0xF2, 0x03, 0xF5, 0xA0}}, 0xF2, []byte{0x03, 0x00, 0x00, 0xA0}},
		{"soft reset", [][]byte{{0xF2, 0x05, 0xF5, 0xA0, 0xF4, 0x27}, {0xE0, 0xB6}}, 0xF2, []byte{0, 0, 0, 0}},
		{"wrong reset word", [][]byte{{0xF2, 0x05}, {0xE0, 0xB5}}, 0xF2, []byte{0x05}},
		{"reset register reads 0", [][]byte{{0xE0, 0xB6}}, 0xE0, []byte{0x00}},
		{"read-only id", [][]byte{{0xD0, 0x12}}, 0xD0, []byte{0x60}},
		{"skipped quantities", [][]byte{{0xF2, 0x00}, {0xF4, 0x21}}, 0xF7, []byte{0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00}},
		{"16-bit temperature has zero xlsb", [][]byte{{0xF2, 0x01}, {0xF4, 0x25}}, 0xFC, []byte{0x00}},
		{"humidity reset value", nil, 0xFD, []byte{0x80, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := bmeBoard(t)
			bus := mustI2C(t, b, "i2c1")
			for _, w := range tt.writes {
				tx(t, bus, 0x76, w, 0)
			}
			got := tx(t, bus, 0x76, []byte{tt.read}, len(tt.want))
			if tt.name == "skipped quantities" {
				got[3], got[4], got[5] = 0, 0, 0 // temperature is measured
			}
			if string(got) != string(tt.want) {
				t.Fatalf("read %#x: % x, want % x", tt.read, got, tt.want)
			}
		})
	}
}

func TestBME280SPI(t *testing.T) {
	tests := []struct {
		name string
		w    []byte
		want []byte
	}{
		{"read id", []byte{0xD0, 0x00}, []byte{0x00, 0x60}},
		{"read id, address without bit 7 set twice", []byte{0xD0, 0xFF, 0xFF}, []byte{0x00, 0x60, 0x00}},
		{"write ctrl_hum then read it", []byte{0x72, 0x03, 0xF2, 0x00}, []byte{0x00, 0x00, 0x00, 0x03}},
		{"write two pairs", []byte{0x72, 0x01, 0x75, 0xA0}, []byte{0, 0, 0, 0}},
		{"burst read calibration", []byte{0x88, 0, 0, 0}, []byte{0x00, 0x10, 0x6E, 0x6C}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := bmeBoard(t)
			port, _ := b.SPI("spi0.0")
			c, err := port.Connect(physic.MegaHertz, 3, 8)
			if err != nil {
				t.Fatal(err)
			}
			r := make([]byte, len(tt.w))
			if err := c.Tx(tt.w, r); err != nil {
				t.Fatal(err)
			}
			if string(r) != string(tt.want) {
				t.Fatalf("Tx(% x) read % x, want % x", tt.w, r, tt.want)
			}
		})
	}
}

func TestBME280Modes(t *testing.T) {
	b, clk := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindBME280, Signals: map[string]Signal{
		"temperature": {Waveform: "sine", Min: 10, Max: 30, Period: time.Minute},
	}}}})
	bus := mustI2C(t, b, "i2c1")
	burst := func() []byte { return tx(t, bus, 0x76, []byte{0xF7}, 8) }
	tx(t, bus, 0x76, []byte{0xF2, 0x05}, 0)

	// Forced: measured at the write, frozen afterwards.
	clk.advance(15 * time.Second) // a quarter period: the sine's maximum
	tx(t, bus, 0x76, []byte{0xF4, 0xB5}, 0)
	clk.advance(15 * time.Second)
	if temp, _, _ := bmeDecode(burst()); math.Abs(temp-30) > 0.003 {
		t.Fatalf("forced at the maximum read %g °C, want 30", temp)
	}
	// Normal: measured at each read.
	tx(t, bus, 0x76, []byte{0xF4, 0xB7}, 0)
	if temp, _, _ := bmeDecode(burst()); math.Abs(temp-20) > 0.003 {
		t.Fatalf("normal at half a period read %g °C, want 20", temp)
	}
	clk.advance(15 * time.Second)
	if temp, _, _ := bmeDecode(burst()); math.Abs(temp-10) > 0.003 {
		t.Fatalf("normal at the minimum read %g °C, want 10", temp)
	}
	// Humidity oversampling applies from the next ctrl_meas write.
	tx(t, bus, 0x76, []byte{0xF4, 0xB4, 0xF2, 0x00}, 0)
	if _, _, rh := bmeDecode(burst()); rh == 0 {
		t.Fatal("humidity skipped before ctrl_meas was written")
	}
	tx(t, bus, 0x76, []byte{0xF4, 0xB5}, 0)
	if d := burst(); d[6] != 0x80 || d[7] != 0x00 {
		t.Fatalf("humidity after ctrl_hum 0 and ctrl_meas: % x, want 80 00", d[6:])
	}
}

// TestBMXX80 runs periph's bmxx80 driver against the model over I²C and
// SPI, in forced and normal mode, at several oversamplings.
func TestBMXX80(t *testing.T) {
	const wantT, wantP, wantH = 23.45, 98765.0, 42.42
	tests := []struct {
		name  string
		spi   bool
		opts  bmxx80.Opts
		tolT  float64 // °C
		tolP  float64 // Pa
		tolRH float64 // %RH
	}{
		{"i2c 16x", false, bmxx80.Opts{Temperature: bmxx80.O16x, Pressure: bmxx80.O16x, Humidity: bmxx80.O16x}, 0.01, 0.5, 0.01},
		{"i2c 1x", false, bmxx80.Opts{Temperature: bmxx80.O1x, Pressure: bmxx80.O1x, Humidity: bmxx80.O1x}, 0.01, 3, 0.01},
		{"i2c normal mode with filter", false, bmxx80.Opts{Temperature: bmxx80.O2x, Pressure: bmxx80.O2x, Humidity: bmxx80.O1x, Filter: bmxx80.F4, Standby: time.Second}, 0.01, 0.5, 0.01},
		{"spi default", true, bmxx80.DefaultOpts, 0.01, 1, 0.01},
		{"spi humidity off", true, bmxx80.Opts{Temperature: bmxx80.O1x, Pressure: bmxx80.O1x}, 0.01, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := bmeBoard(t)
			var dev *bmxx80.Dev
			var err error
			if tt.spi {
				port, _ := b.SPI("spi0.0")
				dev, err = bmxx80.NewSPI(port, &tt.opts)
			} else {
				dev, err = bmxx80.NewI2C(mustI2C(t, b, "i2c1"), 0x76, &tt.opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			var e physic.Env
			if err := dev.Sense(&e); err != nil {
				t.Fatal(err)
			}
			gotT := float64(e.Temperature-physic.ZeroCelsius) / float64(physic.Celsius)
			gotP := float64(e.Pressure) / float64(physic.Pascal)
			gotH := float64(e.Humidity) / float64(physic.PercentRH)
			if math.Abs(gotT-wantT) > tt.tolT {
				t.Errorf("temperature %g °C, want %g ± %g", gotT, wantT, tt.tolT)
			}
			if math.Abs(gotP-wantP) > tt.tolP {
				t.Errorf("pressure %g Pa, want %g ± %g", gotP, wantP, tt.tolP)
			}
			if tt.opts.Humidity != bmxx80.Off && math.Abs(gotH-wantH) > tt.tolRH {
				t.Errorf("humidity %g %%RH, want %g ± %g", gotH, wantH, tt.tolRH)
			}
			if err := dev.Halt(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBMXX80Faults(t *testing.T) {
	tests := []struct {
		name    string
		fault   func(Chip)
		wantErr string
	}{
		{"absent", func(c Chip) { c.SetAbsent(true) }, "NACK"},
		{"failing", func(c Chip) { c.FailNext(1) }, "injected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := bmeBoard(t)
			c, err := b.Chip("i2c1", 0x76)
			if err != nil {
				t.Fatal(err)
			}
			tt.fault(c)
			_, err = bmxx80.NewI2C(mustI2C(t, b, "i2c1"), 0x76, &bmxx80.DefaultOpts)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewI2C error %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}
