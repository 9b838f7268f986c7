package sim

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// SHT3x commands (datasheet section 4), sent MSB first.
const (
	shtFetch       = 0xE000
	shtBreak       = 0x3093
	shtSoftReset   = 0x30A2
	shtHeaterOn    = 0x306D
	shtHeaterOff   = 0x3066
	shtReadStatus  = 0xF32D
	shtClearStatus = 0x3041

	shtStatusReset   = 0x8010 // alert pending and reset detected, as after power-up
	shtStatusHeater  = 0x2000
	shtStatusCommand = 0x0002 // last command not processed
	shtStatusCleared = 0x8C10 // alert, RH and T alert, reset detected
)

// SHT3x models a Sensirion SHT3x humidity sensor on I²C. Single-shot
// commands (0x2400/0x240B/0x2416 without clock stretching,
// 0x2C06/0x2C0D/0x2C10 with), periodic mode (0x2032…0x272A, ART 0x2B32)
// with fetch 0xE000 and break 0x3093, soft reset 0x30A2, heater 0x306D/0x3066,
// status 0xF32D and clear status 0x3041 are understood; other commands set
// the status register's command-error bit. A measurement is
// temperature(2) CRC humidity(2) CRC, with raw T = (T+45)/175 × 65535 and
// raw RH = RH/100 × 65535 rounded, and CRC-8 polynomial 0x31 initialised to
// 0xFF.
//
// Measurements complete at once, but as on the real chip a read with
// nothing to report is not acknowledged (ErrNACK): read before any
// measurement command, read twice, or read in the same transaction as a
// command without clock stretching. CorruptCRC damages the checksums of the
// next reads.
type SHT3x struct {
	Faults
	Inputs

	mu       sync.Mutex
	status   uint16
	periodic bool
	pending  []byte    // the bytes the next read returns; nil: NACK
	readyAt  time.Time // a single-shot measurement is readable from then (timing typical)
	corrupt  int
}

// shtShotTime is the typical duration of a single-shot measurement by
// repeatability (datasheet table 4): high, medium, low.
var shtShotTime = map[uint16]time.Duration{
	0x2400: 12500 * time.Microsecond, 0x2C06: 12500 * time.Microsecond,
	0x240B: 4500 * time.Microsecond, 0x2C0D: 4500 * time.Microsecond,
	0x2416: 2500 * time.Microsecond, 0x2C10: 2500 * time.Microsecond,
}

func newSHT3x(in Inputs) *SHT3x {
	return &SHT3x{Inputs: in, status: shtStatusReset}
}

// Kind returns "sht3x".
func (d *SHT3x) Kind() string { return KindSHT3x }

// CorruptCRC makes the next n reads (measurements or status) return wrong
// checksums, with the data bytes intact. n <= 0 cancels what was pending.
func (d *SHT3x) CorruptCRC(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.corrupt = max(n, 0)
}

func (d *SHT3x) reset() {
	d.status, d.periodic, d.pending = shtStatusReset, false, nil
}

func (d *SHT3x) generalCall(w []byte) {
	if len(w) > 0 && w[0] == 0x06 {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.reset()
	}
}

func (d *SHT3x) i2cTx(w, r []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	stretch := true
	if len(w) > 0 {
		if len(w) < 2 {
			d.status |= shtStatusCommand
			return nil
		}
		stretch = d.command(uint16(w[0])<<8|uint16(w[1]), d.now())
	}
	if len(r) == 0 {
		return nil
	}
	switch {
	case !stretch:
		return fmt.Errorf("read in the same transaction as a measurement without clock stretching: %w", ErrNACK)
	case d.pending == nil:
		return fmt.Errorf("no data to read, send a measurement or status command first: %w", ErrNACK)
	case len(w) == 0 && d.now().Before(d.readyAt):
		return fmt.Errorf("measurement in progress until %s: %w", d.readyAt.Format("15:04:05.000000"), ErrNACK)
	}
	n := copy(r, d.pending)
	for i := n; i < len(r); i++ {
		r[i] = 0xFF // the bus idles high after the last byte
	}
	if d.corrupt > 0 {
		d.corrupt--
		for i := 2; i < n; i += 3 {
			r[i] ^= 0xFF
		}
	}
	d.pending = nil
	return nil
}

// command executes cmd at t. It reports false for a single-shot measurement
// without clock stretching, whose result cannot be read in the same
// transaction.
func (d *SHT3x) command(cmd uint16, t time.Time) bool {
	if cmd != shtReadStatus { // the status reports on the command before
		d.status &^= shtStatusCommand
	}
	d.readyAt = time.Time{}
	switch cmd {
	case 0x2400, 0x240B, 0x2416, 0x2C06, 0x2C0D, 0x2C10:
		if d.periodic {
			break // not accepted in periodic mode
		}
		d.pending, d.readyAt = d.measure(t), time.Time{}
		if d.typical && cmd>>8 == 0x24 { // with clock stretching the read waits instead
			d.readyAt = t.Add(shtShotTime[cmd])
		}
		return cmd>>8 == 0x2C
	case 0x2032, 0x2024, 0x202F, 0x2130, 0x2126, 0x212D, 0x2236, 0x2220, 0x222B,
		0x2334, 0x2322, 0x2329, 0x2737, 0x2721, 0x272A, 0x2B32:
		d.periodic, d.pending = true, nil
		return true
	case shtFetch:
		d.pending = nil
		if d.periodic {
			d.pending = d.measure(t)
		}
		return true
	case shtBreak:
		d.periodic, d.pending = false, nil
		return true
	case shtSoftReset:
		d.reset()
		return true
	case shtHeaterOn:
		d.status |= shtStatusHeater
		return true
	case shtHeaterOff:
		d.status &^= shtStatusHeater
		return true
	case shtReadStatus:
		d.pending, d.readyAt = withCRC(d.status), time.Time{}
		return true
	case shtClearStatus:
		d.status &^= shtStatusCleared
		return true
	}
	d.status |= shtStatusCommand
	return true
}

// measure encodes the inputs at t.
func (d *SHT3x) measure(t time.Time) []byte {
	raw := func(v float64) uint16 { return uint16(min(max(math.Round(v*65535), 0), 65535)) }
	temp := raw((d.at("temperature", t) + 45) / 175)
	hum := raw(d.at("humidity", t) / 100)
	return append(withCRC(temp), withCRC(hum)...)
}

// withCRC returns v big-endian followed by its CRC.
func withCRC(v uint16) []byte {
	b := []byte{byte(v >> 8), byte(v)}
	return append(b, CRC8(b))
}

// CRC8 is the Sensirion checksum: CRC-8 with polynomial 0x31 (x⁸+x⁵+x⁴+1),
// initial value 0xFF, no reflection and no final XOR. CRC8(0xBE, 0xEF) is
// 0x92.
func CRC8(data []byte) byte {
	crc := byte(0xFF)
	for _, b := range data {
		crc ^= b
		for range 8 {
			if crc&0x80 != 0 {
				crc = crc<<1 ^ 0x31
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

var _ CRCCorrupter = (*SHT3x)(nil)
