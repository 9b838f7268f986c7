package hardware

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/hardware/sim"

	"periph.io/x/conn/v3/driver"
	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
)

// fakeDriver is a periph host driver known by name only.
type fakeDriver string

func (d fakeDriver) String() string          { return string(d) }
func (d fakeDriver) Prerequisites() []string { return nil }
func (d fakeDriver) After() []string         { return nil }
func (d fakeDriver) Init() (bool, error)     { return true, nil }

var _ driver.Impl = fakeDriver("")

func TestInitThisHost(t *testing.T) {
	rep, err := Init()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Init()
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary() != again.Summary() {
		t.Fatalf("Init is not stable:\n%s\n%s", rep.Summary(), again.Summary())
	}
	if rep.Board != DetectBoard("/") {
		t.Fatalf("board %+v", rep.Board)
	}
	t.Log(rep.Summary())
	if len(rep.I2C)+len(rep.SPI)+len(rep.GPIO) == 0 && rep.HasRealBuses() {
		t.Fatal("no buses, yet HasRealBuses")
	}
}

func TestHasRealBuses(t *testing.T) {
	requireNoBuses(t)
	simBoard, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	hostBus := func() func() {
		open := func() (i2c.BusCloser, error) { return nil, errors.New("not here") }
		if err := i2creg.Register("/dev/i2c-1", []string{"I2C1"}, 1, open); err != nil {
			t.Fatal(err)
		}
		return func() { _ = i2creg.Unregister("/dev/i2c-1") }
	}
	simulated := func() func() {
		if err := simBoard.Register(); err != nil {
			t.Fatal(err)
		}
		return func() { _ = simBoard.Unregister() }
	}
	tests := []struct {
		name   string
		setup  []func() func()
		loaded []driver.Impl
		want   bool
	}{
		{"nothing", nil, nil, false},
		{"a simulated board only", []func() func(){simulated}, nil, false},
		{"a host I²C bus", []func() func(){hostBus}, []driver.Impl{fakeDriver("sysfs-i2c")}, true},
		{"pins and a GPIO driver", []func() func(){simulated}, []driver.Impl{fakeDriver("ioctl-gpio")}, true},
		{"pins without a GPIO driver", []func() func(){simulated}, []driver.Impl{fakeDriver("sysfs-led")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, s := range tt.setup {
				defer s()()
			}
			rep := newReport(&driverreg.State{Loaded: tt.loaded}, Board{Name: "test"})
			if got := rep.HasRealBuses(); got != tt.want {
				t.Fatalf("HasRealBuses() = %t, want %t; %s", got, tt.want, rep.Summary())
			}
		})
	}
}

func TestReport(t *testing.T) {
	requireNoBuses(t)
	board, err := sim.New(sim.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := board.Register(); err != nil {
		t.Fatal(err)
	}
	defer board.Unregister()
	state := &driverreg.State{
		Loaded:  []driver.Impl{fakeDriver("bcm283x-gpio"), fakeDriver("rpi")},
		Skipped: []driverreg.DriverFailure{{D: fakeDriver("allwinner-gpio"), Err: errors.New("Allwinner CPU not detected")}},
		Failed:  []driverreg.DriverFailure{{D: fakeDriver("sysfs-spi"), Err: errors.New("permission denied")}, {D: fakeDriver("odd")}},
	}
	rep := newReport(state, Board{Name: "Raspberry Pi 4 Model B Rev 1.4", Model: "Raspberry Pi 4 Model B Rev 1.4", RaspberryPi: true})

	wantSummary := "Raspberry Pi 4 Model B Rev 1.4: periph drivers 2 loaded, 1 skipped, 2 failed (loaded bcm283x-gpio, rpi)" +
		" [sysfs-spi failed: permission denied] [odd failed: unknown]; I²C i2c1, SPI spi0.0 spi0.1, 3 GPIO pins"
	if got := rep.Summary(); got != wantSummary {
		t.Fatalf("Summary()\n got %s\nwant %s", got, wantSummary)
	}
	if b := rep.I2C[0]; b.Name != "i2c1" || b.ConfigName != "i2c1" || b.Number != 1 || strings.Join(b.Aliases, ",") != "I2C1" {
		t.Fatalf("I2C[0] = %+v", b)
	}
	if b := rep.SPI[1]; b.Name != "spi0.1" || b.Number != -1 {
		t.Fatalf("SPI[1] = %+v", b)
	}
	if got := strings.Join(rep.GPIO, ","); got != "GPIO17,GPIO18,GPIO27" {
		t.Fatalf("GPIO = %s", got)
	}

	var buf strings.Builder
	slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})).Info("hardware", "report", rep)
	wantLog := `level=INFO msg=hardware report.board="Raspberry Pi 4 Model B Rev 1.4" report.raspberry_pi=true` +
		` report.loaded="[bcm283x-gpio rpi]" report.skipped=1 report.failed="[sysfs-spi: permission denied odd: unknown]"` +
		` report.i2c=[i2c1] report.spi="[spi0.0 spi0.1]" report.gpio=3` + "\n"
	if buf.String() != wantLog {
		t.Fatalf("log line\n got %s\nwant %s", buf.String(), wantLog)
	}
}

