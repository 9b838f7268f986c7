package waveform

import (
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Unix(0, 0)

func TestShapesGiveExpectedValues(t *testing.T) {
	const period = 10 * time.Minute
	tests := []struct {
		name string
		cfg  Config
		at   time.Duration
		want float64
	}{
		{"sine starts at midpoint", Config{Shape: Sine, Min: 18, Max: 26, Period: period}, 0, 22},
		{"sine peaks at a quarter", Config{Shape: Sine, Min: 18, Max: 26, Period: period}, period / 4, 26},
		{"sine troughs at three quarters", Config{Shape: Sine, Min: 18, Max: 26, Period: period}, 3 * period / 4, 18},
		{"sine repeats every period", Config{Shape: Sine, Min: 18, Max: 26, Period: period}, period + period/4, 26},
		{"default shape is sine", Config{Min: 0, Max: 2, Period: period}, period / 4, 2},
		{"square high in first half", Config{Shape: Square, Min: 0, Max: 1, Period: period}, period / 10, 1},
		{"square low in second half", Config{Shape: Square, Min: 0, Max: 1, Period: period}, 6 * period / 10, 0},
		{"constant is min", Config{Shape: Constant, Min: 3.5, Max: 3.5}, 12345 * time.Second, 3.5},
		{"seed shifts phase", Config{Shape: Sine, Min: -1, Max: 1, Period: period, Seed: 250}, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.At(t0.Add(tc.at)); math.Abs(got-tc.want) > 1e-9 {
				t.Fatalf("At(%s) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestRandomWalkIsDeterministicBoundedAndSeeded(t *testing.T) {
	cfg := Config{Shape: RandomWalk, Min: 10, Max: 20, Period: time.Second, Seed: 7}
	a, _ := New(cfg)
	b, _ := New(cfg)
	cfg.Seed = 8
	other, _ := New(cfg)
	differs := false
	prev := math.NaN()
	moved := 0
	for i := 0; i < 500; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		v := a.At(at)
		if v < 10 || v > 20 {
			t.Fatalf("step %d: %v outside [10,20]", i, v)
		}
		if v != b.At(at) {
			t.Fatalf("step %d: same seed gave %v and %v", i, v, b.At(at))
		}
		if v != other.At(at) {
			differs = true
		}
		if v != prev {
			moved++
		}
		// Within one step the value holds.
		if a.At(at.Add(500*time.Millisecond)) != v {
			t.Fatalf("step %d: value changed within a step", i)
		}
		prev = v
	}
	if !differs {
		t.Fatal("seeds 7 and 8 gave identical walks")
	}
	if moved < 400 {
		t.Fatalf("walk moved on only %d of 500 steps", moved)
	}
}

func TestValidateNamesTheProblem(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{Shape: "triangle"}, `"triangle" is not a waveform, use one of sine, square, random_walk, constant`},
		{Config{Min: 5, Max: 1}, "max (1) is below min (5)"},
		{Config{Period: -time.Second}, "period -1s is negative"},
		{Config{Min: math.NaN()}, "finite"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
