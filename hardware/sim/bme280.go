package sim

import (
	"sync"
	"time"
)

// BME280 registers (datasheet section 5.3).
const (
	bmeCalib0   = 0x88 // 0x88–0xA1: T1–T3, P1–P9, H1
	bmeID       = 0xD0
	bmeReset    = 0xE0
	bmeCalib1   = 0xE1 // 0xE1–0xE7: H2–H6
	bmeCtrlHum  = 0xF2
	bmeStatus   = 0xF3
	bmeCtrlMeas = 0xF4
	bmeConfig   = 0xF5
	bmeData     = 0xF7 // 0xF7–0xFE: press[19:0], temp[19:0], hum[15:0]
	bmeDataEnd  = 0xFE

	bmeChipID    = 0x60
	bmeResetWord = 0xB6

	modeSleep  = 0
	modeNormal = 3
)

// BME280 models a Bosch BME280 on I²C or SPI: chip id 0x60, soft reset, the
// control, status and config registers, calibration from a real sensor and
// data registers holding raw ADC values that the datasheet's compensation
// formulas turn back into the input waveforms (within their resolution:
// 0.01 °C, 1/256 Pa before the 16–20 bit ADC resolution, 1/1024 %RH).
//
// Forced mode measures at the instant ctrl_meas is written and returns to
// sleep; normal mode measures at the instant the data registers are read.
// Measurements complete at once, so status reads 0; with timing typical a
// forced measurement takes the datasheet's typical time (1 ms + 2 ms per
// temperature sample + 2 ms + 0.5 ms per pressure and per humidity
// sample, appendix B) on the board clock, status bit 3 (measuring) reads 1
// and the data registers keep the previous result until it is done. Oversampling sets the
// resolution (16 + osrs − 1 bits, 20 with the IIR filter on), 0 skips a
// quantity (0x80000, or 0x8000 for humidity), and ctrl_hum takes effect at
// the next ctrl_meas write. The IIR filter itself is not modelled, and
// config writes in normal mode are ignored, as the datasheet allows.
//
// Over SPI bit 7 of the control byte selects read (1) or write (0) and
// bits 6–0 address register 0x80|addr; MISO is low while MOSI carries the
// control byte.
type BME280 struct {
	Faults
	Inputs

	mu      sync.Mutex
	cal     calibration
	regs    [256]byte
	pointer byte // I²C register address for reads
	osrsH   byte // ctrl_hum as latched by the last ctrl_meas write
	// A forced measurement in progress (timing typical): its data
	// registers, published at doneAt.
	measuring bool
	doneAt    time.Time
	next      [bmeDataEnd - bmeData + 1]byte
}

// bmeSamples is the number of samples of an osrs setting (0: skipped).
var bmeSamples = [8]int{0, 1, 2, 4, 8, 16, 16, 16}

// typicalTime is the typical duration of a forced measurement with the
// current oversampling (datasheet appendix B).
func (d *BME280) typicalTime() time.Duration {
	meas := d.regs[bmeCtrlMeas]
	us := 1000 + 2000*bmeSamples[meas>>5]
	if n := bmeSamples[meas>>2&7]; n > 0 {
		us += 2000*n + 500
	}
	if n := bmeSamples[d.osrsH&7]; n > 0 {
		us += 2000*n + 500
	}
	return time.Duration(us) * time.Microsecond
}

// settle publishes a forced measurement whose time has come and sets the
// measuring bit. Call with d.mu held.
func (d *BME280) settle(now time.Time) {
	if d.measuring && !now.Before(d.doneAt) {
		copy(d.regs[bmeData:bmeDataEnd+1], d.next[:])
		d.measuring = false
	}
	d.regs[bmeStatus] = 0
	if d.measuring {
		d.regs[bmeStatus] = 0x08
	}
}

func newBME280(in Inputs) *BME280 {
	d := &BME280{Inputs: in, cal: realCalibration()}
	d.reset()
	return d
}

// Kind returns "bme280".
func (d *BME280) Kind() string { return KindBME280 }

