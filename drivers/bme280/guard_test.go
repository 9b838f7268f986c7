package bme280

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGuard(t *testing.T) {
	ok := func() error { return nil }
	busErr := errors.New("i2c: remote I/O error")
	tests := []struct {
		name string
		run  func(g *guard) error
		want error // what the last tx returns
		// paced is how many pauses the guard took.
		paced int
	}{
		{name: "first status poll is not paced", run: func(g *guard) error {
			return g.tx(regStatus, []byte{0}, ok)
		}},
		{name: "later status polls are", paced: 2, run: func(g *guard) error {
			for range 2 {
				if err := g.tx(regStatus, []byte{0}, ok); err != nil {
					return err
				}
			}
			return g.tx(regStatus, []byte{0}, ok)
		}},
		{name: "other registers are not", run: func(g *guard) error {
			g.tx(0xD0, []byte{0}, ok)
			g.tx(0, nil, ok)
			return g.tx(0xD0, []byte{0}, ok)
		}},
		{name: "bounded", paced: maxPolls - 1, want: errStillMeasuring, run: func(g *guard) error {
			var err error
			for i := 0; i <= maxPolls && err == nil; i++ {
				err = g.tx(regStatus, []byte{8}, ok)
			}
			return err
		}},
		{name: "cancelled", want: context.Canceled, run: func(g *guard) error {
			g.cancel(g.gen, context.Canceled)
			return g.tx(0xD0, []byte{0}, func() error { panic("a transaction ran after cancel") })
		}},
		{name: "a late cancel of an earlier measurement is ignored", run: func(g *guard) error {
			old := g.gen
			g.begin()
			g.cancel(old, context.Canceled)
			return g.tx(0xD0, []byte{0}, ok)
		}},
		{name: "bus error", want: busErr, run: func(g *guard) error {
			return g.tx(regData, make([]byte, 8), func() error { return busErr })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paced := 0
			g := &guard{sleep: func(d time.Duration) {
				if d != pollInterval {
					t.Errorf("paced %s", d)
				}
				paced++
			}}
			g.begin()
			err := tt.run(g)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("tx = %v, want %v", err, tt.want)
			}
			if tt.want != nil && !errors.Is(g.cause(errors.New("bmxx80's %v")), tt.want) {
				t.Fatalf("cause = %v, want %v", g.cause(nil), tt.want)
			}
			if paced != tt.paced {
				t.Fatalf("paced %d times, want %d", paced, tt.paced)
			}
		})
	}
}

func TestGuardKeepsTheDataBurst(t *testing.T) {
	g := &guard{sleep: func(time.Duration) {}}
	g.begin()
	buf := make([]byte, 8)
	if err := g.tx(regData, buf, func() error { copy(buf, []byte{1, 2, 3, 4, 5, 6, 7, 8}); return nil }); err != nil {
		t.Fatal(err)
	}
	buf[0] = 0xFF // bmxx80 reuses nothing, but the guard must not alias it
	if got := g.data(); string(got) != "\x01\x02\x03\x04\x05\x06\x07\x08" {
		t.Fatalf("data() = % x", got)
	}
	g.begin()
	if got := g.data(); got != nil {
		t.Fatalf("data() after begin = % x", got)
	}
}
