package hardware

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"periph.io/x/conn/v3/driver/driverreg"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"

	"github.com/edged-gateway/edged/hardware/internal/busname"
)

// Report is what Init found: the board, how each of periph's host drivers
// fared, and the buses and pins they registered. It is data for a log line
// at start and for `edged hardware`; nothing here prints.
type Report struct {
	// Board is the machine.
	Board Board
	// Loaded are the host drivers that loaded, by name (sysfs-i2c,
	// bcm283x-gpio…).
	Loaded []string
	// Skipped are the drivers that do not apply to this host, with why.
	Skipped []DriverIssue
	// Failed are the drivers that apply but did not load, with why: these
	// are worth a warning (often permissions).
	Failed []DriverIssue
	// I2C are the I²C buses in periph's registry.
	I2C []Bus
	// SPI are the SPI ports in periph's registry.
	SPI []Bus
	// GPIO are the names of the pins in periph's registry (aliases left
	// out).
	GPIO []string
}

// DriverIssue is a host driver that did not load, and why.
type DriverIssue struct {
	// Name is the driver's, such as sysfs-spi.
	Name string
	// Reason is periph's, such as "no SPI port found".
	Reason string
}

// Bus is an I²C bus or SPI port in periph's registry.
type Bus struct {
	// Name is periph's name, /dev/i2c-1 or /dev/spidev0.0 for the host's.
	Name string
	// Aliases are periph's other names, such as I2C1.
	Aliases []string
	// Number is the bus number, -1 for none.
	Number int
	// ConfigName is the name to use in edged's configuration (i2c1,
	// spi0.0), empty when none of the bus's names parses.
	ConfigName string
}

// Init loads periph's host drivers (host.Init, which runs once per
// process; later calls report the same state) and reports what they found.
// Drivers that fail are in the report, not an error: the error is for
// periph failing as a whole.
func Init() (*Report, error) {
	state, err := host.Init()
	if err != nil {
		return nil, fmt.Errorf("hardware: init periph host drivers: %w", err)
	}
	return newReport(state, DetectBoard("/")), nil
}

// newReport builds a Report from periph's driver state and registries.
func newReport(state *driverreg.State, board Board) *Report {
	r := &Report{Board: board}
	for _, d := range state.Loaded {
		r.Loaded = append(r.Loaded, d.String())
	}
	issue := func(f driverreg.DriverFailure) DriverIssue {
		reason := "unknown"
		if f.Err != nil {
			reason = f.Err.Error()
		}
		return DriverIssue{Name: f.D.String(), Reason: reason}
	}
	for _, f := range state.Skipped {
		r.Skipped = append(r.Skipped, issue(f))
	}
	for _, f := range state.Failed {
		r.Failed = append(r.Failed, issue(f))
	}
	for _, ref := range i2creg.All() {
		r.I2C = append(r.I2C, newBus(ref.Name, ref.Aliases, ref.Number, i2cConfigName))
	}
	for _, ref := range spireg.All() {
		r.SPI = append(r.SPI, newBus(ref.Name, ref.Aliases, ref.Number, spiConfigName))
	}
	for _, p := range gpioreg.All() {
		r.GPIO = append(r.GPIO, p.Name())
	}
	return r
}

func newBus(name string, aliases []string, number int, configName func(string) (string, bool)) Bus {
	b := Bus{Name: name, Aliases: append([]string(nil), aliases...), Number: number}
	for _, n := range append([]string{name}, aliases...) {
		if c, ok := configName(n); ok {
			b.ConfigName = c
			break
		}
	}
	return b
}

func i2cConfigName(s string) (string, bool) {
	n, ok := busname.ParseI2C(s)
	return busname.I2CName(n), ok
}

func spiConfigName(s string) (string, bool) {
	b, cs, ok := busname.ParseSPI(s)
	return busname.SPIName(b, cs), ok
}

