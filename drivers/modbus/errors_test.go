package modbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	mb "github.com/simonvetter/modbus"
)

func TestClassifyAndDescribe(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want failure
		text string
	}{
		{mb.ErrIllegalDataAddress, failException, "exception 0x02 illegal data address at holding 40011 (address 10, 2 registers)"},
		{mb.ErrServerDeviceBusy, failException, "exception 0x06 server device busy"},
		{mb.ErrGWTargetFailedToRespond, failException, "exception 0x0b gateway target device failed to respond"},
		{mb.ErrRequestTimedOut, failTimeout, "no answer within 1s at holding 40011"},
		{mb.ErrBadCRC, failCRC, "CRC error in the answer for holding 40011"},
		{mb.ErrShortFrame, failProtocol, "malformed answer"},
		{mb.ErrBadUnitId, failProtocol, "malformed answer"},
		{fmt.Errorf("read: %w", io.EOF), failConnection, "connection lost at holding 40011"},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %d, want %d", tc.err, got, tc.want)
		}
		if d := describe(tc.err, Holding, 10, 2, time.Second); !strings.Contains(d.Error(), tc.text) {
			t.Errorf("describe(%v) = %q, want %q", tc.err, d, tc.text)
		}
	}
}

// TestSilentSlaveOverTCPTimesOutAndRecovers: pymodbus drops requests for a
// muted unit; the driver counts timeouts, reopens the connection (a late
// answer must not be taken for the next one's) and reads again on unmute.
func TestSilentSlaveOverTCPTimesOutAndRecovers(t *testing.T) {
	srv := startSlave(t, "tcp")
	srv.set(1, "hr", 0, 42)
	d := open(t, Config{URL: tcpURL(srv), Timeout: 200 * time.Millisecond, ReconnectMin: 10 * time.Millisecond,
		Registers: []Register{{Metric: "v", Table: "holding", Address: ip(0)}}}, nil)
	read(t, d)
	srv.do("mute 1")
	_, err := d.Read(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms at holding 40001") || !errors.Is(err, mb.ErrRequestTimedOut) {
		t.Fatalf("read from a muted unit: %v", err)
	}
	if st := d.Stats(); st.Timeouts != 1 {
		t.Fatalf("stats %+v", st)
	}
	srv.do("unmute 1")
	waitFor(t, "a read after unmute", func() bool {
		rs, err := d.Read(context.Background(), nil)
		return err == nil && rs[0].Value == 42
	})
}

// TestFIFOGrantsTurnsInOrder: waiters get the lock in the order they
// asked, and one whose context ends leaves the queue.
func TestFIFOGrantsTurnsInOrder(t *testing.T) {
	var f fifo
	if err := f.lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	queued := func(n int) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.waiters) == n
	}
	for i := range 3 {
		go func() {
			if err := f.lock(context.Background()); err == nil {
				order <- i
				f.unlock()
			}
		}()
		waitFor(t, "waiter queued", func() bool { return queued(i + 1) })
	}
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error)
	go func() { gone <- f.lock(ctx) }()
	waitFor(t, "fourth waiter queued", func() bool { return queued(4) })
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) || !queued(3) {
		t.Fatalf("cancelled waiter: %v, queue %d", err, len(f.waiters))
	}
	f.unlock()
	for want := range 3 {
		if got := <-order; got != want {
			t.Fatalf("turn %d went to waiter %d", want, got)
		}
	}
}
