package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"periph.io/x/conn/v3/gpio"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// cpuTime is this process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pollFor runs a daemon from cfg for d and returns reads/s and the CPU it
// used as a share of one core.
func pollFor(b *testing.B, cfg string, d time.Duration) (readsPerSec, cpuShare float64) {
	dmn, stop := startDaemon(b, writeConfigB(b, cfg))
	time.Sleep(time.Second) // settle
	stored := func() (n int64) {
		for _, s := range dmn.devs.current().Poller().Stats() {
			n += s.Reads
		}
		return n
	}
	r0, c0, t0 := stored(), cpuTime(), time.Now()
	time.Sleep(d)
	r1, c1, el := stored(), cpuTime(), time.Since(t0)
	if err := stop(); err != nil {
		b.Fatal(err)
	}
	for _, s := range dmn.devs.current().Poller().Stats() {
		if s.ReadErrors > 0 {
			b.Fatalf("device %s: %d read errors: %s", s.Name, s.ReadErrors, s.LastError)
		}
	}
	return float64(r1-r0) / el.Seconds(), float64(c1-c0) / float64(el)
}

func writeConfigB(b *testing.B, body string) string {
	p := filepath.Join(b.TempDir(), "edged.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkPollLoop measures 100 devices at 10 ms for 5 s: sim waveform
// devices, and real chip drivers (sht3x and ads1115) on 25 simulated I2C
// buses. Reads/s and the whole daemon's CPU as a share of one core (outbox
// commits with fsync included).
func BenchmarkPollLoop(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var sims, chips, board strings.Builder
		for j := 0; j < 100; j++ {
			fmt.Fprintf(&sims, "  - {name: s%03d, kind: sim, interval: 10ms}\n", j)
		}
		for bus := 1; bus <= 25; bus++ {
			for _, c := range []struct {
				kind string
				addr int
			}{{"sht3x", 0x44}, {"sht3x", 0x45}, {"ads1115", 0x48}, {"ads1115", 0x49}} {
				fmt.Fprintf(&board, "      - {kind: %s, bus: i2c%d, address: 0x%x}\n", c.kind, bus, c.addr)
				opts := "{repeatability: low}"
				if c.kind == "ads1115" {
					opts = "{data_rate: 860, channels: [{input: ch0}]}"
				}
				fmt.Fprintf(&chips, "  - {name: %s-%d-%x, kind: %s, bus: i2c%d, address: 0x%x, interval: 10ms, options: %s}\n", c.kind, bus, c.addr, c.kind, bus, c.addr, opts)
			}
		}
		base := "http: {listen: \"\"}\ndata_dir: " + b.TempDir() + "\nlog: {level: error}\n"
		simRate, simCPU := pollFor(b, base+"devices:\n"+sims.String(), 5*time.Second)
		chipRate, chipCPU := pollFor(b, base+"hardware:\n  board: sim\n  sim:\n    chips:\n"+board.String()+"devices:\n"+chips.String(), 5*time.Second)
		b.ReportMetric(simRate, "sim_reads/s")
		b.ReportMetric(100*simCPU, "sim_cpu_%_of_core")
		b.ReportMetric(chipRate, "chip_reads/s")
		b.ReportMetric(100*chipCPU, "chip_cpu_%_of_core")
	}
}

// BenchmarkCommandLatency sends 200 relay commands, one at a time, from a
// paho client through mosquitto to edged on the sim board and measures the
// time from publishing to the simulated pin changing.
func BenchmarkCommandLatency(b *testing.B) {
	for _, nodelay := range []bool{false, true} {
		b.Run(fmt.Sprintf("mosquitto_tcp_nodelay=%v", nodelay), func(b *testing.B) { commandLatency(b, nodelay) })
	}
}

// commandLatency measures with mosquitto's set_tcp_nodelay off (its
// default: Nagle can hold a small message up to a delayed-ACK timeout) or on.
func commandLatency(b *testing.B, nodelay bool) {
	broker := mosquittotest.Start(b, mosquittotest.WithConfig(fmt.Sprintf("set_tcp_nodelay %v", nodelay)))
	for i := 0; i < b.N; i++ {
		cfg := fmt.Sprintf("gateway: {id: lat}\nhttp: {listen: \"\"}\ndata_dir: %s\ncloud: {url: %s}\nlog: {level: error}\nhardware: {board: sim}\n"+
			"devices:\n  - {name: fan, kind: gpio-out, pin: GPIO27, interval: 1s}\n", b.TempDir(), broker.URL())
		d, stop := startDaemon(b, writeConfigB(b, cfg))
		waitUntilB(b, func() bool { return d.link.Connected() })
		pin, _ := d.board.Simulated().Pin("GPIO27")
		pub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + broker.Addr()).SetClientID("lat-cloud"))
		if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			b.Fatal(tok.Error())
		}
		var lat []time.Duration
		for n := 0; n < 200; n++ {
			want := gpio.Level(n%2 == 0)
			value := "off"
			if want {
				value = "on"
			}
			changes := len(pin.History())
			t0 := time.Now()
			pub.Publish("edged/lat/cmd/fan", 1, false, fmt.Sprintf(`{"id":"b%d-%d","action":"set","value":%q}`, i, n, value))
			waitUntilB(b, func() bool { return len(pin.History()) > changes })
			h := pin.History()
			if h[len(h)-1].Level != want {
				b.Fatalf("command %d: pin went %v", n, h[len(h)-1].Level)
			}
			lat = append(lat, h[len(h)-1].Time.Sub(t0))
		}
		pub.Disconnect(50)
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms_p50")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ms_p99")
	}
}

func waitUntilB(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("timed out")
		}
		time.Sleep(20 * time.Microsecond)
	}
}
