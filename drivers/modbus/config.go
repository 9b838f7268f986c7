package modbus

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/edged-gateway/edged/internal/editdist"
)

// Defaults for the options a device leaves out.
const (
	DefaultUnit         = 1
	DefaultBaud         = 19200
	DefaultTimeout      = time.Second
	DefaultMaxRegisters = 125  // the most one read of holding or input registers may ask (spec)
	DefaultMaxBits      = 2000 // the most one read of coils or discrete inputs may ask (spec)
	DefaultMaxGap       = 10   // unused registers a read may span to join two metrics
	DefaultReconnectMin = 500 * time.Millisecond
	DefaultReconnectMax = 30 * time.Second
)

// Config is the options block of a modbus device: one slave (unit) on one
// connection, and its register map.
type Config struct {
	// URL is tcp://host:port (port 502 if left out), rtu:///dev/ttyUSB0
	// or rtuovertcp://host:port (an RS-485 gateway that forwards RTU
	// frames unchanged).
	URL string `yaml:"url"`
	// Unit is the slave id: 1 (default) to 247 on a serial bus; 0 to 255 on
	// TCP, where gateways use it to pick a device behind them.
	Unit *int `yaml:"unit"`
	// Baud, Parity (none, even, odd), StopBits (1 or 2; default 2 without
	// parity, 1 with) and DataBits (7 or 8, default 8) set up rtu://
	// ports. Baud also paces rtuovertcp:// frames. Default 19200 8N2.
	Baud     int    `yaml:"baud"`
	Parity   string `yaml:"parity"`
	StopBits int    `yaml:"stop_bits"`
	DataBits int    `yaml:"data_bits"`
	// Timeout bounds one request's answer; default 1s. Devices that share
	// a port share its timeout (the longest they name).
	Timeout time.Duration `yaml:"timeout"`
	// MaxRegisters caps the registers one read asks for (default and most
	// 125); MaxBits the coils or inputs (default and most 2000). Many
	// devices refuse long reads: lower these for them.
	MaxRegisters int `yaml:"max_registers"`
	MaxBits      int `yaml:"max_bits"`
	// MaxGap is how many unmapped registers (or bits) a read may span to
	// join two metrics into one request; default 10, 0 joins only
	// adjacent ones. A joined read a device refuses with "illegal data
	// address" is split into one read per metric from then on.
	MaxGap *int `yaml:"max_gap"`
	// Batch false reads every metric with its own request.
	Batch *bool `yaml:"batch"`
	// ConnectDelay pauses after opening the connection before the first
	// request; RequestDelay pauses between this device's requests;
	// CloseAfterPoll closes a tcp:// or rtuovertcp:// connection after
	// each poll. All three are for slow or fussy devices; default off.
	ConnectDelay   time.Duration `yaml:"connect_delay"`
	RequestDelay   time.Duration `yaml:"request_delay"`
	CloseAfterPoll bool          `yaml:"close_after_poll"`
	// ReconnectMin and ReconnectMax bound the doubling wait before the
	// connection is opened again after it failed; default 500ms and 30s.
	ReconnectMin time.Duration `yaml:"reconnect_min"`
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// ByteOrder and WordOrder are the defaults for every register below.
	ByteOrder string `yaml:"byte_order"`
	WordOrder string `yaml:"word_order"`
	// Registers is the register map: one entry per metric.
	Registers []Register `yaml:"registers"`
}

