package sim

import (
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
)

func pinBoard(t *testing.T, opts ...Option) (*Board, *clock) {
	t.Helper()
	c := &clock{t: t0}
	b, err := New(Config{Pins: []PinConfig{
		{Name: "GPIO4"},
		{Name: "GPIO17", Signal: &Signal{Waveform: "square", Min: 0, Max: 1, Period: 2 * time.Second}},
		{Name: "GPIO27"},
	}}, append([]Option{WithClock(c.now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

func mustPin(t *testing.T, b *Board, name string) *Pin {
	t.Helper()
	p, err := b.Pin(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPinIdentity(t *testing.T) {
	b, _ := pinBoard(t)
	tests := []struct {
		name string
		num  int
		pull gpio.Pull
	}{
		{"GPIO4", 4, gpio.PullUp},
		{"GPIO17", 17, gpio.PullDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPin(t, b, tt.name)
			if p.Name() != tt.name || p.String() != tt.name || p.Number() != tt.num {
				t.Fatalf("name %q string %q number %d", p.Name(), p.String(), p.Number())
			}
			if p.DefaultPull() != tt.pull || p.Pull() != tt.pull || p.Func() != gpio.IN || p.Function() != "IN" {
				t.Fatalf("default pull %s, pull %s, func %s", p.DefaultPull(), p.Pull(), p.Func())
			}
		})
	}
}

func TestPinInputLevel(t *testing.T) {
	tests := []struct {
		name string
		pin  string
		do   func(p *Pin, c *clock)
		want gpio.Level
	}{
		{"pull-down by default", "GPIO27", func(*Pin, *clock) {}, gpio.Low},
		{"pull-up by default", "GPIO4", func(*Pin, *clock) {}, gpio.High},
		{"pull-up set", "GPIO27", func(p *Pin, _ *clock) { _ = p.In(gpio.PullUp, gpio.NoEdge) }, gpio.High},
		{"SetLevel beats pull", "GPIO4", func(p *Pin, _ *clock) { p.SetLevel(gpio.Low) }, gpio.Low},
		{"ClearLevel restores pull", "GPIO4", func(p *Pin, _ *clock) { p.SetLevel(gpio.Low); p.ClearLevel() }, gpio.High},
		{"signal high in first half", "GPIO17", func(*Pin, *clock) {}, gpio.High},
		{"signal low in second half", "GPIO17", func(_ *Pin, c *clock) { c.advance(time.Second) }, gpio.Low},
		{"SetLevel beats signal", "GPIO17", func(p *Pin, _ *clock) { p.SetLevel(gpio.Low) }, gpio.Low},
		{"signal ignores pull", "GPIO17", func(p *Pin, c *clock) { _ = p.In(gpio.PullUp, gpio.NoEdge); c.advance(time.Second) }, gpio.Low},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, c := pinBoard(t)
			p := mustPin(t, b, tt.pin)
			tt.do(p, c)
			if got := p.Read(); got != tt.want {
				t.Fatalf("Read() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPinEdges(t *testing.T) {
	tests := []struct {
		name   string
		edge   gpio.Edge
		levels []gpio.Level // set in turn, starting from Low
		want   bool
	}{
		{"rising sees rising", gpio.RisingEdge, []gpio.Level{gpio.High}, true},
		{"rising ignores falling", gpio.RisingEdge, []gpio.Level{gpio.Low}, false},
		{"falling sees falling", gpio.FallingEdge, []gpio.Level{gpio.High, gpio.Low}, true},
		{"falling ignores rising", gpio.FallingEdge, []gpio.Level{gpio.High}, false},
		{"both sees rising", gpio.BothEdges, []gpio.Level{gpio.High}, true},
		{"same level is no edge", gpio.BothEdges, []gpio.Level{gpio.Low, gpio.Low}, false},
		{"no edges enabled", gpio.NoEdge, []gpio.Level{gpio.High}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := pinBoard(t)
			p := mustPin(t, b, "GPIO27")
			if err := p.In(gpio.PullDown, tt.edge); err != nil {
				t.Fatal(err)
			}
			for _, l := range tt.levels {
				p.SetLevel(l)
			}
			if got := p.WaitForEdge(0); got != tt.want {
				t.Fatalf("WaitForEdge(0) = %t, want %t", got, tt.want)
			}
			if p.WaitForEdge(0) {
				t.Fatal("the edge was reported twice")
			}
		})
	}
}

func TestPinWaitForEdge(t *testing.T) {
	tests := []struct {
		name    string
		during  func(p *Pin, c *clock) // runs 10ms into the wait
		timeout time.Duration
		want    bool
	}{
		{"SetLevel wakes", func(p *Pin, _ *clock) { p.SetLevel(gpio.Low) }, 5 * time.Second, true},
		{"signal edge seen when the clock moves", func(_ *Pin, c *clock) { c.advance(time.Second) }, 5 * time.Second, true},
		{"timeout", func(*Pin, *clock) {}, 30 * time.Millisecond, false},
		{"In while waiting", func(p *Pin, _ *clock) { _ = p.In(gpio.PullDown, gpio.BothEdges) }, 5 * time.Second, false},
		{"Halt while waiting", func(p *Pin, _ *clock) { _ = p.Halt() }, 5 * time.Second, false},
		{"Out while waiting", func(p *Pin, _ *clock) { _ = p.Out(gpio.High) }, 5 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, c := pinBoard(t)
			p := mustPin(t, b, "GPIO17")
			if err := p.In(gpio.PullNoChange, gpio.BothEdges); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				time.Sleep(10 * time.Millisecond)
				tt.during(p, c)
			}()
			start := time.Now()
			got := p.WaitForEdge(tt.timeout)
			<-done
			if got != tt.want {
				t.Fatalf("WaitForEdge = %t, want %t", got, tt.want)
			}
			if took := time.Since(start); took > time.Minute || (!tt.want && tt.name == "timeout" && took < tt.timeout) {
				t.Fatalf("WaitForEdge took %s", took)
			}
		})
	}
}

// TestPinRealClock follows a 40ms square wave on the real clock: each wait
// sees an edge within a half period.
func TestPinRealClock(t *testing.T) {
	b, err := New(Config{Pins: []PinConfig{{Name: "GPIO5", Signal: &Signal{Waveform: "square", Min: 0, Max: 1, Period: 40 * time.Millisecond}}}},
		WithEdgePoll(2*time.Millisecond), WithClock(nil))
	if err != nil {
		t.Fatal(err)
	}
	p := mustPin(t, b, "GPIO5")
	if err := p.In(gpio.PullNoChange, gpio.RisingEdge); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if !p.WaitForEdge(time.Second) {
			t.Fatalf("wait %d: no rising edge within a second", i)
		}
		if p.Read() != gpio.High {
			t.Fatalf("wait %d: low after a rising edge", i)
		}
	}
}

func TestPinOutput(t *testing.T) {
	b, c := pinBoard(t)
	p := mustPin(t, b, "GPIO27")
	steps := []gpio.Level{gpio.Low, gpio.Low, gpio.High, gpio.High, gpio.Low}
	for _, l := range steps {
		if err := p.Out(l); err != nil {
			t.Fatal(err)
		}
		c.advance(time.Second)
	}
	want := []Change{{t0, gpio.Low}, {t0.Add(2 * time.Second), gpio.High}, {t0.Add(4 * time.Second), gpio.Low}}
	got := p.History()
	if len(got) != len(want) {
		t.Fatalf("history %v, want %v", got, want)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Level != want[i].Level {
			t.Fatalf("history[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	if p.Level() != gpio.Low || p.Func() != gpio.OUT {
		t.Fatalf("level %s func %s", p.Level(), p.Func())
	}
	p.SetLevel(gpio.High) // an output reads what it drives
	if p.Read() != gpio.Low {
		t.Fatal("output read its input")
	}
}

func TestPinPWM(t *testing.T) {
	tests := []struct {
		name    string
		duty    gpio.Duty
		freq    physic.Frequency
		wantErr bool
		level   gpio.Level
	}{
		{"half", gpio.DutyHalf, 25 * physic.KiloHertz, false, gpio.High},
		{"quarter", gpio.DutyMax / 4, physic.KiloHertz, false, gpio.Low},
		{"preferred frequency", gpio.DutyMax, 0, false, gpio.High},
		{"duty too high", gpio.DutyMax + 1, physic.KiloHertz, true, gpio.Low},
		{"negative frequency", gpio.DutyHalf, -1, true, gpio.Low},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := pinBoard(t)
			p := mustPin(t, b, "GPIO27")
			err := p.PWM(tt.duty, tt.freq)
			if (err != nil) != tt.wantErr {
				t.Fatalf("PWM: %v", err)
			}
			if err != nil {
				return
			}
			d, f := p.PWMSetting()
			if d != tt.duty || f != tt.freq || p.Func() != gpio.PWM || p.Read() != tt.level {
				t.Fatalf("PWMSetting %s %s, func %s, level %s", d, f, p.Func(), p.Read())
			}
			if err := p.Out(gpio.Low); err != nil {
				t.Fatal(err)
			}
			if d, f := p.PWMSetting(); d != 0 || f != 0 {
				t.Fatalf("PWM still %s %s after Out", d, f)
			}
		})
	}
}

func TestPinSetFunc(t *testing.T) {
	b, _ := pinBoard(t)
	p := mustPin(t, b, "GPIO27")
	if got := p.SupportedFuncs(); len(got) != 3 || got[2] != gpio.PWM {
		t.Fatalf("SupportedFuncs() = %v", got)
	}
	if err := p.SetFunc(gpio.OUT_HIGH); err != nil || p.Func() != gpio.OUT || p.Level() != gpio.High {
		t.Fatalf("OUT_HIGH: %v, func %s, level %s", err, p.Func(), p.Level())
	}
	if err := p.SetFunc(gpio.IN); err != nil || p.Func() != gpio.IN {
		t.Fatalf("IN: %v, func %s", err, p.Func())
	}
	if err := p.SetFunc(gpio.OUT); err != nil || p.Func() != gpio.OUT || p.Level() != gpio.Low {
		t.Fatalf("OUT: %v, func %s, level %s", err, p.Func(), p.Level())
	}
	if err := p.SetFunc(gpio.OUT_LOW); err != nil || p.Level() != gpio.Low {
		t.Fatalf("OUT_LOW: %v, level %s", err, p.Level())
	}
	if err := p.SetFunc("I2C1_SDA"); err == nil {
		t.Fatal("SetFunc accepted an alternate function")
	}
	if err := p.In(gpio.Pull(9), gpio.NoEdge); err == nil {
		t.Fatal("In accepted an invalid pull")
	}
}
