package sim

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ads1x15"
)

// adsBoard is a board with one ADS1115 at 0x48 on i2c1 with constant
// inputs 1.0, 0.25, 3.0 and −0.5 V.
func adsBoard(t *testing.T) (*Board, *clock) {
	t.Helper()
	return newBoard(t, Config{Chips: []ChipConfig{{Kind: KindADS1115, Signals: map[string]Signal{
		"ch0": constant(1.0), "ch1": constant(0.25), "ch2": constant(3.0), "ch3": constant(-0.5),
	}}}})
}

func adsConfigWord(mux, pga uint16) uint16 {
	return adsOS | mux<<12 | pga<<9 | adsModeSingle | 7<<5 | 3
}

func TestADS1115Conversions(t *testing.T) {
	tests := []struct {
		name     string
		mux, pga uint16
		want     int16
	}{
		{"ain0 ±4.096", 4, 1, 8000},
		{"ain1 ±0.256", 5, 5, 32000},
		{"ain2 clamps high ±2.048", 6, 2, 32767},
		{"ain3 clamps low ±0.256", 7, 7, -32768},
		{"ain0-ain1 ±2.048", 0, 2, 12000},
		{"ain0-ain3 ±4.096", 1, 1, 12000},
		{"ain1-ain3 ±2.048", 2, 2, 12000},
		{"ain2-ain3 ±6.144", 3, 0, 18666},
		{"ain0 ±1.024", 4, 3, 32000},
		{"ain1 ±0.512", 5, 4, 16000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := adsBoard(t)
			bus := mustI2C(t, b, "i2c1")
			cfg := adsConfigWord(tt.mux, tt.pga)
			tx(t, bus, 0x48, []byte{adsConfig, byte(cfg >> 8), byte(cfg)}, 0)
			got := int16(binary.BigEndian.Uint16(tx(t, bus, 0x48, []byte{adsConversion}, 2)))
			if got != tt.want {
				t.Fatalf("conversion %d, want %d", got, tt.want)
			}
		})
	}
}

func TestADS1115Registers(t *testing.T) {
	tests := []struct {
		name   string
		writes [][]byte
		read   []byte // pointer write of the reading transaction, nil: none
		want   []byte
	}{
		{"config reset value", nil, []byte{adsConfig}, []byte{0x85, 0x83}},
		{"thresholds reset values", nil, []byte{adsLoThresh}, []byte{0x80, 0x00}},
		{"high threshold", nil, []byte{adsHiThresh}, []byte{0x7F, 0xFF}},
		{"conversion before any", nil, []byte{adsConversion}, []byte{0x00, 0x00}},
		{"write threshold", [][]byte{{adsLoThresh, 0x12, 0x34}}, []byte{adsLoThresh}, []byte{0x12, 0x34}},
		{"pointer kept between reads", [][]byte{{adsHiThresh}}, nil, []byte{0x7F, 0xFF}},
		{"long read repeats", nil, []byte{adsConfig}, []byte{0x85, 0x83, 0x85, 0x83}},
		{"pointer upper bits ignored", nil, []byte{0xFD}, []byte{0x85, 0x83}},
		{"single-shot OS reads idle", [][]byte{{adsConfig, 0x43, 0x83}}, []byte{adsConfig}, []byte{0xC3, 0x83}},
		{"continuous OS reads busy", [][]byte{{adsConfig, 0xC2, 0x83}}, []byte{adsConfig}, []byte{0x42, 0x83}},
		{"short write ignored", [][]byte{{adsConfig, 0x00}}, []byte{adsConfig}, []byte{0x85, 0x83}},
		{"conversion is read-only", [][]byte{{adsConversion, 0x12, 0x34}}, []byte{adsConversion}, []byte{0x00, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := adsBoard(t)
			bus := mustI2C(t, b, "i2c1")
			for _, w := range tt.writes {
				tx(t, bus, 0x48, w, 0)
			}
			if got := tx(t, bus, 0x48, tt.read, len(tt.want)); string(got) != string(tt.want) {
				t.Fatalf("read % x, want % x", got, tt.want)
			}
		})
	}
}

func TestADS1115Continuous(t *testing.T) {
	b, clk := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindADS1115, Signals: map[string]Signal{
		"ch0": {Waveform: "square", Min: 0.5, Max: 1.5, Period: 2 * time.Second},
	}}}})
	bus := mustI2C(t, b, "i2c1")
	tx(t, bus, 0x48, []byte{adsConfig, 0x42, 0x83}, 0) // ain0, ±4.096, continuous
	read := func() int16 { return int16(binary.BigEndian.Uint16(tx(t, bus, 0x48, []byte{adsConversion}, 2))) }
	if got := read(); got != 12000 {
		t.Fatalf("first half of the square: %d, want 12000", got)
	}
	clk.advance(time.Second)
	if got := read(); got != 4000 {
		t.Fatalf("second half of the square: %d, want 4000", got)
	}
	// A general call reset restores the power-on configuration.
	if err := bus.Tx(0x00, []byte{0x06}, nil); err != nil {
		t.Fatal(err)
	}
	if got := tx(t, bus, 0x48, []byte{adsConfig}, 2); got[0] != 0x85 || got[1] != 0x83 {
		t.Fatalf("config after general call reset: % x", got)
	}
}

// TestADS1X15 runs periph's ads1x15 driver against the model.
func TestADS1X15(t *testing.T) {
	tests := []struct {
		name    string
		ch      ads1x15.Channel
		max     physic.ElectricPotential
		wantRaw int32
		wantV   physic.ElectricPotential
	}{
		{"ain0", ads1x15.Channel0, 4096 * physic.MilliVolt, 8000, physic.Volt},
		{"ain1", ads1x15.Channel1, 256 * physic.MilliVolt, 32000, 250 * physic.MilliVolt},
		{"ain0-ain1", ads1x15.Channel0Minus1, 1024 * physic.MilliVolt, 24000, 750 * physic.MilliVolt},
		{"ain2-ain3", ads1x15.Channel2Minus3, 6144 * physic.MilliVolt, 18666, 3499875 * physic.MicroVolt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := adsBoard(t)
			adc, err := ads1x15.NewADS1115(mustI2C(t, b, "i2c1"), &ads1x15.DefaultOpts)
			if err != nil {
				t.Fatal(err)
			}
			pin, err := adc.PinForChannel(tt.ch, tt.max, 860*physic.Hertz, ads1x15.SaveEnergy)
			if err != nil {
				t.Fatal(err)
			}
			s, err := pin.Read()
			if err != nil {
				t.Fatal(err)
			}
			if s.Raw != tt.wantRaw || s.V != tt.wantV {
				t.Fatalf("read %d (%s), want %d (%s)", s.Raw, s.V, tt.wantRaw, tt.wantV)
			}
		})
	}
	t.Run("absent", func(t *testing.T) {
		b, _ := adsBoard(t)
		c, _ := b.Chip("i2c1", 0x48)
		c.SetAbsent(true)
		adc, _ := ads1x15.NewADS1115(mustI2C(t, b, "i2c1"), &ads1x15.DefaultOpts)
		pin, _ := adc.PinForChannel(ads1x15.Channel0, 4096*physic.MilliVolt, 860*physic.Hertz, ads1x15.SaveEnergy)
		if _, err := pin.Read(); !errors.Is(err, ErrNACK) {
			t.Fatalf("read of an absent chip: %v, want ErrNACK", err)
		}
	})
}
