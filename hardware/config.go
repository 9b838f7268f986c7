package hardware

import (
	"errors"
	"fmt"
	"strings"

	"edged/hardware/sim"
)

// The boards Config.Board may name.
const (
	BoardAuto = "auto"
	BoardHost = "host"
	BoardSim  = "sim"
)

// Config is the hardware section of edged's configuration.
type Config struct {
	// Board is auto (default: the host's buses, or the simulated board
	// when the host has none), host (the host's buses, even if there are
	// none) or sim (the simulated board).
	Board string `yaml:"board"`
	// Sim describes the simulated board; empty gives sim.DefaultConfig.
	Sim sim.Config `yaml:"sim"`
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
// Init found. On auto without a bus of the host's own, it picks the
// simulated board: log that loudly.
func (c Config) Select(r *Report) Selection {
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
	return Selection{Sim: true, Reason: fmt.Sprintf(
		"no I²C bus, SPI port or GPIO pin found on %s, so readings come from the SIMULATED board; set hardware.board: host to refuse, or sim to silence this", board)}
}
