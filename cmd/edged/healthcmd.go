package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// healthTimeout bounds one health probe (a container's HEALTHCHECK gives it
// a few seconds).
const healthTimeout = 4 * time.Second

// cmdHealth probes the running daemon's /healthz (or /readyz): the
// container image's HEALTHCHECK, which has no curl, runs it.
func cmdHealth(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edged health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	ready := fs.Bool("ready", false, "probe /readyz (readings can be stored, the broker is up) instead of /healthz (the daemon answers)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: edged health [--ready] [--config FILE | --api URL]

Probes the running daemon: GET /healthz (it answers), or with --ready GET /readyz
(it can store readings). Exit 0 healthy, 1 answered but not healthy or ready,
3 not reachable. The container image's HEALTHCHECK runs it.

Flags:
`)
		fs.PrintDefaults()
	}
	if code := parseFlags(fs, args, stdout); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edged health: unexpected argument %q\nRun 'edged health --help' for its flags.\n", fs.Arg(0))
		return exitUsage
	}
	if err := api.resolve(); err != nil {
		fmt.Fprintf(stderr, "edged health: %v\n", err)
		return exitFailure
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	url := strings.TrimSuffix(*api.base, "/") + path
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "edged health: %v\n", err)
		return exitUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "edged health: %s: %v\n", url, err)
		return exitUnreachable
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "edged health: %s: HTTP %d: %s\n", url, resp.StatusCode, text)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: %s\n", path, text)
	return exitOK
}
