package modbussim

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/edged-gateway/edged/drivers/modbus"
	"github.com/edged-gateway/edged/waveform"
)

// point is a run of addresses in one table that a model serves.
type point struct {
	table modbus.Table
	addr  uint16
	n     int
	get   func(at time.Time) []uint16
	set   func(vals []uint16, at time.Time) error // nil: read-only
}

// mapped is a slave made of points; addresses no point covers answer
// "illegal data address", as real devices do.
type mapped struct {
	mu     sync.Mutex // serialises the model's state
	points []point
}

func newMapped(points []point) *mapped {
	sort.Slice(points, func(i, j int) bool {
		if points[i].table != points[j].table {
			return points[i].table < points[j].table
		}
		return points[i].addr < points[j].addr
	})
	return &mapped{points: points}
}

// Read returns qty values from addr; a request may span several points but
// no unmapped address.
func (m *mapped) Read(t modbus.Table, addr, qty uint16, at time.Time) ([]uint16, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]uint16, 0, qty)
	next := int(addr)
	end := int(addr) + int(qty)
	for _, p := range m.points {
		if p.table != t || int(p.addr)+p.n <= next {
			continue
		}
		if int(p.addr) > next {
			break
		}
		vals := p.get(at)
		from := next - int(p.addr)
		to := min(p.n, end-int(p.addr))
		out = append(out, vals[from:to]...)
		if next = int(p.addr) + to; next >= end {
			return out, nil
		}
	}
	return nil, IllegalDataAddress
}

// Write sets whole writable points.
func (m *mapped) Write(t modbus.Table, addr uint16, vals []uint16, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next := int(addr)
	rest := vals
	for _, p := range m.points {
		if len(rest) == 0 {
			break
		}
		if p.table != t || int(p.addr) != next {
			continue
		}
		if p.set == nil || len(rest) < p.n {
			return IllegalDataAddress
		}
		if err := p.set(rest[:p.n], at); err != nil {
			return err
		}
		rest, next = rest[p.n:], next+p.n
	}
	if len(rest) != 0 {
		return IllegalDataAddress
	}
	return nil
}

func f32(v float64) []uint16 {
	regs, _ := modbus.EncodeValue(modbus.Float32, modbus.Order{}, v)
	return regs
}

