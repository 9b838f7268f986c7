package hardware

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/edged-gateway/edged/hardware/sim"
)

// The boards Config.Board may name.
const (
	BoardAuto = "auto"
	BoardHost = "host"
	BoardSim  = "sim"
)

// Config is the hardware section of edged's configuration.
type Config struct {
	// Board is auto (default: the host's buses; the simulated board only
	// when the host has none and AllowSimFallback is set or the host is a
	// development machine, see Select), host (the host's buses, even if
	// there are none) or sim (the simulated board).
	Board string `yaml:"board"`
	// AllowSimFallback lets auto fall back to the simulated board on a
	// Linux ARM host (a gateway) that has no bus. Default false: there,
	// auto stays on the host and the devices report why they cannot open,
	// so simulated readings never flow from a production install.
	AllowSimFallback bool `yaml:"allow_sim_fallback"`
	// SafeTimeout bounds one actuator's safe state (and its close) on
	// every path that applies it: shutdown, a plan's handover or removal.
	// A driver that hangs cannot hold the others. 0 means
	// DefaultSafeTimeout.
	SafeTimeout time.Duration `yaml:"safe_timeout"`
	// Sim describes the simulated board; empty gives sim.DefaultConfig.
	Sim sim.Config `yaml:"sim"`
}

// DefaultSafeTimeout is Config.SafeTimeout's default.
const DefaultSafeTimeout = 2 * time.Second

// SafeTimeoutOrDefault is SafeTimeout, or its default when unset.
func (c Config) SafeTimeoutOrDefault() time.Duration {
	if c.SafeTimeout <= 0 {
		return DefaultSafeTimeout
	}
	return c.SafeTimeout
}

// Validate reports every problem with c, each naming its field
// (board: "pi" is not a board…, sim.chips[1].address: …).
func (c Config) Validate() error {
	var errs []error
	switch c.Board {
	case "", BoardAuto, BoardHost, BoardSim:
	default:
		errs = append(errs, fmt.Errorf("board: %q is not a board, use auto, host or sim", c.Board))
	}
	if c.SafeTimeout < 0 {
		errs = append(errs, fmt.Errorf("safe_timeout: %s is negative, use a duration such as 2s (or leave it out)", c.SafeTimeout))
	}
	if err := c.Sim.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			errs = append(errs, errors.New("sim."+line))
		}
	}
	return errors.Join(errs...)
}

// Selection is the board Select chose, and why, for the log.
type Selection struct {
	// Sim is true for the simulated board.
	Sim bool
	// Reason says why, in words for an operator.
	Reason string
}

// Select chooses between the host and the simulated board given what
// Init found, on the platform this binary runs on (SelectOn).
func (c Config) Select(r *Report) Selection {
	return c.SelectOn(r, runtime.GOOS, runtime.GOARCH)
}

// GatewayPlatform reports whether goos/goarch is what a gateway runs on
// (Linux on ARM), where auto never simulates unless told to.
func GatewayPlatform(goos, goarch string) bool {
	return goos == "linux" && (goarch == "arm" || goarch == "arm64")
}

// SelectOn chooses between the host and the simulated board given what
// Init found on a goos/goarch host. On auto without a bus of the host's
// own, it picks the simulated board only when AllowSimFallback is set or
// the host is not a gateway platform (a Linux amd64 or macOS development
// machine): log that loudly. On a gateway it stays on the host, whose
// devices then report the bus they cannot find and the fix.
func (c Config) SelectOn(r *Report, goos, goarch string) Selection {
	switch c.Board {
	case BoardSim:
		return Selection{Sim: true, Reason: "hardware.board is sim"}
	case BoardHost:
		return Selection{Reason: "hardware.board is host"}
	}
	if r != nil && r.HasRealBuses() {
		return Selection{Reason: "the host has buses: " + r.Summary()}
	}
	board := "this host"
	if r != nil {
		board = r.Board.Name
	}
	var why string
	switch {
	case c.AllowSimFallback:
		why = "hardware.allow_sim_fallback is set"
	case !GatewayPlatform(goos, goarch):
		why = fmt.Sprintf("%s/%s is a development host, not a gateway (Linux on ARM)", goos, goarch)
	default:
		return Selection{Reason: fmt.Sprintf(
			"no I²C bus, SPI port or GPIO pin found on %s: staying on the host's buses, so each device reports what it cannot open and the fix; set hardware.allow_sim_fallback: true to simulate instead", board)}
	}
	return Selection{Sim: true, Reason: fmt.Sprintf(
		"no I²C bus, SPI port or GPIO pin found on %s and %s, so readings come from the SIMULATED board (marked \"simulated\": true); set hardware.board: host to refuse, or sim to silence this", board, why)}
}
