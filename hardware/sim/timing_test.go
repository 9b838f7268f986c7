package sim

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// TestTimingTypicalADS1115: a single-shot conversion at 128 SPS takes
// 1/128 s on the board clock: OS reads 0 and the conversion register keeps
// the previous result until then.
func TestTimingTypicalADS1115(t *testing.T) {
	b, c := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindADS1115, Timing: TimingTypical,
		Signals: map[string]Signal{"ch0": constant(1.0)}}}})
	bus := mustI2C(t, b, "i2c1")
	cfg := adsOS | 4<<12 | 1<<9 | adsModeSingle | 4<<5 | 3 // ain0, ±4.096 V, 128 SPS
	tx(t, bus, 0x48, []byte{adsConfig, byte(cfg >> 8), byte(cfg)}, 0)
	os := func() bool { return tx(t, bus, 0x48, []byte{adsConfig}, 2)[0]&0x80 != 0 }
	conv := func() int16 { return int16(binary.BigEndian.Uint16(tx(t, bus, 0x48, []byte{adsConversion}, 2))) }
	if os() || conv() != 0 {
		t.Fatal("the conversion finished at once")
	}
	c.advance(time.Second/128 - time.Microsecond)
	if os() {
		t.Fatal("OS set before 1/128 s")
	}
	c.advance(time.Microsecond)
	if !os() || conv() != 8000 {
		t.Fatalf("after 1/128 s: OS %v, conversion %d, want 8000", os(), conv())
	}
}

// TestTimingTypicalSHT3x: a high-repeatability single shot without clock
// stretching is not readable (NACK) for 12.5 ms.
func TestTimingTypicalSHT3x(t *testing.T) {
	b, c := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindSHT3x, Timing: TimingTypical}}})
	bus := mustI2C(t, b, "i2c1")
	tx(t, bus, 0x44, []byte{0x24, 0x00}, 0)
	c.advance(12 * time.Millisecond)
	if err := bus.Tx(0x44, nil, make([]byte, 6)); !errors.Is(err, ErrNACK) {
		t.Fatalf("read after 12 ms: %v, want NACK", err)
	}
	c.advance(500 * time.Microsecond)
	if r := tx(t, bus, 0x44, nil, 6); CRC8(r[:2]) != r[2] {
		t.Fatalf("measurement % x", r)
	}
}

// TestTimingTypicalBME280: a forced measurement at 1x oversampling of all
// three takes 8 ms: status bit 3 reads 1 and the data registers hold the
// previous values until then.
func TestTimingTypicalBME280(t *testing.T) {
	b, c := newBoard(t, Config{Chips: []ChipConfig{{Kind: KindBME280, Timing: TimingTypical,
		Signals: map[string]Signal{"temperature": constant(23.45), "pressure": constant(987.65), "humidity": constant(42.42)}}}})
	bus := mustI2C(t, b, "i2c1")
	tx(t, bus, 0x76, []byte{bmeCtrlHum, 1, bmeCtrlMeas, 1<<5 | 1<<2 | 1}, 0)
	status := func() byte { return tx(t, bus, 0x76, []byte{bmeStatus}, 1)[0] }
	before := tx(t, bus, 0x76, []byte{bmeData}, 8)
	if status() != 0x08 || before[0] != 0x80 {
		t.Fatalf("status %#x, data % x during the measurement", status(), before)
	}
	c.advance(8*time.Millisecond - time.Microsecond)
	if status() != 0x08 {
		t.Fatal("done before 8 ms")
	}
	c.advance(time.Microsecond)
	if status() != 0 {
		t.Fatal("still measuring after 8 ms")
	}
	if temp, _, _ := bmeDecode(tx(t, bus, 0x76, []byte{bmeData}, 8)); temp < 23.4 || temp > 23.5 {
		t.Fatalf("temperature %v after the measurement", temp)
	}
}

func TestTimingIsValidated(t *testing.T) {
	_, err := New(Config{Chips: []ChipConfig{{Kind: KindSHT3x, Timing: "slow"}}})
	if err == nil || err.Error() != `sim: config: chips[0].timing: "slow" is not a timing, use instant or typical` {
		t.Fatal(err)
	}
}
