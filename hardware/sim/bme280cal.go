package sim

// calibration holds a BME280's trimming parameters, named as in the
// datasheet (section 4.2.2).
type calibration struct {
	t1                             uint16
	t2, t3                         int16
	p1                             uint16
	p2, p3, p4, p5, p6, p7, p8, p9 int16
	h1                             uint8
	h2                             int16
	h3                             uint8
	h4, h5                         int16
	h6                             int8
}

// realCalibration is the trimming of a real BME280, as recorded in the tests
// of periph.io/x/devices/v3/bmxx80.
func realCalibration() calibration {
	return calibration{
		t1: 28176, t2: 26220, t3: 350,
		p1: 38237, p2: -10824, p3: 3024, p4: 7799, p5: -99, p6: -7, p7: 9900, p8: -10230, p9: 4285,
		h1: 75, h2: 366, h3: 0, h4: 309, h5: 0, h6: 30,
	}
}

// put writes the calibration into a register image: 0x88–0xA1 and
// 0xE1–0xE7, little-endian, with H4 and H5 sharing 0xE5.
func (c calibration) put(regs *[256]byte) {
	le := func(at byte, v uint16) { regs[at], regs[at+1] = byte(v), byte(v>>8) }
	le(0x88, c.t1)
	le(0x8A, uint16(c.t2))
	le(0x8C, uint16(c.t3))
	le(0x8E, c.p1)
	for i, p := range []int16{c.p2, c.p3, c.p4, c.p5, c.p6, c.p7, c.p8, c.p9} {
		le(0x90+byte(2*i), uint16(p))
	}
	regs[0xA1] = c.h1
	le(0xE1, uint16(c.h2))
	regs[0xE3] = c.h3
	regs[0xE4] = byte(c.h4 >> 4)
	regs[0xE5] = byte(c.h4&0x0F) | byte(c.h5&0x0F)<<4
	regs[0xE6] = byte(c.h5 >> 4)
	regs[0xE7] = byte(c.h6)
}

// tFine is the datasheet's BME280_compensate_T_int32 up to t_fine; the
// temperature is tFine/5120 °C, reported as (tFine*5+128)>>8 in 0.01 °C.
func (c calibration) tFine(raw int32) int32 {
	v1 := ((raw>>3 - int32(c.t1)<<1) * int32(c.t2)) >> 11
	d := raw>>4 - int32(c.t1)
	v2 := (((d * d) >> 12) * int32(c.t3)) >> 14
	return v1 + v2
}

// pressure is the datasheet's BME280_compensate_P_int64 before the final
// narrowing to uint32: Pa in Q24.8.
func (c calibration) pressure(raw, tFine int32) int64 {
	v1 := int64(tFine) - 128000
	v2 := v1 * v1 * int64(c.p6)
	v2 += (v1 * int64(c.p5)) << 17
	v2 += int64(c.p4) << 35
	v1 = (v1*v1*int64(c.p3))>>8 + (v1*int64(c.p2))<<12
	v1 = ((int64(1)<<47 + v1) * int64(c.p1)) >> 33
	if v1 == 0 {
		return 0
	}
	p := int64(1048576 - raw)
	p = ((p<<31 - v2) * 3125) / v1
	v1 = (int64(c.p9) * (p >> 13) * (p >> 13)) >> 25
	v2 = (int64(c.p8) * p) >> 19
	return (p+v1+v2)>>8 + int64(c.p7)<<4
}

// humidity is the datasheet's BME280_compensate_H_int32: %RH in Q22.10.
func (c calibration) humidity(raw, tFine int32) int32 {
	v := tFine - 76800
	x1 := (raw<<14 - int32(c.h4)<<20 - int32(c.h5)*v + 16384) >> 15
	x2 := ((v * int32(c.h6)) >> 10) * (((v * int32(c.h3)) >> 11) + 32768)
	x3 := ((x2>>10+2097152)*int32(c.h2) + 8192) >> 14
	v = x1 * x3
	v -= (((v >> 15) * (v >> 15)) >> 7) * int32(c.h1) >> 4
	v = min(max(v, 0), 419430400)
	return v >> 12
}

// rawTemp inverts the temperature compensation: the raw value, at a
// resolution of bits (16–20; the low bits of a coarser result are zero),
// whose t_fine is nearest t °C.
func (c calibration) rawTemp(t float64, bits int) int32 {
	t = min(max(t, -40), 85)
	return closest(bits, 20-bits, func(raw int32) int64 { return int64(c.tFine(raw)) }, t*5120)
}

// rawPressure inverts the pressure compensation at tFine: the raw value, at
// a resolution of bits, whose pressure is nearest p hPa.
func (c calibration) rawPressure(p float64, tFine int32, bits int) int32 {
	p = min(max(p, 300), 1100)
	return closest(bits, 20-bits, func(raw int32) int64 { return -c.pressure(raw, tFine) }, -p*100*256)
}

// rawHumidity inverts the humidity compensation at tFine: the 16-bit raw
// value whose humidity is nearest h %RH.
func (c calibration) rawHumidity(h float64, tFine int32) int32 {
	h = min(max(h, 0), 100)
	return closest(16, 0, func(raw int32) int64 { return int64(c.humidity(raw, tFine)) }, h*1024)
}

// closest searches raw values k<<shift, k in [0, 2^bits), for the one whose
// f is nearest target; f must be non-decreasing in raw.
func closest(bits, shift int, f func(raw int32) int64, target float64) int32 {
	lo, hi := int32(0), int32(1)<<bits-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if float64(f(mid<<shift)) < target {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo > 0 {
		below, at := float64(f((lo-1)<<shift)), float64(f(lo<<shift))
		if target-below <= at-target {
			lo--
		}
	}
	return lo << shift
}
