package modbus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/commands"
)

func ip(v int) *int { return &v }

func fp(v float64) *float64 { return &v }

func open(t *testing.T, cfg Config, pool *Pool) *Device {
	t.Helper()
	d, err := New("dev", cfg, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func read(t *testing.T, d *Device) map[string]reading.Reading {
	t.Helper()
	rs, err := d.Read(context.Background(), nil)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	out := map[string]reading.Reading{}
	for _, r := range rs {
		out[r.Metric] = r
	}
	return out
}

func tcpURL(s *slave) string { return fmt.Sprintf("tcp://127.0.0.1:%d", s.port) }

// TestEveryTypeAndOrderAgainstPymodbus writes each numeric type in each of
// the four orders into pymodbus's datastore, laid out by hand (permute),
// and reads them all back through the driver in one device.
func TestEveryTypeAndOrderAgainstPymodbus(t *testing.T) {
	srv := startSlave(t, "tcp")
	cfg := Config{URL: tcpURL(srv)}
	want := map[string]float64{}
	addr := 0
	for _, typ := range []Type{Int16, Uint16, Int32, Uint32, Float32, Int64, Uint64, Float64} {
		for _, order := range []string{"ABCD", "DCBA", "BADC", "CDAB"} {
			v := typeValues[typ]
			layout := order
			if typ.registers() == 1 { // one register: only the byte order counts
				layout = map[string]string{"ABCD": "ABCD", "CDAB": "ABCD", "BADC": "BADC", "DCBA": "BADC"}[order]
			}
			srv.set(1, "hr", addr, permute(bigEndian(typ, v), layout)...)
			metric := fmt.Sprintf("%s_%s", typ, order)
			cfg.Registers = append(cfg.Registers, Register{Metric: metric, Table: "holding", Address: ip(addr), Type: string(typ), ByteOrder: order})
			want[metric] = v
			addr += typ.registers()
		}
	}
	// byte and word order given separately
	srv.set(1, "ir", 0, permute(bigEndian(Int32, -7654321), "DCBA")...)
	cfg.Registers = append(cfg.Registers, Register{Metric: "split_order", Table: "input", Address: ip(0), Type: "int32", ByteOrder: "little", WordOrder: "little"})
	want["split_order"] = -7654321
	// scale, offset, bits, coils, discrete inputs, a string
	srv.set(1, "ir", 10, 2315)
	cfg.Registers = append(cfg.Registers, Register{Metric: "temp", Table: "input", Address: ip(10), Type: "int16", Scale: fp(0.1), Offset: -200, Unit: "C"})
	want["temp"] = 2315*0.1 - 200
	srv.set(1, "ir", 11, 0b1000_0000_0000_0100)
	cfg.Registers = append(cfg.Registers,
		Register{Metric: "bit2", Table: "input", Address: ip(11), Bit: ip(2)},
		Register{Metric: "bit3", Table: "input", Address: ip(11), Bit: ip(3)},
		Register{Metric: "bit15", Table: "input", Address: ip(11), Bit: ip(15)})
	want["bit2"], want["bit3"], want["bit15"] = 1, 0, 1
	srv.set(1, "co", 3, 1)
	srv.set(1, "di", 7, 1, 0)
	cfg.Registers = append(cfg.Registers,
		Register{Metric: "coil3", Table: "coil", Address: ip(3)},
		Register{Metric: "di7", Table: "discrete_input", Address: ip(7)},
		Register{Metric: "di8", Table: "discrete_input", Address: ip(8)})
	want["coil3"], want["di7"], want["di8"] = 1, 1, 0
	srv.set(1, "ir", 20, 'E'<<8|'M', '-'<<8|'4', '2'<<8|0)
	cfg.Registers = append(cfg.Registers, Register{Metric: "model", Table: "input", Address: ip(20), Type: "string", Length: 3})

	d := open(t, cfg, nil)
	got := read(t, d)
	for m, v := range want {
		if r, ok := got[m]; !ok || r.Value != v {
			t.Errorf("%s = %v (present %v), want %v", m, r.Value, ok, v)
		}
	}
	if got["temp"].Unit != "C" {
		t.Errorf("unit = %q", got["temp"].Unit)
	}
	if s := d.Stats().Strings["model"]; s != "EM-42" {
		t.Errorf("string model = %q", s)
	}
	if len(got) != len(want) {
		t.Errorf("%d readings, want %d", len(got), len(want))
	}
}

// TestBatchingCountedAtTheServer counts the requests pymodbus answered for
// one poll of 40 registers spread over 80 addresses.
func TestBatchingCountedAtTheServer(t *testing.T) {
	srv := startSlave(t, "tcp")
	var regs []Register
	for i := range 40 {
		regs = append(regs, Register{Metric: fmt.Sprint("r", i), Table: "holding", Address: ip(2 * i)})
	}
	off := false
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"batched", Config{Registers: regs}, 1},
		{"max_registers 10", Config{Registers: regs, MaxRegisters: 10}, 8},
		{"max_gap 0", Config{Registers: regs, MaxGap: ip(0)}, 40},
		{"batch off", Config{Registers: regs, Batch: &off}, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.URL = tcpURL(srv)
			d := open(t, tc.cfg, nil)
			before := srv.count(1)
			if got := read(t, d); len(got) != 40 {
				t.Fatalf("%d readings", len(got))
			}
			if n := srv.count(1) - before; n != tc.want || d.RequestsPerPoll() != tc.want {
				t.Fatalf("server answered %d requests (plan %d), want %d", n, d.RequestsPerPoll(), tc.want)
			}
		})
	}
}