// reset loads the power-on register values. Call with d.mu held or before
// the model is shared.
func (d *BME280) reset() {
	d.regs = [256]byte{}
	d.cal.put(&d.regs)
	d.regs[bmeID] = bmeChipID
	d.regs[bmeData] = 0x80   // press_msb
	d.regs[bmeData+3] = 0x80 // temp_msb
	d.regs[bmeData+6] = 0x80 // hum_msb
	d.osrsH = 0
	d.measuring = false
}

func (d *BME280) i2cTx(w, r []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Writes are pairs of register address and data (datasheet 6.2.1); a
	// lone trailing address sets the pointer for the read that follows.
	for i := 0; i < len(w); i += 2 {
		if i+1 < len(w) {
			d.write(w[i], w[i+1])
		} else {
			d.pointer = w[i]
		}
	}
	d.read(d.pointer, r)
	return nil
}

func (d *BME280) spiTx(w, r []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := 0; i < len(w); i += 2 {
		ctl := w[i]
		if ctl&0x80 != 0 { // read until chip select rises
			d.read(ctl|0x80, r[i+1:])
			return nil
		}
		if i+1 < len(w) {
			d.write(ctl|0x80, w[i+1])
		}
	}
	return nil
}

// read fills r from reg on, auto-incrementing.
func (d *BME280) read(reg byte, r []byte) {
	if len(r) == 0 {
		return
	}
	d.settle(d.now())
	end := int(reg) + len(r)
	if d.regs[bmeCtrlMeas]&3 == modeNormal && end > bmeData && int(reg) <= bmeDataEnd {
		d.measure(d.now())
	}
	for i := range r {
		r[i] = d.regs[reg+byte(i)]
	}
}

func (d *BME280) write(reg, v byte) {
	switch reg {
	case bmeReset:
		if v == bmeResetWord {
			d.reset()
		}
	case bmeCtrlHum:
		d.regs[bmeCtrlHum] = v & 0x07
	case bmeCtrlMeas:
		d.regs[bmeCtrlMeas] = v
		d.osrsH = d.regs[bmeCtrlHum]
		switch v & 3 {
		case 1, 2: // forced: one measurement, then sleep
			now := d.now()
			if d.typical {
				old := d.regs[bmeData : bmeDataEnd+1]
				var keep [len(d.next)]byte
				copy(keep[:], old)
				d.measure(now)
				copy(d.next[:], old)
				copy(old, keep[:])
				d.measuring, d.doneAt = true, now.Add(d.typicalTime())
			} else {
				d.measure(now)
			}
			d.regs[bmeCtrlMeas] = v &^ 3
		case modeNormal:
			d.measure(d.now())
		}
	case bmeConfig:
		if d.regs[bmeCtrlMeas]&3 != modeNormal {
			d.regs[bmeConfig] = v &^ 0x02
		}
	}
}

// measure stores the raw values for the inputs at t in the data registers.
func (d *BME280) measure(t time.Time) {
	meas := d.regs[bmeCtrlMeas]
	osrsT, osrsP := min(meas>>5, 5), min(meas>>2&7, 5)
	filter := d.regs[bmeConfig]>>2&7 != 0
	bits := func(osrs byte) int {
		if filter || osrs == 0 {
			return 20
		}
		return 16 + int(osrs) - 1
	}
	rt := int32(0x80000)
	if osrsT != 0 {
		rt = d.cal.rawTemp(d.at("temperature", t), bits(osrsT))
	}
	// Pressure and humidity are compensated with the t_fine of the
	// temperature reported, even a skipped one, as a driver does.
	tf := d.cal.tFine(rt)
	rp, rh := int32(0x80000), int32(0x8000)
	if osrsP != 0 {
		rp = d.cal.rawPressure(d.at("pressure", t), tf, bits(osrsP))
	}
	if d.osrsH != 0 {
		rh = d.cal.rawHumidity(d.at("humidity", t), tf)
	}
	put20 := func(at byte, v int32) {
		d.regs[at], d.regs[at+1], d.regs[at+2] = byte(v>>12), byte(v>>4), byte(v<<4)
	}
	put20(bmeData, rp)
	put20(bmeData+3, rt)
	d.regs[bmeData+6], d.regs[bmeData+7] = byte(rh>>8), byte(rh)
}
