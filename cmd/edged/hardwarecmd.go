package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/edged-gateway/edged/hardware"
	"github.com/edged-gateway/edged/hardware/sim"
)

// cmdHardware implements `edged hardware`: what periph found on this host,
// and which board a config would run on.
func cmdHardware(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edged hardware", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "a config file, to show which board its hardware section selects")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: edged hardware [--config FILE]

Initialises periph's host drivers and prints which loaded, were skipped or
failed (and why), the board model, and the I2C buses, SPI ports and GPIO
pins found, then which board edged would use: the host's, or the simulated
board when hardware.board is sim, or auto and the host has no bus.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg := defaultConfig()
	if *configPath != "" {
		c, _, err := loadConfig(*configPath, builtinKinds())
		if err != nil {
			printConfigErr(stderr, *configPath, err)
			return 1
		}
		cfg = c
	}
	r, err := hardware.Init()
	if err != nil {
		fmt.Fprintf(stderr, "edged hardware: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "board:   %s\n", r.Board.Name)
	fmt.Fprintf(stdout, "loaded:  %s\n", orNone(r.Loaded))
	for _, d := range r.Failed {
		fmt.Fprintf(stdout, "FAILED:  %s: %s\n", d.Name, d.Reason)
	}
	for _, d := range r.Skipped {
		fmt.Fprintf(stdout, "skipped: %s: %s\n", d.Name, d.Reason)
	}
	fmt.Fprintf(stdout, "i2c:     %s\n", orNone(busNames(r.I2C)))
	fmt.Fprintf(stdout, "spi:     %s\n", orNone(busNames(r.SPI)))
	fmt.Fprintf(stdout, "gpio:    %d pins\n", len(r.GPIO))
	sel := cfg.Hardware.Select(r)
	if sel.Sim {
		sc := cfg.Hardware.Sim
		if sc.IsZero() {
			sc = sim.DefaultConfig()
		}
		fmt.Fprintf(stdout, "edged would use: the SIMULATED board (%s)\n", sel.Reason)
		for _, c := range sc.Chips {
			fmt.Fprintf(stdout, "  %s on %s 0x%02x\n", c.Kind, c.Bus, c.Address)
		}
		for _, p := range sc.Pins {
			fmt.Fprintf(stdout, "  pin %s\n", p.Name)
		}
	} else {
		fmt.Fprintf(stdout, "edged would use: the host's buses (%s)\n", sel.Reason)
	}
	return 0
}

func busNames(bs []hardware.Bus) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Name)
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
