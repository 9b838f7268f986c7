package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/edged-gateway/edged/hardware"
	"github.com/edged-gateway/edged/hardware/sim"
)

// cmdHardware implements `edged hardware`: what periph found on this host,
// and which board a config would run on.
func cmdHardware(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edged hardware", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "a config file, to show which board its hardware section selects")
	out := outputFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: edged hardware [-o table|json|yaml] [--config FILE]

Initialises periph's host drivers and prints which loaded, were skipped or
failed (and why), the board model, and the I2C buses, SPI ports and GPIO
pins found, then which board edged would use: the host's, or the simulated
board when hardware.board is sim, or auto and the host has no bus.
`+outputHelp+`
Flags:
`)
		fs.PrintDefaults()
	}
	if c := parseFlags(fs, args, stdout); c >= 0 {
		return c
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edged hardware: unexpected argument %q (did you mean --config %s?)\n", fs.Arg(0), fs.Arg(0))
		return exitUsage
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
	raw, err := json.MarshalIndent(newHardwareDoc(r, cfg.Hardware), "", "  ")
	if err == nil {
		err = writeDoc(stdout, out.format(stdout), raw, hardwareTable)
	}
	if err != nil {
		fmt.Fprintf(stderr, "edged hardware: %v\n", err)
		return 1
	}
	return 0
}

// hardwareDoc is what edged hardware prints.
type hardwareDoc struct {
	Board   string        `json:"board"`
	Loaded  []string      `json:"loaded"`
	Failed  []driverIssue `json:"failed"`
	Skipped []driverIssue `json:"skipped"`
	I2C     []string      `json:"i2c"`
	SPI     []string      `json:"spi"`
	GPIO    []string      `json:"gpio"`
	// Uses is the board edged would use with the config given.
	Uses boardChoice `json:"uses"`
}

type driverIssue struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

type boardChoice struct {
	// Board is host or sim.
	Board  string `json:"board"`
	Reason string `json:"reason"`
	// Chips and Pins are the simulated board's.
	Chips []simChip `json:"chips,omitempty"`
	Pins  []string  `json:"pins,omitempty"`
}

type simChip struct {
	Kind    string `json:"kind"`
	Bus     string `json:"bus"`
	Address uint16 `json:"address,omitempty"`
}

func newHardwareDoc(r *hardware.Report, hc hardware.Config) hardwareDoc {
	issues := func(ds []hardware.DriverIssue) []driverIssue {
		out := []driverIssue{}
		for _, d := range ds {
			out = append(out, driverIssue{Name: d.Name, Reason: d.Reason})
		}
		return out
	}
	doc := hardwareDoc{Board: r.Board.Name, Loaded: orEmpty(r.Loaded), Failed: issues(r.Failed), Skipped: issues(r.Skipped),
		I2C: orEmpty(busNames(r.I2C)), SPI: orEmpty(busNames(r.SPI)), GPIO: orEmpty(r.GPIO)}
	sel := hc.Select(r)
	doc.Uses = boardChoice{Board: "host", Reason: sel.Reason}
	if sel.Sim {
		sc := hc.Sim
		if sc.IsZero() {
			sc = sim.DefaultConfig()
		}
		doc.Uses.Board = "sim"
		for _, c := range sc.Chips {
			doc.Uses.Chips = append(doc.Uses.Chips, simChip{Kind: c.Kind, Bus: c.Bus, Address: uint16(c.Address)})
		}
		for _, p := range sc.Pins {
			doc.Uses.Pins = append(doc.Uses.Pins, p.Name)
		}
	}
	return doc
}

func hardwareTable(w io.Writer, raw []byte, _ time.Time) error {
	var doc hardwareDoc
	if err := decodeAPI(raw, &doc); err != nil {
		return err
	}
	fmt.Fprintf(w, "board:   %s\n", doc.Board)
	fmt.Fprintf(w, "loaded:  %s\n", orNone(doc.Loaded))
	for _, d := range doc.Failed {
		fmt.Fprintf(w, "FAILED:  %s: %s\n", d.Name, d.Reason)
	}
	for _, d := range doc.Skipped {
		fmt.Fprintf(w, "skipped: %s: %s\n", d.Name, d.Reason)
	}
	fmt.Fprintf(w, "i2c:     %s\n", orNone(doc.I2C))
	fmt.Fprintf(w, "spi:     %s\n", orNone(doc.SPI))
	fmt.Fprintf(w, "gpio:    %d pins\n", len(doc.GPIO))
	if doc.Uses.Board != "sim" {
		fmt.Fprintf(w, "edged would use: the host's buses (%s)\n", doc.Uses.Reason)
		return nil
	}
	fmt.Fprintf(w, "edged would use: the SIMULATED board (%s)\n", doc.Uses.Reason)
	for _, c := range doc.Uses.Chips {
		if c.Address != 0 {
			fmt.Fprintf(w, "  %s on %s 0x%02x\n", c.Kind, c.Bus, c.Address)
		} else {
			fmt.Fprintf(w, "  %s on %s\n", c.Kind, c.Bus)
		}
	}
	for _, p := range doc.Uses.Pins {
		fmt.Fprintf(w, "  pin %s\n", p)
	}
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
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
