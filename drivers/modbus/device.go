package modbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mb "github.com/simonvetter/modbus"

	"github.com/edged-gateway/edged/reading"
)

// ActionSet is the one action a modbus device accepts: its value is an
// object of writable metrics and the values to write, e.g.
// {"speed_setpoint": 42.5, "run": true}.
const ActionSet = "set"

// Stats counts one device's transactions since it was opened.
type Stats struct {
	Requests         int64 // read and write requests sent
	Exceptions       int64 // exception answers
	Timeouts         int64 // requests with no answer in time
	CRCErrors        int64 // answers with a bad CRC
	ProtocolErrors   int64 // malformed or mismatched answers
	ConnectionErrors int64 // the connection broke or would not open
	InvalidValues    int64 // NaN or infinite floats, not stored
	Splits           int64 // joined reads split after "illegal data address"
	LastError        string
	// Strings holds the last value of each string metric (readings are
	// numbers; names and serial numbers are shown here).
	Strings map[string]string
}

// Device is one Modbus slave. Its methods are safe for concurrent use.
type Device struct {
	name string
	s    settings
	pool *Pool
	bus  *bus
	now  func() time.Time

	requests, exceptions, timeouts, crcErrors, protocolErrors, connErrors, invalid, splits atomic.Int64

	pace atomic.Pointer[pacing] // Reconfigure changes it while the device runs

	mu      sync.Mutex
	blocks  []block
	strs    map[string]string
	lastErr string
	closed  bool
}

// New returns the device called name; it connects on its first read.
// pool shares serial buses between devices; nil gives the device its own.
// now may be nil (time.Now).
func New(name string, cfg Config, pool *Pool, now func() time.Time) (*Device, error) {
	if name == "" {
		return nil, errors.New("modbus: device needs a name")
	}
	s, err := cfg.compile()
	if err != nil {
		return nil, fmt.Errorf("modbus %s: %w", name, err)
	}
	if pool == nil {
		pool = NewPool(nil)
	}
	if now == nil {
		now = time.Now
	}
	b, err := pool.acquire(s, name)
	if err != nil {
		return nil, fmt.Errorf("modbus %s: %w", name, err)
	}
	idx := make([]int, len(s.fields))
	for i := range idx {
		idx[i] = i
	}
	d := &Device{name: name, s: s, pool: pool, bus: b, now: now,
		blocks: plan(s.fields, idx, s.batch, s.maxRegs, s.maxBits, s.maxGap), strs: map[string]string{}}
	d.pace.Store(&pacing{connectDelay: s.connectDelay, requestDelay: s.requestDelay, closeAfter: s.closeAfter})
	return d, nil
}

// pacing is how a device paces its requests: the options Reconfigure
// takes live.
type pacing struct {
	connectDelay, requestDelay time.Duration
	closeAfter                 bool
}

// LiveOptions are the options Reconfigure takes while the device runs
// (without closing its connection): the pacing of its requests. Any other
// change (url, unit, registers, timeout, …) needs the device opened again.
func (d *Device) LiveOptions() []string {
	return []string{"connect_delay", "request_delay", "close_after_poll"}
}

// Reconfigure takes cfg's (a Config) connect_delay, request_delay and
// close_after_poll from the next request on; a cfg that does not check
// leaves the device as it was. The rest of cfg is not looked at: the
// caller reopens the device for any other change.
func (d *Device) Reconfigure(cfg any) error {
	c, ok := cfg.(Config)
	if !ok {
		return fmt.Errorf("modbus %s: reconfigure: options are %T, not modbus.Config", d.name, cfg)
	}
	s, err := c.compile()
	if err != nil {
		return fmt.Errorf("modbus %s: %w", d.name, err)
	}
	d.pace.Store(&pacing{connectDelay: s.connectDelay, requestDelay: s.requestDelay, closeAfter: s.closeAfter})
	return nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// RequestsPerPoll is how many reads one poll sends now.
func (d *Device) RequestsPerPoll() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.blocks)
}

// Close releases the connection (the last device on a bus closes it). It
// is idempotent.
func (d *Device) Close() error {
	d.mu.Lock()
	closed := d.closed
	d.closed = true
	d.mu.Unlock()
	if !closed {
		d.pool.release(d.bus)
	}
	return nil
}

// Stats snapshots the counters.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := Stats{Requests: d.requests.Load(), Exceptions: d.exceptions.Load(), Timeouts: d.timeouts.Load(), CRCErrors: d.crcErrors.Load(),
		ProtocolErrors: d.protocolErrors.Load(), ConnectionErrors: d.connErrors.Load(), InvalidValues: d.invalid.Load(), Splits: d.splits.Load(),
		LastError: d.lastErr, Strings: make(map[string]string, len(d.strs))}
	for k, v := range d.strs {
		st.Strings[k] = v
	}
	return st
}

