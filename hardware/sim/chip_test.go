package sim

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		do         func(f *Faults)
		wantAbsent []bool // admit results in turn
		wantErr    []bool
	}{
		{"none", func(*Faults) {}, []bool{false, false}, []bool{false, false}},
		{"fail two", func(f *Faults) { f.FailNext(2) }, []bool{false, false, false}, []bool{true, true, false}},
		{"cancel", func(f *Faults) { f.FailNext(2); f.FailNext(0) }, []bool{false}, []bool{false}},
		{"negative cancels", func(f *Faults) { f.FailNext(2); f.FailNext(-1) }, []bool{false}, []bool{false}},
		{"absent wins and keeps faults", func(f *Faults) { f.FailNext(1); f.SetAbsent(true) }, []bool{true, true}, []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f Faults
			tt.do(&f)
			for i := range tt.wantAbsent {
				absent, err := f.admit()
				if absent != tt.wantAbsent[i] || (err != nil) != tt.wantErr[i] {
					t.Fatalf("admit %d = %t, %v; want %t, error %t", i, absent, err, tt.wantAbsent[i], tt.wantErr[i])
				}
				if err != nil && !errors.Is(err, ErrInjected) {
					t.Fatalf("admit %d error %v is not ErrInjected", i, err)
				}
			}
			if f.Absent() != tt.wantAbsent[0] {
				t.Fatalf("Absent() = %t", f.Absent())
			}
		})
	}
}

func TestInputs(t *testing.T) {
	b, _ := newBoard(t, Config{})
	tests := []struct {
		bus        string
		addr       uint16
		quantities string
		q          string
		want       float64 // at t0, with the chip's index as seed
	}{
		{"i2c1", 0x76, "temperature pressure humidity", "pressure", 1013},
		{"i2c1", 0x48, "ch0 ch1 ch2 ch3", "ch1", 1.65},
		{"i2c1", 0x44, "temperature humidity", "temperature", 21 + 2*math.Sin(2*math.Pi*0.002)},
		{"spi0.0", 0, "ch0 ch1 ch2 ch3 ch4 ch5 ch6 ch7", "ch0", 1.65 + 1.65*math.Sin(2*math.Pi*0.003)},
		{"spi0.1", 0, "temperature pressure humidity", "temperature", 21 + 3*math.Sin(2*math.Pi*0.004)},
	}
	for _, tt := range tests {
		t.Run(tt.bus+"/"+tt.q, func(t *testing.T) {
			c, err := b.Chip(tt.bus, tt.addr)
			if err != nil {
				t.Fatal(err)
			}
			in := c.(interface {
				Quantities() []string
				Value(string, time.Time) (float64, bool)
			})
			if got := strings.Join(in.Quantities(), " "); got != tt.quantities {
				t.Fatalf("Quantities() = %s", got)
			}
			v, ok := in.Value(tt.q, t0)
			if !ok || math.Abs(v-tt.want) > 1e-9 {
				t.Fatalf("Value(%s) = %g, %t; want %g", tt.q, v, ok, tt.want)
			}
			if _, ok := in.Value("voltage", t0); ok {
				t.Fatal("Value of an unknown quantity")
			}
		})
	}
}
