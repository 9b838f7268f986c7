package bme280

import (
	"context"
	"math"
	"testing"
	"time"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

// FuzzDecode runs arbitrary data bursts through bmxx80's compensation (with
// the recordings' calibration, in normal mode so that no measurement delay
// is slept) and the driver's checks: it must never panic, a register at its
// reset value must be an error, and whatever is reported must be a finite
// value within the sensor's range.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x65, 0x5a, 0xc0, 0x7e, 0xed, 0x00, 0x6a, 0x00})
	f.Add([]byte{0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x80, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
	setup := loadOps(f, "i2c_normal.txt")
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) != 8 {
			return
		}
		ops := append([]i2ctest.IO(nil), setup...)
		ops[len(ops)-1].R = raw
		d, err := NewI2C("fuzz", &i2ctest.Playback{Ops: ops, DontPanic: true}, 0x77, Config{Filter: "16", Standby: 500 * time.Millisecond}, clock)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := d.Read(context.Background(), nil)
		tRaw := uint32(raw[3])<<12 | uint32(raw[4])<<4 | uint32(raw[5])>>4
		if tRaw == skippedTP && err == nil {
			t.Fatalf("burst % x: temperature at its reset value gave %v", raw, rs)
		}
		if err != nil {
			return
		}
		if len(rs) != 3 {
			t.Fatalf("burst % x: %d readings", raw, len(rs))
		}
		bounds := map[string][2]float64{"temperature": {minC, maxC}, "pressure": {minHPa, maxHPa}, "humidity": {0, 100}}
		for _, r := range rs {
			b := bounds[r.Metric]
			if math.IsNaN(r.Value) || r.Value < b[0] || r.Value > b[1] {
				t.Fatalf("burst % x: %v outside %v", raw, r, b)
			}
		}
	})
}