// Read polls every block of the register map and appends one reading per
// numeric metric. A joined read refused with "illegal data address" is
// split and its metrics read one by one at once. Other exceptions fail the
// poll after the other blocks were tried; a timeout or a broken connection ends it at once, so that a
// silent slave holds a shared bus for one timeout per poll at most.
func (d *Device) Read(ctx context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	d.mu.Lock()
	blocks := slices.Clone(d.blocks)
	d.mu.Unlock()
	var firstErr error
	pace := d.pace.Load()
	for i := 0; i < len(blocks); i++ {
		b := blocks[i]
		if i > 0 && pace.requestDelay > 0 {
			if err := sleep(ctx, pace.requestDelay); err != nil {
				return dst, d.wrap("read", err)
			}
		}
		regs, err := d.readBlock(ctx, b)
		if err != nil {
			var ex *ExceptionError
			if errors.As(err, &ex) && ex.Code == 0x02 && len(b.fields) > 1 {
				// A joined read spanned addresses the device does not
				// have: read its metrics one by one, now and from now on.
				blocks = slices.Insert(blocks, i+1, d.split(b)...)
				continue
			}
			if firstErr == nil {
				firstErr = err
			}
			if ex != nil {
				continue
			}
			break
		}
		dst = d.decode(b, regs, d.now(), dst)
	}
	if pace.closeAfter {
		d.bus.closeIdle(ctx)
	}
	if firstErr != nil {
		return dst, d.wrap("read", firstErr)
	}
	return dst, nil
}

// readBlock sends one read; bits come back as 0/1 registers.
func (d *Device) readBlock(ctx context.Context, b block) ([]uint16, error) {
	var regs []uint16
	err := d.transact(ctx, b.table, b.addr, b.count, func(c *mb.ModbusClient) error {
		var err error
		var bits []bool
		switch b.table {
		case Coil:
			bits, err = c.ReadCoils(b.addr, uint16(b.count))
		case DiscreteInput:
			bits, err = c.ReadDiscreteInputs(b.addr, uint16(b.count))
		case Holding:
			regs, err = c.ReadRegisters(b.addr, uint16(b.count), mb.HOLDING_REGISTER)
		case Input:
			regs, err = c.ReadRegisters(b.addr, uint16(b.count), mb.INPUT_REGISTER)
		}
		for _, bit := range bits {
			regs = append(regs, b2u(bit))
		}
		if err == nil && len(regs) != b.count {
			err = fmt.Errorf("%w: %d values for %d asked", mb.ErrProtocolError, len(regs), b.count)
		}
		return err
	})
	return regs, err
}

// errClosed refuses requests after Close, which gave the bus back.
var errClosed = errors.New("device is closed")

// transact runs one request on the bus and counts its outcome.
func (d *Device) transact(ctx context.Context, t Table, addr uint16, count int, fn func(c *mb.ModbusClient) error) error {
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return errClosed
	}
	sent := false
	err := d.bus.do(ctx, d.s.unit, d.pace.Load().connectDelay, func(c *mb.ModbusClient) error {
		sent = true
		d.requests.Add(1)
		return fn(c)
	})
	if err == nil {
		return nil
	}
	if !sent {
		if ctx.Err() == nil {
			d.connErrors.Add(1)
		}
		d.noteErr(err)
		return err
	}
	switch classify(err) {
	case failException:
		d.exceptions.Add(1)
	case failTimeout:
		d.timeouts.Add(1)
	case failCRC:
		d.crcErrors.Add(1)
	case failProtocol:
		d.protocolErrors.Add(1)
	default:
		d.connErrors.Add(1)
	}
	err = describe(err, t, addr, count, d.s.timeout)
	d.noteErr(err)
	return err
}

func (d *Device) noteErr(err error) {
	d.mu.Lock()
	d.lastErr = err.Error()
	d.mu.Unlock()
}

// split replaces a joined block the slave refused by one read per metric
// and returns those reads.
func (d *Device) split(b block) []block {
	parts := plan(d.s.fields, b.fields, false, d.s.maxRegs, d.s.maxBits, 0)
	d.mu.Lock()
	defer d.mu.Unlock()
	for i, cur := range d.blocks {
		if cur.table == b.table && cur.addr == b.addr && cur.count == b.count {
			d.blocks = slices.Concat(d.blocks[:i:i], parts, d.blocks[i+1:])
			d.splits.Add(1)
			break
		}
	}
	return parts
}