// Register is one metric of the register map.
type Register struct {
	// Metric names the reading.
	Metric string `yaml:"metric"`
	// Table is coil, discrete_input, holding or input.
	Table string `yaml:"table"`
	// Address is the 0-based protocol address (holding 40001 is
	// address 0 in table holding).
	Address *int `yaml:"address"`
	// Type is bool, int16, uint16 (default for registers), int32, uint32,
	// int64, uint64, float32, float64 or string. Coils and discrete
	// inputs are bool.
	Type string `yaml:"type"`
	// Length is a string's size in registers (two characters each).
	Length int `yaml:"length"`
	// Bit picks one bit (0 = least significant) of a holding or input
	// register as a bool.
	Bit *int `yaml:"bit"`
	// ByteOrder is ABCD (default), DCBA, BADC or CDAB for the whole value,
	// or big/little for the bytes within each register, with WordOrder
	// (big = high word first, default; little) for the order of the
	// registers.
	ByteOrder string `yaml:"byte_order"`
	WordOrder string `yaml:"word_order"`
	// Scale (default 1) and Offset map the raw value r to r*scale+offset;
	// Unit is carried on the reading.
	Scale  *float64 `yaml:"scale"`
	Offset float64  `yaml:"offset"`
	Unit   string   `yaml:"unit"`
	// Writable lets commands set this coil or holding register. Min and
	// Max bound what a command may set (in engineering units, after
	// scale); Safe is written when the device stops.
	Writable bool     `yaml:"writable"`
	Min      *float64 `yaml:"min"`
	Max      *float64 `yaml:"max"`
	Safe     *float64 `yaml:"safe"`
}

// Validate reports every problem with c, one line each, naming the option
// (options.registers[2].type: …).
func (c Config) Validate() error {
	_, err := c.compile()
	return err
}

// Table is one of the four Modbus data tables.
type Table uint8

// The four tables.
const (
	Coil Table = iota
	DiscreteInput
	Holding
	Input
)

var tableNames = []string{"coil", "discrete_input", "holding", "input"}

func (t Table) String() string { return tableNames[t] }

// bits reports whether the table holds single bits rather than registers.
func (t Table) bits() bool { return t == Coil || t == DiscreteInput }

// ref is the conventional 1-based reference (holding address 0 is 40001).
func (t Table) ref(addr uint16) string {
	prefix := [...]int{0, 1, 4, 3}[t]
	if addr < 9999 {
		return fmt.Sprintf("%s %d%04d", t, prefix, int(addr)+1)
	}
	return fmt.Sprintf("%s %d%05d", t, prefix, int(addr)+1)
}

// field is one checked register map entry.
type field struct {
	path     string
	metric   string
	table    Table
	addr     uint16
	typ      Type
	count    int // registers or bits
	bit      int // -1: the whole value
	order    Order
	scale    float64
	offset   float64
	unit     string
	writable bool
	min, max *float64
	safe     *float64
}

// end is the last address the field covers.
func (f field) end() int { return int(f.addr) + f.count - 1 }

// settings is a checked Config.
type settings struct {
	scheme, addr string // addr: host:port or the serial device
	unit         uint8
	baud         int
	parity       string
	stopBits     int
	dataBits     int
	timeout      time.Duration
	maxRegs      int
	maxBits      int
	maxGap       int
	batch        bool
	connectDelay time.Duration
	requestDelay time.Duration
	closeAfter   bool
	reconnectMin time.Duration
	reconnectMax time.Duration
	fields       []field
}

