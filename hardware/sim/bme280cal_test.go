package sim

import (
	"math"
	"testing"
)

// TestCompensationVectors checks the datasheet formulas against known
// answers: a real BME280's readings as periph's bmxx80 tests record them,
// and the worked example of Bosch's BMP280 datasheet (section 3.12), whose
// pressure the datasheet gives as 100653.27 Pa.
func TestCompensationVectors(t *testing.T) {
	bmp280 := calibration{t1: 27504, t2: 26435, t3: -1000,
		p1: 36477, p2: -10685, p3: 3024, p4: 2855, p5: 140, p6: -7, p7: 15500, p8: -14600, p9: 6000}
	tests := []struct {
		name          string
		cal           calibration
		rawT, rawP    int32
		rawH          int32
		tFine, centiC int32
		pascal        float64 // within 0.05 Pa
		hQ10          int32   // 0: not checked
	}{
		{"periph bmxx80 real device", realCalibration(), 524112, 309104, 30987, 117407, 2293, 25611063.0 / 256, 64686},
		{"BMP280 datasheet example", bmp280, 519888, 415148, 0, 128422, 2508, 100653.27, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tf := tt.cal.tFine(tt.rawT)
			if tf != tt.tFine {
				t.Errorf("tFine(%d) = %d, want %d", tt.rawT, tf, tt.tFine)
			}
			if c := (tf*5 + 128) >> 8; c != tt.centiC {
				t.Errorf("temperature = %d, want %d", c, tt.centiC)
			}
			if p := float64(tt.cal.pressure(tt.rawP, tf)) / 256; math.Abs(p-tt.pascal) > 0.05 {
				t.Errorf("pressure(%d) = %.3f Pa, want %.3f", tt.rawP, p, tt.pascal)
			}
			if tt.hQ10 != 0 {
				if h := tt.cal.humidity(tt.rawH, tf); h != tt.hQ10 {
					t.Errorf("humidity(%d) = %d, want %d", tt.rawH, h, tt.hQ10)
				}
			}
		})
	}
}

// TestInversion checks that rawTemp, rawPressure and rawHumidity choose the
// raw value whose compensated reading is nearest the target (no
// neighbouring raw value at that resolution is nearer), and that the error
// stays within the formulas' resolution, across the sensor's range and
// every ADC resolution.
func TestInversion(t *testing.T) {
	c := realCalibration()
	for _, bits := range []int{16, 18, 20} {
		step := int32(1) << (20 - bits)
		for _, temp := range []float64{-40, -12.345, 0, 21.5, 37.77, 85} {
			rt := c.rawTemp(temp, bits)
			tf := c.tFine(rt)
			tC := func(raw int32) float64 { return float64(c.tFine(raw)) / 5120 }
			nearest(t, "temperature", tC, rt, step, temp, 0.003)
			if centi := float64((tf*5+128)>>8) / 100; math.Abs(centi-temp) > 0.013 {
				t.Fatalf("bits %d: temperature %g reported as %g", bits, temp, centi)
			}
			for _, hPa := range []float64{300, 870.5, 1013.25, 1100} {
				pHPa := func(raw int32) float64 { return float64(c.pressure(raw, tf)) / 256 / 100 }
				nearest(t, "pressure", pHPa, c.rawPressure(hPa, tf, bits), step, hPa, 0.03)
			}
			for _, rh := range []float64{0, 0.5, 33.3, 50, 99.9, 100} {
				hRH := func(raw int32) float64 { return float64(c.humidity(raw, tf)) / 1024 }
				nearest(t, "humidity", hRH, c.rawHumidity(rh, tf), 1, rh, 0.01)
			}
		}
	}
}

// nearest fails unless raw is aligned to step, f(raw) is within tol of
// want and neither neighbour raw±step is nearer.
func nearest(t *testing.T, what string, f func(int32) float64, raw, step int32, want, tol float64) {
	t.Helper()
	if raw%step != 0 {
		t.Fatalf("%s %g: raw %#x is not a multiple of %d", what, want, raw, step)
	}
	got := math.Abs(f(raw) - want)
	if got > tol {
		t.Fatalf("%s %g: raw %#x reads back %g, off by more than %g", what, want, raw, f(raw), tol)
	}
	for _, n := range []int32{raw - step, raw + step} {
		if n >= 0 && n < 1<<20 && math.Abs(f(n)-want) < got {
			t.Fatalf("%s %g: raw %#x reads %g but %#x reads nearer, %g", what, want, raw, f(raw), n, f(n))
		}
	}
}

func TestClosest(t *testing.T) {
	identity := func(raw int32) int64 { return int64(raw) }
	tests := []struct {
		name        string
		bits, shift int
		target      float64
		want        int32
	}{
		{"exact", 8, 0, 100, 100},
		{"rounds down", 8, 0, 100.4, 100},
		{"rounds up", 8, 0, 100.6, 101},
		{"tie goes low", 8, 0, 100.5, 100},
		{"below range", 8, 0, -5, 0},
		{"above range", 8, 0, 1000, 255},
		{"coarse steps", 4, 4, 37, 32},
		{"coarse steps up", 4, 4, 41, 48},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := closest(tt.bits, tt.shift, identity, tt.target); got != tt.want {
				t.Fatalf("closest(%g) = %d, want %d", tt.target, got, tt.want)
			}
		})
	}
}

func TestCalibrationBytes(t *testing.T) {
	var regs [256]byte
	realCalibration().put(&regs)
	tests := []struct {
		reg  byte
		want []byte
	}{
		{0x88, []byte{0x10, 0x6E, 0x6C, 0x66, 0x5E, 0x01}}, // T1 28176, T2 26220, T3 350
		{0x8E, []byte{0x5D, 0x95, 0xB8, 0xD5}},             // P1 38237, P2 -10824
		{0x9C, []byte{0x0A, 0xD8, 0xBD, 0x10, 0x00, 0x4B}}, // P8 -10230, P9 4285, reserved, H1 75
		{0xE1, []byte{0x6E, 0x01, 0x00, 0x13, 0x05, 0x00, 0x1E}},
	}
	for _, tt := range tests {
		t.Run(string(rune('A'+tt.reg%26)), func(t *testing.T) {
			got := regs[tt.reg : int(tt.reg)+len(tt.want)]
			if string(got) != string(tt.want) {
				t.Fatalf("registers %#x: % x, want % x", tt.reg, got, tt.want)
			}
		})
	}
}
