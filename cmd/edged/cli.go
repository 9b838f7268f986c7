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
  edged config check [--explain] FILE
                                check a config file; list every problem with its field path
                                (--explain: every key's value and where it came from)
  edged config defaults         print the configuration used when a file sets nothing
  edged config reload           have the running daemon apply its config file again (as SIGHUP)
  edged hardware [-o FORMAT]    show the host's periph drivers, buses and pins, and the board edged would use
  edged status [-o FORMAT]      show the running daemon's status (local API)
  edged devices [-o FORMAT]     list its devices with their latest readings
  edged services [-o FORMAT]    list its services: state, pid, restarts, budget, enforcement, RSS, CPU
  edged health [--ready]        probe the running daemon's /healthz (or /readyz); exit 0 when healthy
  edged service restart NAME    restart a service (also one that failed too often)
  edged device set NAME VALUE   command an actuator of the running daemon
  edged deadletters list|show|replay|drop
                                readings the cloud refused for good (edged deadletters help)
  edged broker passwd FILE USER add or change a user of the embedded MQTT broker
  edged plan keygen|sign|verify|apply|push|status
                                signed orchestration plans (edged plan help)
  edged completion bash|zsh|fish
                                print a shell completion script (edged help completion)
  edged version                 print the build version
  edged help [COMMAND]          explain a command

Read commands (status, devices, services, hardware, plan status) take
-o table|json|yaml: without it they print a table on a terminal and JSON
otherwise (pipes and scripts get JSON). Commands that talk to the daemon
find it with --config FILE or $EDGED_CONFIG (its http.listen and token), or
--api URL and --token-file F.

Exit codes:
  0  ok
  1  failure: a bad configuration, a refused command, a rejected plan
  2  bad usage: an unknown command or flag, a missing argument
  3  the daemon could not be reached (not running, or not at that address)
`

// Exit codes (edged help lists them).
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitUnreachable = 3
)

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
		if len(args) > 1 && args[1] == "reload" {
			return cmdConfigReload(ctx, args[2:], stdout, stderr)
		}
		return cmdConfig(args[1:], stdout, stderr)
	case "status", "devices", "services":
		return cmdGet(ctx, args[0], args[1:], stdout, stderr)
	case "health":
		return cmdHealth(ctx, args[1:], stdout, stderr)
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
	case "completion":
		return cmdCompletion(args[1:], stdout, stderr)
	case completeCommand:
		return cmdComplete(ctx, args[1:], stdout)
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
var commandNames = []string{"run", "config", "status", "devices", "services", "health", "hardware", "device", "broker", "service", "plan", "deadletters", "completion", "version", "help"}

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
	case "health":
		return cmdHealth(context.Background(), []string{"--help"}, stdout, stdout)
	case "device":
		cmdDevice(context.Background(), nil, stdout, stdout)
	case "broker":
		return cmdBroker([]string{"--help"}, nil, stdout, stdout)
	case "plan":
		return cmdPlan(context.Background(), []string{"help"}, stdout, stdout)
	case "service":
		return cmdService(context.Background(), []string{"restart", "--help"}, stdout, stdout)
	case "completion":
		return cmdCompletion([]string{"--help"}, stdout, stdout)
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
		out := fs.Output()
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
	if c := parseFlags(fs, args, stdout); c >= 0 {
		return c
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
  edged config check --explain FILE
                             check FILE, then print every key's value and where it
                             came from: default, file or env EDGED_...
  edged config defaults      print the defaults as YAML (a starting point)
  edged config reload [--config FILE | --api URL --token-file F]
                             have the running daemon read its config file again and
                             apply it (as SIGHUP does); print what changed, or exit 1
                             with every reason it was refused
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
	if file, ok := explainArgs(args); ok {
		return cmdConfigExplain(file, os.Environ(), stdout, stderr)
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
		fmt.Fprintf(stderr, "edged config: unknown subcommand %q%s\n\n%s", args[0], didYouMean(args[0], []string{"check", "defaults", "reload"}), configUsage)
		return 2
	}
	fmt.Fprint(stderr, configUsage)
	return 2
}

// parseFlags parses args into fs and returns -1 to go on, or the exit code
// to stop with: 0 after -h/--help printed the usage (to stdout), 2 for a
// bad flag, which it names in one line, with a did-you-mean for an unknown
// one (--confg: did you mean --config?), instead of the whole usage.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) int {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	if err == nil {
		return -1
	}
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		fs.SetOutput(out)
		return exitOK
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		msg = "unknown flag --" + name
		if s := suggest(name, names); s != "" {
			msg += " (did you mean --" + s + "?)"
		}
	}
	fmt.Fprintf(out, "%s: %s\nRun '%s --help' for its flags.\n", fs.Name(), msg, fs.Name())
	return exitUsage
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