// HasRealBuses reports whether the host has a bus or pin of its own: an
// I²C bus or SPI port that a host driver registered (its name is a /dev
// path), or GPIO pins with a host GPIO driver loaded. A daemon on auto
// falls back to the simulated board when it has none.
func (r *Report) HasRealBuses() bool {
	for _, b := range append(append([]Bus(nil), r.I2C...), r.SPI...) {
		if strings.HasPrefix(b.Name, "/dev/") {
			return true
		}
	}
	if len(r.GPIO) == 0 {
		return false
	}
	for _, d := range r.Loaded {
		if strings.Contains(d, "gpio") {
			return true
		}
	}
	return false
}

// Summary is the report in one line for a log or a terminal:
// "generic Linux: periph drivers 0 loaded, 6 skipped, 0 failed; no I²C, no
// SPI, no GPIO".
func (r *Report) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: periph drivers %d loaded, %d skipped, %d failed", r.Board.Name, len(r.Loaded), len(r.Skipped), len(r.Failed))
	if len(r.Loaded) > 0 {
		fmt.Fprintf(&b, " (loaded %s)", strings.Join(r.Loaded, ", "))
	}
	for _, f := range r.Failed {
		fmt.Fprintf(&b, " [%s failed: %s]", f.Name, f.Reason)
	}
	fmt.Fprintf(&b, "; %s, %s, ", busList("I²C", r.I2C), busList("SPI", r.SPI))
	if len(r.GPIO) == 0 {
		b.WriteString("no GPIO")
	} else {
		fmt.Fprintf(&b, "%d GPIO pins", len(r.GPIO))
	}
	return b.String()
}

func busList(kind string, buses []Bus) string {
	if len(buses) == 0 {
		return "no " + kind
	}
	return kind + " " + strings.Join(busNames(buses), " ")
}

func busNames(buses []Bus) []string {
	names := make([]string, len(buses))
	for i, b := range buses {
		names[i] = b.ConfigName
		if names[i] == "" {
			names[i] = b.Name
		}
	}
	return names
}

// LogValue makes the report a group of stable keys for log/slog: board,
// raspberry_pi, loaded, skipped, failed, i2c, spi, gpio.
func (r *Report) LogValue() slog.Value {
	failed := make([]string, len(r.Failed))
	for i, f := range r.Failed {
		failed[i] = f.Name + ": " + f.Reason
	}
	return slog.GroupValue(
		slog.String("board", r.Board.Name),
		slog.Bool("raspberry_pi", r.Board.RaspberryPi),
		slog.Any("loaded", r.Loaded),
		slog.Int("skipped", len(r.Skipped)),
		slog.Any("failed", failed),
		slog.Any("i2c", busNames(r.I2C)),
		slog.Any("spi", busNames(r.SPI)),
		slog.Int("gpio", len(r.GPIO)),
	)
}

var _ slog.LogValuer = (*Report)(nil)

// Board is the machine edged runs on.
type Board struct {
	// Name is what to call it: the Raspberry Pi model as the device tree
	// gives it ("Raspberry Pi 4 Model B Rev 1.4"), else "generic Linux".
	Name string
	// Model is the device tree's model, empty when there is none (most
	// x86 machines, containers).
	Model string
	// RaspberryPi is true on a Raspberry Pi of any model.
	RaspberryPi bool
}

// modelFiles returns where Linux exposes the device tree's model, relative
// to the root; the first is a link to the second on most systems.
func modelFiles() []string {
	return []string{"proc/device-tree/model", "sys/firmware/devicetree/base/model"}
}

// DetectBoard reads the device-tree model under root ("/" on a live system;
// a test passes a directory laid out like one). It never fails: a machine
// without a readable model is a generic one.
func DetectBoard(root string) Board {
	if root == "" {
		root = "/"
	}
	var model string
	for _, f := range modelFiles() {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue
		}
		// The property is NUL-terminated.
		model = strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
		if model != "" {
			break
		}
	}
	if strings.HasPrefix(model, "Raspberry Pi") {
		return Board{Name: model, Model: model, RaspberryPi: true}
	}
	return Board{Name: genericName(runtime.GOOS), Model: model}
}

func genericName(goos string) string {
	if goos == "linux" {
		return "generic Linux"
	}
	return "generic " + goos
}