func (c Config) compile() (settings, error) {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("options.%s: %s", path, fmt.Sprintf(format, args...)))
	}
	s := settings{
		unit: DefaultUnit, baud: c.Baud, parity: c.Parity, stopBits: c.StopBits, dataBits: c.DataBits,
		timeout: c.Timeout, maxRegs: c.MaxRegisters, maxBits: c.MaxBits, maxGap: DefaultMaxGap, batch: c.Batch == nil || *c.Batch,
		connectDelay: c.ConnectDelay, requestDelay: c.RequestDelay, closeAfter: c.CloseAfterPoll,
		reconnectMin: c.ReconnectMin, reconnectMax: c.ReconnectMax,
	}
	s.scheme, s.addr = c.checkURL(add)
	if c.Unit != nil {
		lo, hi := 0, 255
		if s.scheme == "rtu" || s.scheme == "rtuovertcp" {
			lo, hi = 1, 247
		}
		if *c.Unit < lo || *c.Unit > hi {
			add("unit", "%d is not a slave id: use %d to %d", *c.Unit, lo, hi)
		} else {
			s.unit = uint8(*c.Unit)
		}
	}
	if s.baud == 0 {
		s.baud = DefaultBaud
	} else if s.baud < 300 || s.baud > 4000000 {
		add("baud", "%d is not a baud rate: use e.g. 9600 or 19200", s.baud)
	}
	switch strings.ToLower(s.parity) {
	case "", "none", "n":
		s.parity = "none"
	case "even", "e":
		s.parity = "even"
	case "odd", "o":
		s.parity = "odd"
	default:
		add("parity", "%q is not a parity: use none, even or odd", c.Parity)
	}
	if s.stopBits == 0 {
		s.stopBits = 1
		if s.parity == "none" {
			s.stopBits = 2 // the serial line spec keeps 11-bit characters
		}
	} else if s.stopBits != 1 && s.stopBits != 2 {
		add("stop_bits", "%d is not a stop bit count: use 1 or 2", s.stopBits)
	}
	if s.dataBits == 0 {
		s.dataBits = 8
	} else if s.dataBits != 7 && s.dataBits != 8 {
		add("data_bits", "%d: use 8 (RTU) or 7", s.dataBits)
	}
	if s.scheme != "rtu" {
		for _, f := range []struct {
			name string
			set  bool
		}{{"parity", c.Parity != ""}, {"stop_bits", c.StopBits != 0}, {"data_bits", c.DataBits != 0}} {
			if f.set {
				add(f.name, "only rtu:// ports have serial settings: remove it")
			}
		}
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	} else if s.timeout < time.Millisecond || s.timeout > time.Minute {
		add("timeout", "%s is out of range: use 1ms to 1m, e.g. 1s", s.timeout)
	}
	if s.maxRegs == 0 {
		s.maxRegs = DefaultMaxRegisters
	} else if s.maxRegs < 1 || s.maxRegs > 125 {
		add("max_registers", "%d is out of range: a read asks for 1 to 125 registers", s.maxRegs)
	}
	if s.maxBits == 0 {
		s.maxBits = DefaultMaxBits
	} else if s.maxBits < 1 || s.maxBits > 2000 {
		add("max_bits", "%d is out of range: a read asks for 1 to 2000 coils or inputs", s.maxBits)
	}
	if c.MaxGap != nil {
		if *c.MaxGap < 0 || *c.MaxGap > 124 {
			add("max_gap", "%d is out of range: use 0 to 124 (0 joins only adjacent metrics; batch: false turns joining off)", *c.MaxGap)
		} else {
			s.maxGap = *c.MaxGap
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"connect_delay", c.ConnectDelay}, {"request_delay", c.RequestDelay}, {"reconnect_min", c.ReconnectMin}, {"reconnect_max", c.ReconnectMax}} {
		if d.v < 0 || d.v > 10*time.Minute {
			add(d.name, "%s is out of range: use 0 to 10m", d.v)
		}
	}
	if s.reconnectMin == 0 {
		s.reconnectMin = DefaultReconnectMin
	}
	if s.reconnectMax == 0 {
		s.reconnectMax = max(DefaultReconnectMax, s.reconnectMin)
	}
	if s.reconnectMax < s.reconnectMin {
		add("reconnect_max", "%s is below reconnect_min (%s)", s.reconnectMax, s.reconnectMin)
	}
	if c.CloseAfterPoll && s.scheme == "rtu" {
		add("close_after_poll", "an rtu:// port is shared by every device on its bus and stays open: remove it")
	}
	defOrder, ok := parseOrder("", c.ByteOrder, c.WordOrder, Order{}, add)
	if !ok {
		defOrder = Order{}
	}
	if len(c.Registers) == 0 {
		add("registers", "no registers: list at least one, e.g. {metric: voltage, table: input, address: 0, type: float32}")
	}
	seen := map[string]string{}
	for i, r := range c.Registers {
		p := fmt.Sprintf("registers[%d]", i)
		f, ok := r.compile(p, defOrder, add)
		if !ok {
			continue
		}
		if other, dup := seen[f.metric]; dup {
			add(p+".metric", "%q is already the metric of %s: each metric once", f.metric, other)
			continue
		}
		seen[f.metric] = p
		if limit := s.maxRegs; !f.table.bits() && f.count > limit {
			add(p+".length", "%d registers is more than max_registers (%d) lets one read ask", f.count, limit)
			continue
		}
		s.fields = append(s.fields, f)
	}
	checkOverlaps(s.fields, add)
	return s, errors.Join(errs...)
}