// decode appends the readings of block b's fields from its registers.
func (d *Device) decode(b block, regs []uint16, at time.Time, dst []reading.Reading) []reading.Reading {
	for _, i := range b.fields {
		f := d.s.fields[i]
		off := int(f.addr) - int(b.addr)
		r := regs[off : off+f.count]
		var v float64
		switch {
		case f.typ == String:
			s := DecodeString(f.order, r)
			d.mu.Lock()
			d.strs[f.metric] = s
			d.mu.Unlock()
			continue
		case f.typ == Bool && f.bit >= 0:
			v = float64(r[0] >> f.bit & 1)
		case f.typ == Bool:
			v = float64(b2u(r[0] != 0))
		default:
			raw, err := DecodeValue(f.typ, f.order, r)
			if err != nil || math.IsNaN(raw) || math.IsInf(raw, 0) {
				d.invalid.Add(1)
				continue
			}
			v = raw*f.scale + f.offset
		}
		dst = append(dst, reading.Reading{Device: d.name, Metric: f.metric, Value: v, Unit: f.unit, Time: at})
	}
	return dst
}

// Writable reports whether any metric of the map accepts commands.
func (d *Device) Writable() bool { return d.writable()[0] != "none" }

// Actions lists the actions the device accepts.
func (d *Device) Actions() []string { return []string{ActionSet} }

// write is one checked value to write.
type write struct {
	f   field
	raw float64
}

// Check validates a command without applying it; the error says what is
// allowed.
func (d *Device) Check(action string, value any) error {
	_, err := d.parse(action, value)
	return err
}

// Do validates a command and writes its values, in register map order. A
// failure stops at that value: the ones before it were written.
func (d *Device) Do(ctx context.Context, action string, value any) error {
	ws, err := d.parse(action, value)
	if err != nil {
		return err
	}
	for _, w := range ws {
		if err := d.write(ctx, w); err != nil {
			return d.wrap("set "+w.f.metric, err)
		}
	}
	return nil
}

// Safe writes every configured safe value.
func (d *Device) Safe(ctx context.Context) error {
	var errs []error
	for _, f := range d.s.fields {
		if f.safe == nil {
			continue
		}
		raw, err := f.raw(*f.safe)
		if err == nil {
			err = d.write(ctx, write{f: f, raw: raw})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("safe value %v for %s: %w", *f.safe, f.metric, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return d.wrap("apply safe values", err)
	}
	return nil
}

func (d *Device) write(ctx context.Context, w write) error {
	f := w.f
	return d.transact(ctx, f.table, f.addr, f.count, func(c *mb.ModbusClient) error {
		if f.table == Coil {
			return c.WriteCoil(f.addr, w.raw == 1)
		}
		regs, err := EncodeValue(f.typ, f.order, w.raw)
		if f.typ == Bool {
			regs, err = []uint16{uint16(w.raw)}, nil
		}
		if err != nil {
			return err
		}
		if len(regs) == 1 {
			return c.WriteRegister(f.addr, regs[0])
		}
		return c.WriteRegisters(f.addr, regs)
	})
}

// parse checks a set command: an object of writable metrics and values.
func (d *Device) parse(action string, value any) ([]write, error) {
	if action != ActionSet {
		return nil, fmt.Errorf("action %q not supported, use %s with {\"metric\": value}", action, ActionSet)
	}
	obj, ok := value.(map[string]any)
	if !ok || len(obj) == 0 {
		return nil, fmt.Errorf("value %v not allowed: set takes an object of metrics and values, e.g. {%q: 1}; writable: %s", value, d.writable()[0], strings.Join(d.writable(), ", "))
	}
	var ws []write
	for i, f := range d.s.fields {
		raw, ok := obj[f.metric]
		if !ok {
			continue
		}
		if !f.writable {
			return nil, fmt.Errorf("%s is not writable; writable: %s", f.metric, strings.Join(d.writable(), ", "))
		}
		v, err := number(raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.metric, err)
		}
		r, err := f.raw(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.metric, err)
		}
		ws = append(ws, write{f: d.s.fields[i], raw: r})
	}
	if len(ws) != len(obj) {
		var unknown []string
		for k := range obj {
			if !slices.ContainsFunc(d.s.fields, func(f field) bool { return f.metric == k }) {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		return nil, fmt.Errorf("no metric %s on this device; writable: %s", strings.Join(unknown, ", "), strings.Join(d.writable(), ", "))
	}
	return ws, nil
}

func (d *Device) writable() []string {
	var out []string
	for _, f := range d.s.fields {
		if f.writable {
			out = append(out, f.metric)
		}
	}
	if len(out) == 0 {
		out = []string{"none"}
	}
	return out
}

// number reads a command value: a JSON number, a bool, or a string holding
// either.
func number(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case int:
		return float64(x), nil
	case bool:
		return float64(b2u(x)), nil
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "on":
			return 1, nil
		case "false", "off":
			return 0, nil
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(x), 64); err == nil {
			return f, nil
		}
	}
	return 0, fmt.Errorf("%v is not a number or bool", v)
}

func (d *Device) wrap(op string, err error) error {
	return fmt.Errorf("modbus %s (%s unit %d): %s: %w", d.name, d.s.scheme+"://"+d.s.addr, d.s.unit, op, err)
}

func b2u(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
