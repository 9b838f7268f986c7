package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"edged/runtime/commands"
)

// defaultAPI is where the daemon's local API listens unless http.listen
// says otherwise, and where the CLI looks for it.
const defaultAPI = "127.0.0.1:8080"

func apiFlag(fs *flag.FlagSet) *string {
	return fs.String("api", "http://"+defaultAPI, "the running daemon's local API (http.listen in its config)")
}

// cmdDevice implements `edged device set NAME VALUE`.
func cmdDevice(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edged device set", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	action := fs.String("action", "set", "the command's action")
	id := fs.String("id", "", "the command id (default: a random one); the daemon runs each id once")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: edged device set [--api URL] [--action set] [--id ID] NAME VALUE

Sends a command to the actuator NAME of the running daemon, with the same
validation as commands from the cloud, and prints the result. VALUE is JSON
when it parses as JSON (true, 0.5, "text"), a string otherwise (on, off).
Exit 0 when the command ran, 1 when it was refused or failed.

Flags:
`)
		fs.PrintDefaults()
	}
	if len(args) == 0 || args[0] != "set" {
		fs.Usage()
		return 2
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return 2
	}
	name, raw := fs.Arg(0), fs.Arg(1)
	var value any
	if err := json.Unmarshal([]byte(raw), &value); err != nil {
		value = raw
	}
	if *id == "" {
		b := make([]byte, 8)
		rand.Read(b)
		*id = "cli-" + hex.EncodeToString(b)
	}
	body, _ := json.Marshal(commands.Command{ID: *id, Action: *action, Value: value})
	var res commands.Result
	code, err := callAPI(ctx, http.MethodPost, *api+"/api/v1/devices/"+name+"/commands", body, &res)
	if err != nil {
		fmt.Fprintf(stderr, "edged device set: %v\n", err)
		return 1
	}
	if !res.OK {
		fmt.Fprintf(stderr, "edged device set %s: refused (HTTP %d): %s\n", name, code, res.Error)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s %s ok (id %s)\n", name, *action, raw, res.ID)
	return 0
}

// cmdStatus implements `edged status`.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edged status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlag(fs)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: edged status [--api URL]\n\nPrints the running daemon's status as JSON: gateway, cloud link, outbox depth, devices.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var doc json.RawMessage
	if _, err := callAPI(ctx, http.MethodGet, *api+"/api/v1/status", nil, &doc); err != nil {
		fmt.Fprintf(stderr, "edged status: %v\n", err)
		return 1
	}
	stdout.Write(doc)
	return 0
}

// callAPI sends one request and decodes the JSON answer into out.
func callAPI(ctx context.Context, method, url string, body []byte, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w (is edged running, with http.listen at that address?)", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d with an unreadable answer: %v", method, url, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}