func (c Config) checkURL(add func(string, string, ...any)) (scheme, addr string) {
	if c.URL == "" {
		add("url", "missing: set tcp://host:502, rtu:///dev/ttyUSB0 or rtuovertcp://host:port")
		return "", ""
	}
	scheme, rest, ok := strings.Cut(c.URL, "://")
	if !ok {
		add("url", "%q has no scheme: use tcp://%s, rtu://%s or rtuovertcp://%s", c.URL, c.URL, c.URL, c.URL)
		return "", ""
	}
	scheme = strings.ToLower(scheme)
	switch scheme {
	case "rtu":
		if !strings.HasPrefix(rest, "/") {
			add("url", "%q: the serial device is an absolute path, e.g. rtu:///dev/ttyUSB0", c.URL)
		}
		return scheme, rest
	case "tcp", "rtuovertcp":
		u, err := url.Parse(scheme + "://" + rest)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") {
			add("url", "%q is not %s://host:port", c.URL, scheme)
			return scheme, ""
		}
		host := u.Host
		if u.Port() == "" {
			if scheme == "rtuovertcp" {
				add("url", "%q has no port: RTU-over-TCP gateways have no standard port, name it", c.URL)
			}
			host = net.JoinHostPort(u.Hostname(), "502")
		}
		return scheme, host
	}
	want := []string{"tcp", "rtu", "rtuovertcp"}
	add("url", "%q is not a Modbus connection: use tcp://, rtu:// or rtuovertcp://%s", scheme+"://", didYouMean(scheme, want))
	return "", ""
}