func TestSummaryEmpty(t *testing.T) {
	rep := &Report{Board: Board{Name: "generic Linux"}, Skipped: []DriverIssue{{"sysfs-i2c", "no I²C bus found"}}}
	want := "generic Linux: periph drivers 0 loaded, 1 skipped, 0 failed; no I²C, no SPI, no GPIO"
	if got := rep.Summary(); got != want {
		t.Fatalf("Summary() = %s\nwant        %s", got, want)
	}
}

func TestDetectBoard(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // path under root → content
		want  Board
	}{
		{"raspberry pi 4", map[string]string{"proc/device-tree/model": "Raspberry Pi 4 Model B Rev 1.4\x00"},
			Board{Name: "Raspberry Pi 4 Model B Rev 1.4", Model: "Raspberry Pi 4 Model B Rev 1.4", RaspberryPi: true}},
		{"raspberry pi 5", map[string]string{"proc/device-tree/model": "Raspberry Pi 5 Model B Rev 1.0\x00"},
			Board{Name: "Raspberry Pi 5 Model B Rev 1.0", Model: "Raspberry Pi 5 Model B Rev 1.0", RaspberryPi: true}},
		{"zero 2 w via sysfs", map[string]string{"sys/firmware/devicetree/base/model": "Raspberry Pi Zero 2 W Rev 1.0\x00"},
			Board{Name: "Raspberry Pi Zero 2 W Rev 1.0", Model: "Raspberry Pi Zero 2 W Rev 1.0", RaspberryPi: true}},
		{"compute module", map[string]string{"proc/device-tree/model": "Raspberry Pi Compute Module 4 Rev 1.1\n"},
			Board{Name: "Raspberry Pi Compute Module 4 Rev 1.1", Model: "Raspberry Pi Compute Module 4 Rev 1.1", RaspberryPi: true}},
		{"other arm board", map[string]string{"proc/device-tree/model": "Pine64+\x00"},
			Board{Name: "generic Linux", Model: "Pine64+"}},
		{"empty model falls through", map[string]string{"proc/device-tree/model": "\x00", "sys/firmware/devicetree/base/model": "Raspberry Pi 3 Model B Rev 1.2\x00"},
			Board{Name: "Raspberry Pi 3 Model B Rev 1.2", Model: "Raspberry Pi 3 Model B Rev 1.2", RaspberryPi: true}},
		{"no device tree", nil, Board{Name: "generic Linux"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for p, content := range tt.files {
				full := filepath.Join(root, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := DetectBoard(root); got != tt.want {
				t.Fatalf("DetectBoard = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDetectBoardThisHost(t *testing.T) {
	got := DetectBoard("")
	t.Logf("this host: %+v", got)
	if _, err := os.Stat("/proc/device-tree/model"); err == nil {
		t.Skip("this host has a device tree")
	}
	if want := (Board{Name: genericName(runtime.GOOS)}); got != want {
		t.Fatalf("DetectBoard(\"\") = %+v without a device tree, want %+v", got, want)
	}
}

func TestGenericName(t *testing.T) {
	for goos, want := range map[string]string{"linux": "generic Linux", "darwin": "generic darwin"} {
		t.Run(goos, func(t *testing.T) {
			if got := genericName(goos); got != want {
				t.Fatalf("genericName(%s) = %q", goos, got)
			}
		})
	}
}
