package main

import (
	"fmt"
	"log/slog"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/spi"

	"github.com/edged-gateway/edged/hardware"
	"github.com/edged-gateway/edged/hardware/sim"
)

// board is the hardware the devices open their buses and pins on: the
// host's, or the simulated board registered under the same names.
type board struct {
	sim *sim.Board // nil on the host
}

// openBoard prepares the hardware when some device needs it. On board sim
// it skips the host's drivers entirely (their pin names would collide).
func openBoard(cfg hardware.Config, log *slog.Logger) (*board, error) {
	var sel hardware.Selection
	if cfg.Board == hardware.BoardSim {
		sel = cfg.Select(nil)
	} else {
		report, err := hardware.Init()
		if err != nil {
			return nil, fmt.Errorf("hardware: %w", err)
		}
		log.Info("hardware", "report", report)
		sel = cfg.Select(report)
	}
	if !sel.Sim {
		log.Info("hardware: using the host's buses", "reason", sel.Reason)
		return &board{}, nil
	}
	if cfg.Board == hardware.BoardSim {
		log.Info("hardware: simulated board", "reason", sel.Reason)
	} else {
		log.Warn("hardware: SIMULATED board", "reason", sel.Reason)
	}
	b, err := sim.New(cfg.Sim)
	if err != nil {
		return nil, fmt.Errorf("hardware.sim: %w", err)
	}
	if err := b.Register(); err != nil {
		return nil, fmt.Errorf("hardware.sim: register the simulated buses: %w", err)
	}
	return &board{sim: b}, nil
}

// Simulated is the simulated board, or nil on the host.
func (b *board) Simulated() *sim.Board { return b.sim }

// I2C opens an I2C bus by name (i2c1).
func (b *board) I2C(name string) (i2c.BusCloser, error) { return hardware.I2C(name) }

// SPI opens an SPI port by name (spi0.0).
func (b *board) SPI(name string) (spi.PortCloser, error) { return hardware.SPI(name) }

// Pin finds a GPIO pin by name (GPIO17).
func (b *board) Pin(name string) (gpio.PinIO, error) { return hardware.Pin(name) }

// Close unregisters the simulated board.
func (b *board) Close() error {
	if b == nil || b.sim == nil {
		return nil
	}
	return b.sim.Unregister()
}
