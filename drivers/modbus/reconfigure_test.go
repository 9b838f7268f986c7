package modbus_test

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edged-gateway/edged/drivers/modbus"
	"github.com/edged-gateway/edged/drivers/modbus/modbussim"
)

// countingProxy forwards TCP connections to target and counts them.
func countingProxy(t *testing.T, target string) (addr string, accepts *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepts = new(atomic.Int64)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(up, c); up.Close() }()
			go func() { defer wg.Done(); io.Copy(c, up); c.Close() }()
		}
	}()
	return ln.Addr().String(), accepts
}

// TestReconfigureTakesThePacingLive: close_after_poll switched on with
// Reconfigure closes the connection after each poll from then on (one new
// connection per poll), without reopening the device; switched off again,
// polls share one connection. A config that does not check is refused.
func TestReconfigureTakesThePacingLive(t *testing.T) {
	sim, err := modbussim.New("sim", modbussim.Config{Listen: "127.0.0.1:0"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	addr, accepts := countingProxy(t, sim.Addr())
	zero := 0
	cfg := modbus.Config{URL: "tcp://" + addr, Registers: []modbus.Register{{Metric: "voltage", Table: "input", Address: &zero, Type: "float32"}}}
	d, err := modbus.New("meter", cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	poll := func(n int) {
		t.Helper()
		for range n {
			if rs, err := d.Read(context.Background(), nil); err != nil || len(rs) != 1 {
				t.Fatalf("read: %v %v", rs, err)
			}
		}
	}
	poll(3)
	if n := accepts.Load(); n != 1 {
		t.Fatalf("%d connections for 3 polls, want 1", n)
	}
	cfg.CloseAfterPoll = true
	if err := d.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	poll(3) // the first uses the open connection, then closes it; each next one opens its own
	if n := accepts.Load(); n != 3 {
		t.Fatalf("%d connections after 3 polls with close_after_poll, want 3", n)
	}
	cfg.CloseAfterPoll = false
	if err := d.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	poll(3)
	if n := accepts.Load(); n != 4 {
		t.Fatalf("%d connections after 3 polls with close_after_poll off again, want 4", n)
	}
	bad := cfg
	bad.RequestDelay = -1
	if err := d.Reconfigure(bad); err == nil {
		t.Fatal("a negative request_delay was taken")
	}
	if err := d.Reconfigure("nope"); err == nil {
		t.Fatal("options that are not a modbus.Config were taken")
	}
}