func text(s string, n int) []uint16 {
	b := make([]byte, 2*n)
	copy(b, s)
	regs := make([]uint16, n)
	for i := range regs {
		regs[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return regs
}

func wave(shape waveform.Shape, lo, hi float64, period time.Duration, seed int64) *waveform.Wave {
	w, err := waveform.New(waveform.Config{Shape: shape, Min: lo, Max: hi, Period: period, Seed: seed})
	if err != nil {
		panic(err) // constant arguments below; a mistake here is a programming error
	}
	return w
}

// NewMeter is a single-phase energy meter laid out like the common DIN-rail
// ones: float32 (ABCD) input registers at 0 voltage V, 6 current A, 12
// active power W, 70 frequency Hz, 342 total energy kWh (counting from
// start), and the model name at 100..104 (string of 5 registers).
func NewMeter(seed int64, start time.Time) Slave {
	volts := wave(waveform.Sine, 226, 234, time.Minute, seed)
	amps := wave(waveform.RandomWalk, 1, 12, 2*time.Second, seed+1)
	hz := wave(waveform.Sine, 49.95, 50.05, 37*time.Second, seed+2)
	power := func(at time.Time) float64 { return volts.At(at) * amps.At(at) * 0.95 }
	const avgKW = 1.2
	return newMapped([]point{
		{table: modbus.Input, addr: 0, n: 2, get: func(at time.Time) []uint16 { return f32(volts.At(at)) }},
		{table: modbus.Input, addr: 6, n: 2, get: func(at time.Time) []uint16 { return f32(amps.At(at)) }},
		{table: modbus.Input, addr: 12, n: 2, get: func(at time.Time) []uint16 { return f32(power(at)) }},
		{table: modbus.Input, addr: 70, n: 2, get: func(at time.Time) []uint16 { return f32(hz.At(at)) }},
		{table: modbus.Input, addr: 342, n: 2, get: func(at time.Time) []uint16 {
			return f32(1234.5 + max(at.Sub(start).Hours(), 0)*avgKW)
		}},
		{table: modbus.Input, addr: 100, n: 5, get: func(time.Time) []uint16 { return text("SIM-METER", 5) }},
	})
}

// vfd is a variable-frequency drive: a run coil and a frequency setpoint,
// with an output frequency that ramps towards it.
type vfd struct {
	run      bool
	setpoint float64 // Hz
	freq     float64 // Hz, at last
	last     time.Time
	noise    *waveform.Wave
	bus      *waveform.Wave
}

// rampHzPerSecond is how fast the simulated drive changes speed.
const rampHzPerSecond = 10

// advance moves the output frequency towards its target up to at.
func (v *vfd) advance(at time.Time) {
	if dt := at.Sub(v.last).Seconds(); dt > 0 {
		target := 0.0
		if v.run {
			target = v.setpoint
		}
		step := rampHzPerSecond * dt
		if math.Abs(target-v.freq) <= step {
			v.freq = target
		} else if target > v.freq {
			v.freq += step
		} else {
			v.freq -= step
		}
		v.last = at
	}
}

// NewVFD is a drive: coil 0 run (writable); holding 0 frequency setpoint in
// 0.01 Hz (writable, 0..6000), 1 output frequency in 0.01 Hz, 2 output
// current in 0.1 A, 3 DC bus voltage in 0.1 V, 4 status word (bit 0
// running, bit 1 at speed), 10..13 model name; discrete input 0 fault.
func NewVFD(seed int64, start time.Time) Slave {
	v := &vfd{setpoint: 35, last: start, run: true,
		noise: wave(waveform.RandomWalk, 0, 1, time.Second, seed), bus: wave(waveform.Sine, 5600, 5700, 45*time.Second, seed+1)}
	reg := func(get func(at time.Time) float64) func(at time.Time) []uint16 {
		return func(at time.Time) []uint16 {
			v.advance(at)
			return []uint16{uint16(math.Round(max(0, min(get(at), 65535))))}
		}
	}
	return newMapped([]point{
		{table: modbus.Coil, addr: 0, n: 1,
			get: func(at time.Time) []uint16 { v.advance(at); return []uint16{b2u(v.run)} },
			set: func(vals []uint16, at time.Time) error { v.advance(at); v.run = vals[0] != 0; return nil }},
		{table: modbus.Holding, addr: 0, n: 1,
			get: reg(func(time.Time) float64 { return v.setpoint * 100 }),
			set: func(vals []uint16, at time.Time) error {
				if vals[0] > 6000 {
					return IllegalDataValue
				}
				v.advance(at)
				v.setpoint = float64(vals[0]) / 100
				return nil
			}},
		{table: modbus.Holding, addr: 1, n: 1, get: reg(func(time.Time) float64 { return v.freq * 100 })},
		{table: modbus.Holding, addr: 2, n: 1, get: reg(func(at time.Time) float64 { return (v.freq*0.2 + v.noise.At(at)) * 10 })},
		{table: modbus.Holding, addr: 3, n: 1, get: reg(func(at time.Time) float64 { return v.bus.At(at) })},
		{table: modbus.Holding, addr: 4, n: 1, get: reg(func(time.Time) float64 {
			var w uint16
			if v.run && v.freq > 0 {
				w |= 1
			}
			if v.run && v.freq == v.setpoint {
				w |= 2
			}
			return float64(w)
		})},
		{table: modbus.Holding, addr: 10, n: 4, get: func(time.Time) []uint16 { return text("SIM-VFD", 4) }},
		{table: modbus.DiscreteInput, addr: 0, n: 1, get: func(time.Time) []uint16 { return []uint16{0} }},
	})
}

func b2u(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}
