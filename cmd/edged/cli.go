package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// version is stamped at build time: -ldflags "-X main.version=…".
var version = "dev"

const usage = `edged: the edge-gateway daemon.

It polls devices (chips over GPIO, I2C and SPI, or simulated ones), takes
readings that sensors publish to its local MQTT broker (127.0.0.1:1883 by
default), makes every reading durable in a local outbox (bbolt, fsync per
group commit) and forwards the readings to a cloud MQTT broker at QoS 1,
deleting them only after the broker's PUBACK. With no configuration it runs
one simulated device and the local broker, and buffers locally.

Usage:
  edged run [--config FILE]     run the daemon (Ctrl-C or SIGTERM stops it cleanly)
  edged config check FILE       check a config file; list every problem with its field path
  edged config defaults         print the configuration used when a file sets nothing
  edged hardware [--config F]   show the host's periph drivers, buses and pins, and the board edged would use
  edged status                  show the running daemon's status (local API)
  edged devices                 list its devices with their latest readings
  edged services                list its services: state, pid, restarts, budget, enforcement, RSS, CPU
  edged service restart NAME    restart a service (also one that failed too often)
  edged device set NAME VALUE   command an actuator of the running daemon
  edged deadletters list|show|replay|drop
                                readings the cloud refused for good (edged deadletters help)
  edged broker passwd FILE USER add or change a user of the embedded MQTT broker
  edged plan keygen|sign|verify|apply|push|status
                                signed orchestration plans (edged plan help)
  edged version                 print the build version
  edged help [COMMAND]          explain a command

Exit codes: 0 ok, 1 bad configuration or runtime failure, 2 bad usage.
`

// run is the whole program behind main: it parses args, runs the command
// and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "config":
		return cmdConfig(args[1:], stdout, stderr)
	case "status", "devices", "services":
		return cmdGet(ctx, args[0], args[1:], stdout, stderr)
	case "hardware":
		return cmdHardware(args[1:], stdout, stderr)
	case "device":
		return cmdDevice(ctx, args[1:], stdout, stderr)
	case "broker":
		return cmdBroker(args[1:], os.Stdin, stdout, stderr)
	case "service":
		return cmdService(ctx, args[1:], stdout, stderr)
	case "plan":
		return cmdPlan(ctx, args[1:], stdout, stderr)
	case "deadletters":
		return cmdDeadLetters(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "edged %s %s/%s %s\n", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return 0
	case "help", "-h", "--help", "-help":
		return cmdHelp(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "edged: unknown command %q%s\nRun 'edged help' for the list of commands.\n", args[0], didYouMean(args[0], commandNames))
		return 2
	}
}

// commandNames are the top-level commands, for "did you mean".
var commandNames = []string{"run", "config", "status", "devices", "services", "hardware", "device", "broker", "service", "plan", "deadletters", "version", "help"}

func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return 0
	}
	switch args[0] {
	case "run":
		runFlags(new(string), stdout).Usage()
	case "config":
		fmt.Fprint(stdout, configUsage)
	case "version":
		fmt.Fprintln(stdout, "edged version: print the version, OS/architecture and Go version of this build.")
	case "status", "devices", "services":
		return cmdGet(context.Background(), args[0], []string{"--help"}, stdout, stdout)
	case "hardware":
		return cmdHardware([]string{"--help"}, stdout, stdout)
	case "device":
		cmdDevice(context.Background(), nil, stdout, stdout)
	case "broker":
		return cmdBroker([]string{"--help"}, nil, stdout, stdout)
	case "plan":
		return cmdPlan(context.Background(), []string{"help"}, stdout, stdout)
	case "deadletters":
		return cmdDeadLetters(context.Background(), []string{"help"}, stdout, stdout)
	default:
		fmt.Fprintf(stderr, "edged help: no command %q%s\nRun 'edged help' for the list of commands.\n", args[0], didYouMean(args[0], commandNames))
		return 2
	}
	return 0
}

func runFlags(config *string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("edged run", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(config, "config", "", "configuration file (YAML); without it edged runs on defaults:\none simulated device, data in ./data, cloud sync off")
	fs.Usage = func() {
		fmt.Fprintf(out, `Usage: edged run [--config FILE]

Runs the daemon until SIGINT or SIGTERM. On a stop it stops polling, waits
briefly for publishes in flight, publishes "offline" on the status topic and
closes the outbox cleanly. Readings that were not acknowledged by the cloud
stay in the outbox and are sent after the next start.

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprintf(out, "\nDevice kinds:\n%s\nSee README.md for the configuration reference.\n", kindHelp(builtinKinds()))
	}
	return fs
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	start := time.Now()
	var configPath string
	fs := runFlags(&configPath, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edged run: unexpected argument %q (did you mean --config %s?)\n", fs.Arg(0), fs.Arg(0))
		return 2
	}
	cfg, devs, err := loadConfig(configPath, builtinKinds())
	if err != nil {
		printConfigErr(stderr, configPath, err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	if err := runDaemon(ctx, cfg, devs, log, start); err != nil {
		log.Error("edged stopped with an error", "err", err)
		return 1
	}
	return 0
}

const configUsage = `Usage:
  edged config check FILE    check FILE; exit 0 when valid, otherwise exit 1
                             and print every problem as "field.path: what to do"
  edged config defaults      print the defaults as YAML (a starting point)
`

func cmdConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, configUsage)
		return 2
	}
	if len(args) > 1 && isHelp(args[len(args)-1]) {
		fmt.Fprint(stdout, configUsage)
		return 0
	}
	switch {
	case args[0] == "check" && len(args) == 2:
		if _, _, err := loadConfig(args[1], builtinKinds()); err != nil {
			printConfigErr(stdout, args[1], err)
			return 1
		}
		fmt.Fprintf(stdout, "%s: ok\n", args[1])
		return 0
	case args[0] == "defaults" && len(args) == 1:
		fmt.Fprint(stdout, defaultsYAML())
		return 0
	case isHelp(args[0]) || args[0] == "help":
		fmt.Fprint(stdout, configUsage)
		return 0
	case args[0] == "check":
		fmt.Fprintf(stderr, "edged config check: want one FILE, got %d arguments\n\n%s", len(args)-1, configUsage)
		return 2
	case args[0] != "defaults":
		fmt.Fprintf(stderr, "edged config: unknown subcommand %q%s\n\n%s", args[0], didYouMean(args[0], []string{"check", "defaults"}), configUsage)
		return 2
	}
	fmt.Fprint(stderr, configUsage)
	return 2
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool { return arg == "-h" || arg == "--help" || arg == "-help" }

// printConfigErr prints one problem per line, prefixed with the file.
func printConfigErr(w io.Writer, path string, err error) {
	if path == "" {
		path = "(defaults)"
	}
	var errs yamlconf.Errors
	if errors.As(err, &errs) {
		fmt.Fprintf(w, "%s: %d problem(s):\n", path, len(errs))
		for _, e := range errs {
			fmt.Fprintf(w, "  %s\n", e.Error())
		}
		return
	}
	fmt.Fprintf(w, "%s: %s\n", path, strings.TrimSpace(err.Error()))
}
