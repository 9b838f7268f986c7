package sim

import (
	"math"
	"sync"
	"time"
)

// ADS1115 registers (datasheet section 8.6): the pointer register selects
// one of these.
const (
	adsConversion = 0
	adsConfig     = 1
	adsLoThresh   = 2
	adsHiThresh   = 3

	adsConfigReset = 0x8583
	adsOS          = 0x8000 // write 1: start a single conversion; read 1: idle
	adsModeSingle  = 0x0100 // 1: single-shot and power-down, 0: continuous
)

// adsFSR is the full-scale range in volts of PGA setting pga (config bits
// 11:9).
func adsFSR(pga uint16) float64 {
	switch pga {
	case 0:
		return 6.144
	case 1:
		return 4.096
	case 2:
		return 2.048
	case 3:
		return 1.024
	case 4:
		return 0.512
	}
	return 0.256
}

// ADS1115 models a TI ADS1115 16-bit ADC on I²C: the pointer register, the
// config register (OS single-shot start, MUX for the four single-ended and
// four differential inputs, PGA ±6.144 V to ±0.256 V, MODE, data rate,
// comparator bits stored but not acted on), the threshold registers and the
// conversion register, a big-endian two's-complement code
// floor(V × 32768 / FSR) clamped to −32768…32767.
//
// A single-shot conversion samples the inputs at the instant OS is written
// and completes at once, so OS reads 1 straight after (with timing typical
// it completes after 1/data rate on the board clock: OS reads 0 and the
// conversion register keeps the previous result until then); in continuous mode
// the conversion register follows the inputs at the instant it is read. A
// general call reset (0x06 to address 0x00) restores the power-on state.
type ADS1115 struct {
	Faults
	Inputs

	mu      sync.Mutex
	pointer byte
	config  uint16
	lo, hi  uint16
	conv    int16
	// A single-shot conversion in progress (timing typical).
	busy      bool
	busyUntil time.Time
	next      int16
}

func newADS1115(in Inputs) *ADS1115 {
	d := &ADS1115{Inputs: in}
	d.reset()
	return d
}

// Kind returns "ads1115".
func (d *ADS1115) Kind() string { return KindADS1115 }

func (d *ADS1115) reset() {
	d.pointer, d.config, d.lo, d.hi, d.conv = adsConversion, adsConfigReset, 0x8000, 0x7FFF, 0
	d.busy = false
}

// adsRates are the data rates of config bits 7–5, in samples per second.
var adsRates = [8]int{8, 16, 32, 64, 128, 250, 475, 860}

// settle completes a conversion whose time has come. Call with d.mu held.
func (d *ADS1115) settle(now time.Time) {
	if d.busy && !now.Before(d.busyUntil) {
		d.conv, d.busy = d.next, false
	}
}

func (d *ADS1115) generalCall(w []byte) {
	if len(w) > 0 && w[0] == 0x06 {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.reset()
	}
}

func (d *ADS1115) i2cTx(w, r []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(w) > 0 {
		d.pointer = w[0] & 3
	}
	if len(w) >= 3 {
		d.write(d.pointer, uint16(w[1])<<8|uint16(w[2]))
	}
	if len(r) > 0 {
		v := d.read(d.pointer)
		for i := range r {
			r[i] = byte(v >> (8 * (1 - i%2)))
		}
	}
	return nil
}

func (d *ADS1115) write(reg byte, v uint16) {
	switch reg {
	case adsConfig:
		d.config = v &^ adsOS
		if v&adsModeSingle != 0 && v&adsOS != 0 {
			now := d.now()
			if !d.typical {
				d.conv = d.convert(now)
				break
			}
			d.next, d.busy = d.convert(now), true
			d.busyUntil = now.Add(time.Second / time.Duration(adsRates[v>>5&7]))
		}
	case adsLoThresh:
		d.lo = v
	case adsHiThresh:
		d.hi = v
	}
}

func (d *ADS1115) read(reg byte) uint16 {
	d.settle(d.now())
	switch reg {
	case adsConfig:
		if d.config&adsModeSingle != 0 && !d.busy {
			return d.config | adsOS
		}
		return d.config
	case adsLoThresh:
		return d.lo
	case adsHiThresh:
		return d.hi
	}
	if d.config&adsModeSingle == 0 {
		d.conv = d.convert(d.now())
	}
	return uint16(d.conv)
}

// convert samples the input pair the MUX selects at t.
func (d *ADS1115) convert(t time.Time) int16 {
	ch := func(n int) float64 { return d.at(adcChannel(n), t) }
	var v float64
	switch mux := d.config >> 12 & 7; mux {
	case 0:
		v = ch(0) - ch(1)
	case 1:
		v = ch(0) - ch(3)
	case 2:
		v = ch(1) - ch(3)
	case 3:
		v = ch(2) - ch(3)
	default:
		v = ch(int(mux - 4))
	}
	fsr := adsFSR(d.config >> 9 & 7)
	code := math.Floor(v*32768/fsr + 1e-9)
	return int16(min(max(code, -32768), 32767))
}

// adcChannel names input n of an ADC: "ch0".
func adcChannel(n int) string { return "ch" + string(rune('0'+n)) }