func (r Register) compile(p string, def Order, add func(string, string, ...any)) (field, bool) {
	ok := true
	fail := func(path, format string, args ...any) {
		add(path, format, args...)
		ok = false
	}
	f := field{path: p, metric: r.Metric, bit: -1, scale: 1, offset: r.Offset, unit: r.Unit, writable: r.Writable, min: r.Min, max: r.Max, safe: r.Safe}
	if r.Metric == "" || strings.ContainsAny(r.Metric, "/+# ") {
		fail(p+".metric", "%q is not a metric name: give a name without spaces, / + #", r.Metric)
	}
	switch t := strings.ToLower(r.Table); t {
	case "coil", "coils":
		f.table = Coil
	case "discrete_input", "discrete_inputs", "discrete":
		f.table = DiscreteInput
	case "holding", "holding_register", "holding_registers":
		f.table = Holding
	case "input", "input_register", "input_registers":
		f.table = Input
	case "":
		fail(p+".table", "missing: use coil, discrete_input, holding or input")
	default:
		fail(p+".table", "%q is not a table: use coil, discrete_input, holding or input%s", r.Table, didYouMean(t, tableNames))
	}
	typ := Type(strings.ToLower(r.Type))
	switch {
	case typ == "" && f.table.bits():
		typ = Bool
	case typ == "" && r.Bit != nil:
		typ = Bool
	case typ == "":
		typ = Uint16
	case !slices.Contains(types, typ):
		names := make([]string, len(types))
		for i, t := range types {
			names[i] = string(t)
		}
		fail(p+".type", "%q is not a type: use one of %s%s", r.Type, strings.Join(names, ", "), didYouMean(string(typ), names))
	}
	f.typ = typ
	if ok && f.table.bits() && typ != Bool {
		fail(p+".type", "a %s is one bit: its type is bool, not %s", f.table, typ)
	}
	f.count = typ.registers()
	if f.table.bits() {
		f.count = 1
	}
	switch {
	case typ == String && r.Length <= 0:
		fail(p+".length", "a string needs its length in registers (two characters each), e.g. length: 8; got %d", r.Length)
	case typ == String && r.Length > 125:
		fail(p+".length", "%d registers is more than one read can ask (125)", r.Length)
	case typ == String:
		f.count = r.Length
	case r.Length != 0 && ok && r.Length != f.count:
		fail(p+".length", "a %s is %d register(s), not %d: remove length (it is for strings)", typ, f.count, r.Length)
	}
	if r.Bit != nil {
		switch {
		case f.table.bits():
			fail(p+".bit", "a %s is already one bit: remove bit", f.table)
		case typ != Bool:
			fail(p+".bit", "a bit is a bool: set type: bool or remove bit")
		case *r.Bit < 0 || *r.Bit > 15:
			fail(p+".bit", "%d is not a bit of a 16-bit register: use 0 (least significant) to 15", *r.Bit)
		default:
			f.bit = *r.Bit
		}
	}
	if r.Address == nil {
		fail(p+".address", "missing: the 0-based protocol address (holding 40001 is address 0)")
	} else if a := *r.Address; a < 0 || a > 65535 {
		fail(p+".address", "%d is out of range: addresses are 0 to 65535, 0-based (holding 40001 is address 0)", a)
	} else if f.count > 0 && a+f.count-1 > 65535 {
		fail(p+".address", "%d: a %s of %d registers ends past 65535", a, typ, f.count)
	} else {
		f.addr = uint16(a)
	}
	if r.Scale != nil {
		if *r.Scale == 0 {
			fail(p+".scale", "0 would make every reading equal offset: leave scale out for 1")
		}
		f.scale = *r.Scale
	}
	if (r.ByteOrder != "" || r.WordOrder != "") && (f.table.bits() || f.bit >= 0) {
		fail(p+".byte_order", "a bit has no byte order: remove byte_order and word_order")
	}
	if o, good := parseOrder(p+".", r.ByteOrder, r.WordOrder, def, add); good {
		f.order = o
	} else {
		ok = false
	}
	if r.Writable {
		switch {
		case f.table != Coil && f.table != Holding:
			fail(p+".writable", "a %s is read-only: only coils and holding registers are written", f.table)
		case f.bit >= 0:
			fail(p+".writable", "a bit within a register cannot be written on its own (it would take a read-modify-write): map the register, or use a coil")
		case typ == String:
			fail(p+".writable", "strings are not written by commands")
		}
	} else if r.Safe != nil {
		fail(p+".safe", "only a writable register has a safe value: set writable: true or remove safe")
	}
	if r.Min != nil && r.Max != nil && *r.Min > *r.Max {
		fail(p+".max", "%v is below min (%v)", *r.Max, *r.Min)
	}
	if ok && r.Safe != nil {
		if _, err := f.raw(*r.Safe); err != nil {
			fail(p+".safe", "%v", err)
		}
	}
	return f, ok
}