func TestExceptionIsCountedAndNamed(t *testing.T) {
	srv := startSlave(t, "tcp")
	d := open(t, Config{URL: tcpURL(srv), Registers: []Register{
		{Metric: "ok", Table: "holding", Address: ip(0)},
		{Metric: "missing", Table: "holding", Address: ip(1200), Type: "float32"},
	}}, nil)
	_, err := d.Read(context.Background(), nil)
	var ex *ExceptionError
	if !errors.As(err, &ex) || ex.Code != 2 {
		t.Fatalf("Read error = %v, want an exception 0x02", err)
	}
	for _, want := range []string{"modbus dev (tcp://127.0.0.1:", "unit 1", "exception 0x02 illegal data address at holding 41201 (address 1200, 2 registers)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if st := d.Stats(); st.Exceptions != 1 || st.Requests != 2 || !strings.Contains(st.LastError, "exception 0x02") {
		t.Fatalf("stats = %+v", st)
	}
}

// TestJoinedReadSplitAfterIllegalAddress: a device with a hole in its map
// refuses the read that spans it; the driver splits it, reads the metrics
// one by one in the same poll, and keeps them split.
func TestJoinedReadSplitAfterIllegalAddress(t *testing.T) {
	srv := startSlave(t, "tcp", "--sparse", "1")
	srv.set(1, "hr", 99, 11)
	srv.set(1, "hr", 200, 22)
	d := open(t, Config{URL: tcpURL(srv), MaxGap: ip(124), Registers: []Register{
		{Metric: "a", Table: "holding", Address: ip(99)},
		{Metric: "b", Table: "holding", Address: ip(200)},
	}}, nil)
	if d.RequestsPerPoll() != 1 {
		t.Fatalf("plan: %d requests", d.RequestsPerPoll())
	}
	for poll := range 2 {
		before := srv.count(1)
		got := read(t, d)
		if got["a"].Value != 11 || got["b"].Value != 22 || d.RequestsPerPoll() != 2 || d.Stats().Splits != 1 {
			t.Fatalf("poll %d: %v, plan %d, stats %+v", poll, got, d.RequestsPerPoll(), d.Stats())
		}
		if n, want := srv.count(1)-before, 3-poll; n != want { // the refused joined read, then two
			t.Fatalf("poll %d sent %d requests, want %d", poll, n, want)
		}
	}
	if st := d.Stats(); st.Exceptions != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWritesCheckedIdempotentAndSeenByMbpoll sends commands through the
// same executor MQTT, the API and the CLI use, and reads the result with
// mbpoll as a second master.
func TestWritesCheckedIdempotentAndSeenByMbpoll(t *testing.T) {
	srv := startSlave(t, "tcp")
	d := open(t, Config{URL: tcpURL(srv), Registers: []Register{
		{Metric: "setpoint", Table: "holding", Address: ip(10), Type: "float32", Writable: true, Min: fp(0), Max: fp(60), Safe: fp(0)},
		{Metric: "speed", Table: "holding", Address: ip(20), Type: "int16", Scale: fp(0.1), Writable: true, Min: fp(-100), Max: fp(100)},
		{Metric: "big", Table: "holding", Address: ip(30), Type: "uint32", ByteOrder: "CDAB", Writable: true},
		{Metric: "run", Table: "coil", Address: ip(5), Writable: true, Safe: fp(0)},
		{Metric: "volts", Table: "input", Address: ip(0)},
	}}, nil)
	exec := commands.New(map[string]commands.Actuator{"dev": d}, commands.Config{})
	run := func(id string, value any) commands.Result {
		return exec.Run(context.Background(), "dev", commands.Command{ID: id, Action: "set", Value: value})
	}
	before := srv.count(1)
	if r := run("c1", map[string]any{"setpoint": 42.5, "speed": -12.3, "big": 70000.0, "run": true}); !r.OK {
		t.Fatalf("c1: %+v", r)
	}
	if n := srv.count(1) - before; n != 4 {
		t.Fatalf("c1 sent %d requests, want 4", n)
	}
	if r := run("c1", map[string]any{"setpoint": 42.5}); !r.OK || srv.count(1)-before != 4 {
		t.Fatalf("c1 again: %+v, requests %d: a redelivered id must not write again", r, srv.count(1)-before)
	}
	if v := mbpoll(t, srv.port, "-t", "4:float", "-B", "-r", "10", "-c", "1"); len(v) != 1 || v[0] != "42.5" {
		t.Fatalf("mbpoll setpoint = %v", v)
	}
	if v := mbpoll(t, srv.port, "-t", "4", "-r", "20", "-c", "1"); len(v) != 1 || v[0] != "65413" { // mbpoll shows 16-bit registers unsigned: -123
		t.Fatalf("mbpoll speed = %v", v)
	}
	if v := mbpoll(t, srv.port, "-t", "4:int", "-r", "30", "-c", "1"); len(v) != 1 || v[0] != "70000" { // mbpoll's default word order is low word first
		t.Fatalf("mbpoll big = %v", v)
	}
	if v := mbpoll(t, srv.port, "-t", "0", "-r", "5", "-c", "1"); len(v) != 1 || v[0] != "1" {
		t.Fatalf("mbpoll run = %v", v)
	}
	for _, tc := range []struct {
		value any
		want  string
	}{
		{map[string]any{"setpoint": 61.0}, "setpoint: 61 is above max 60"},
		{map[string]any{"speed": 100.5}, "above max 100"},
		{map[string]any{"big": -1.0}, "does not fit a uint32"},
		{map[string]any{"volts": 1.0}, "volts is not writable; writable: setpoint, speed, big, run"},
		{map[string]any{"nope": 1.0}, "no metric nope"},
		{map[string]any{"run": "maybe"}, "not a number or bool"},
		{42.0, "set takes an object"},
	} {
		if r := run(fmt.Sprint("bad", tc.want), tc.value); r.OK || !strings.Contains(r.Error, tc.want) {
			t.Errorf("%v: %+v, want error %q", tc.value, r, tc.want)
		}
	}
	if err := d.Check("toggle", nil); err == nil {
		t.Error("Check(toggle) = nil")
	}
	if err := d.Safe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := srv.get(1, "hr", 10, 2); v[0] != 0 || v[1] != 0 {
		t.Fatalf("safe setpoint registers = %v", v)
	}
	if v := srv.get(1, "co", 5, 1); v[0] != 0 {
		t.Fatalf("safe run coil = %v", v)
	}
}

// TestKill9MidTransaction kills the slave while a reader polls it, brings
// it back on the same port, and waits for the device to reconnect.
func TestKill9MidTransaction(t *testing.T) {
	srv := startSlave(t, "tcp")
	srv.set(1, "hr", 0, 7)
	d := open(t, Config{URL: tcpURL(srv), Timeout: 500 * time.Millisecond, ReconnectMin: 20 * time.Millisecond, ReconnectMax: 200 * time.Millisecond,
		Registers: []Register{{Metric: "v", Table: "holding", Address: ip(0)}}}, nil)
	var ok, failed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if rs, err := d.Read(ctx, nil); err == nil && len(rs) == 1 && rs[0].Value == 7 {
				ok.Add(1)
			} else if err != nil {
				failed.Add(1)
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, "reads before the kill", func() bool { return ok.Load() >= 20 })
	srv.kill()
	waitFor(t, "a failed read after kill -9", func() bool { return failed.Load() > 0 })
	srv.start() // same port
	srv.set(1, "hr", 0, 7)
	after := ok.Load()
	waitFor(t, "reads after the slave came back", func() bool { return ok.Load() >= after+20 })
	if st := d.Stats(); st.ConnectionErrors == 0 {
		t.Fatalf("stats = %+v: the lost connection was not counted", st)
	}
}

func TestRTUOverTCP(t *testing.T) {
	srv := startSlave(t, "rtuovertcp", "--units", "5")
	srv.set(5, "ir", 4, permute(bigEndian(Float32, 230.5), "CDAB")...)
	d := open(t, Config{URL: fmt.Sprintf("rtuovertcp://127.0.0.1:%d", srv.port), Unit: ip(5),
		Registers: []Register{{Metric: "v", Table: "input", Address: ip(4), Type: "float32", ByteOrder: "CDAB", Unit: "V"}}}, nil)
	if got := read(t, d); got["v"].Value != 230.5 {
		t.Fatalf("rtuovertcp read %v", got)
	}
}

// TestSharedRTUBusSurvivesASilentSlave puts three slaves on one virtual
// RS-485 bus (a socat pty pair); when one stops answering, the other two
// keep getting a turn between each of its timeouts.
func TestSharedRTUBusSurvivesASilentSlave(t *testing.T) {
	a, b := ptyPair(t)
	srv := startSlave(t, "rtu", a, "--baud", "38400", "--units", "1,2,3")
	pool := NewPool(nil)
	devs := map[int]*Device{}
	for unit := 1; unit <= 3; unit++ {
		srv.set(unit, "hr", 0, uint16(100*unit), uint16(unit))
		d, err := New(fmt.Sprint("slave", unit), Config{URL: "rtu://" + b, Baud: 38400, Unit: ip(unit), Timeout: 300 * time.Millisecond,
			Registers: []Register{{Metric: "v", Table: "holding", Address: ip(0), Type: "uint32"}}}, pool, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		devs[unit] = d
	}
	for unit, d := range devs {
		if got := read(t, d); got["v"].Value != float64(100*unit<<16+unit) {
			t.Fatalf("unit %d read %v", unit, got)
		}
	}
	if _, err := New("other", Config{URL: "rtu://" + b, Baud: 9600, Registers: []Register{{Metric: "v", Table: "holding", Address: ip(0)}}}, pool, nil); err == nil ||
		!strings.Contains(err.Error(), "need the same baud") {
		t.Fatalf("a second baud rate on one port: %v", err)
	}
	srv.do("mute 2")
	var oks [4]atomic.Int64
	var attempts [4]atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for unit, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				attempts[unit].Add(1)
				if _, err := d.Read(ctx, nil); err == nil {
					oks[unit].Add(1)
				}
			}
		}()
	}
	waitFor(t, "10 reads each of units 1 and 3 while unit 2 is silent", func() bool { return oks[1].Load() >= 10 && oks[3].Load() >= 10 })
	cancel()
	wg.Wait()
	if oks[2].Load() != 0 || devs[2].Stats().Timeouts == 0 {
		t.Fatalf("silent unit 2: %d reads, stats %+v", oks[2].Load(), devs[2].Stats())
	}
	// FIFO turns: unit 2's timeouts cannot crowd out unit 1.
	if n, m := attempts[2].Load(), oks[1].Load(); n > m+3 {
		t.Fatalf("unit 2 had %d turns while unit 1 had %d: the bus is not shared fairly", n, m)
	}
	for _, unit := range []int{1, 3} {
		if st := devs[unit].Stats(); st.Timeouts != 0 || st.ConnectionErrors != 0 {
			t.Fatalf("unit %d stats %+v", unit, st)
		}
	}
	srv.do("unmute 2")
	waitFor(t, "unit 2 answering again", func() bool { _, err := devs[2].Read(context.Background(), nil); return err == nil })
}