// parseOrder reads a byte_order/word_order pair on top of def.
func parseOrder(p, byteOrder, wordOrder string, def Order, add func(string, string, ...any)) (Order, bool) {
	o := def
	ok := true
	bo := byteOrder
	up := strings.ToUpper(bo)
	_, named := orderNames[up]
	switch {
	case bo == "":
	case named:
		o = orderNames[up]
		if wordOrder != "" {
			add(p+"word_order", "byte_order %s already sets the word order: remove word_order, or use byte_order: big|little with it", up)
			ok = false
		}
	case strings.EqualFold(bo, "big") || strings.EqualFold(bo, "AB"):
		o.ByteSwap = false
	case strings.EqualFold(bo, "little") || strings.EqualFold(bo, "BA"):
		o.ByteSwap = true
	default:
		add(p+"byte_order", "%q is not a byte order: use ABCD, DCBA, BADC or CDAB (or big/little with word_order)%s",
			bo, didYouMean(up, []string{"ABCD", "DCBA", "BADC", "CDAB", "big", "little"}))
		ok = false
	}
	switch strings.ToLower(wordOrder) {
	case "":
	case "big", "high_first", "high":
		o.WordSwap = false
	case "little", "low_first", "low", "swapped":
		o.WordSwap = true
	default:
		add(p+"word_order", "%q is not a word order: use big (high word first) or little (low word first)%s",
			wordOrder, didYouMean(strings.ToLower(wordOrder), []string{"big", "little", "high_first", "low_first"}))
		ok = false
	}
	return o, ok
}

// checkOverlaps reports two metrics that claim one register (or coil),
// unless both are different bits of it.
func checkOverlaps(fs []field, add func(string, string, ...any)) {
	idx := make([]int, len(fs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if fs[a].table != fs[b].table {
			return int(fs[a].table) - int(fs[b].table)
		}
		return int(fs[a].addr) - int(fs[b].addr)
	})
	for i := 1; i < len(idx); i++ {
		b := fs[idx[i]]
		for j := i - 1; j >= 0; j-- {
			a := fs[idx[j]]
			if a.table != b.table {
				break
			}
			if a.end() < int(b.addr) {
				continue
			}
			if a.bit >= 0 && b.bit >= 0 && a.addr == b.addr && a.bit != b.bit {
				continue
			}
			first, second := a, b
			if first.path > second.path && len(first.path) >= len(second.path) {
				first, second = second, first
			}
			add(second.path+".address", "%s %d overlaps %s (%s %d..%d, %s): two metrics cannot share a register unless each names a different bit",
				b.table, b.addr, first.path, a.table, a.addr, a.end(), first.metric)
			break
		}
	}
}

// raw turns an engineering value into the raw value to write, checking the
// field's min/max and its type's range.
func (f field) raw(v float64) (float64, error) {
	if v != v {
		return 0, errors.New("NaN is not a value")
	}
	if f.min != nil && v < *f.min {
		return 0, fmt.Errorf("%v is below min %v", v, *f.min)
	}
	if f.max != nil && v > *f.max {
		return 0, fmt.Errorf("%v is above max %v", v, *f.max)
	}
	if f.typ == Bool {
		if v != 0 && v != 1 {
			return 0, fmt.Errorf("%v is not a bool: use true/false or 1/0", v)
		}
		return v, nil
	}
	raw := (v - f.offset) / f.scale
	if lo, hi, ok := f.typ.integer(); ok {
		r := roundRaw(raw)
		if r < lo || r > hi {
			return 0, fmt.Errorf("%v does not fit a %s after scale %v and offset %v (raw %v, range %.0f..%.0f)", v, f.typ, f.scale, f.offset, r, lo, hi)
		}
		return r, nil
	}
	if f.typ == Float32 && math.Abs(raw) > math.MaxFloat32 {
		return 0, fmt.Errorf("%v does not fit a float32", v)
	}
	return raw, nil
}

// roundRaw rounds to the nearest whole raw value: 42.5 at scale 0.1 is
// 424.99999999999994 before rounding, and means 425.
func roundRaw(v float64) float64 { return math.Round(v) }

// didYouMean suggests the closest of choices to s, or "".
func didYouMean(s string, choices []string) string {
	best, dist := "", 3
	for _, c := range choices {
		if d := editdist.Distance(strings.ToLower(s), strings.ToLower(c)); d < dist {
			best, dist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}