func TestCloseIsIdempotentAndReleasesTheBus(t *testing.T) {
	pool := NewPool(nil)
	cfg := Config{URL: "rtu:///dev/null-modbus", Registers: []Register{{Metric: "v", Table: "holding", Address: ip(0)}}}
	d1, err := New("a", cfg, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := New("b", cfg, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d1.bus != d2.bus {
		t.Fatal("two devices on one rtu port got two buses")
	}
	_, err = d1.Read(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "/dev/null-modbus") {
		t.Fatalf("read from a missing port: %v", err)
	}
	if st := d1.Stats(); st.ConnectionErrors != 1 {
		t.Fatalf("stats %+v", st)
	}
	_, err = d1.Read(context.Background(), nil)
	if !errors.Is(err, errBackoff) {
		t.Fatalf("second read within the backoff: %v", err)
	}
	d1.Close()
	d1.Close()
	d2.Close()
	if len(pool.buses) != 0 {
		t.Fatalf("pool still holds %v", pool.buses)
	}
	if _, err := d1.Read(context.Background(), nil); !errors.Is(err, errClosed) {
		t.Fatalf("read after Close: %v", err)
	}
}

// TestRTUSlaveKilledMidPolling kills the RTU slave process with SIGKILL
// while the master polls over the virtual serial pair, restarts it, and
// waits for the readings to come back on the same open port.
func TestRTUSlaveKilledMidPolling(t *testing.T) {
	a, b := ptyPair(t)
	srv := startSlave(t, "rtu", a, "--baud", "38400", "--units", "7")
	srv.set(7, "ir", 3, 1234)
	d := open(t, Config{URL: "rtu://" + b, Baud: 38400, Unit: ip(7), Timeout: 200 * time.Millisecond,
		Registers: []Register{{Metric: "v", Table: "input", Address: ip(3)}}}, nil)
	var ok, failed atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			if rs, err := d.Read(ctx, nil); err == nil && len(rs) == 1 && rs[0].Value == 1234 {
				ok.Add(1)
			} else if err != nil {
				failed.Add(1)
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	waitFor(t, "reads before the kill", func() bool { return ok.Load() >= 10 })
	srv.kill()
	waitFor(t, "a failed read after kill -9", func() bool { return failed.Load() > 0 })
	srv.start()
	srv.set(7, "ir", 3, 1234)
	after := ok.Load()
	waitFor(t, "reads after the slave came back", func() bool { return ok.Load() >= after+10 })
	if st := d.Stats(); st.Timeouts+st.CRCErrors+st.ProtocolErrors == 0 {
		t.Fatalf("stats %+v: the silence was not counted", st)
	}
}
