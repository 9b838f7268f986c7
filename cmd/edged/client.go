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
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edged-gateway/edged/runtime/commands"
)

// defaultAPI is where the daemon's local API listens unless http.listen
// says otherwise, and where the CLI looks for it.
const defaultAPI = "127.0.0.1:8080"

// apiClient reaches the running daemon's local API.
type apiClient struct {
	fs        *flag.FlagSet
	base      *string
	tokenFile *string
	config    *string
}

// apiFlags adds --api, --token-file and --config to fs.
func apiFlags(fs *flag.FlagSet) *apiClient {
	return &apiClient{
		fs:        fs,
		base:      fs.String("api", "http://"+defaultAPI, "the running daemon's local API (http.listen in its config)"),
		tokenFile: fs.String("token-file", "", "the API token (needed for commands, and from other hosts); default: $EDGED_TOKEN_FILE,\n./data/api.token or /var/lib/edged/api.token, whichever exists"),
		config:    fs.String("config", "", "the daemon's config file (default $EDGED_CONFIG): its http.listen and\nhttp.token_file (or data_dir/api.token) stand in for --api and --token-file"),
	}
}

// resolve takes the API address and token file from the daemon's config
// (--config or $EDGED_CONFIG) where --api and --token-file were not given.
func (c *apiClient) resolve() error {
	path := *c.config
	if path == "" {
		path = os.Getenv("EDGED_CONFIG")
	}
	if path == "" {
		return nil
	}
	set := map[string]bool{}
	if c.fs != nil {
		c.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	}
	cfg, _, err := loadConfig(path, builtinKinds())
	if err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	if !set["api"] {
		if cfg.HTTP.Listen == "" {
			return fmt.Errorf("--config %s: http.listen is \"\": the daemon serves no local API", path)
		}
		host, port, err := net.SplitHostPort(cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("--config %s: http.listen %q: %w", path, cfg.HTTP.Listen, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		scheme := "http"
		if cfg.HTTP.TLS.CertFile != "" {
			scheme = "https"
		}
		*c.base = scheme + "://" + net.JoinHostPort(host, port)
	}
	if !set["token-file"] {
		tf := cfg.HTTP.TokenFile
		if tf == "" {
			tf = filepath.Join(cfg.DataDir, tokenFileName)
		}
		if _, err := os.Stat(tf); err == nil {
			*c.tokenFile = tf
		}
	}
	return nil
}

// token reads the API token, or returns "" when no file is found.
func (c *apiClient) token() (string, error) {
	candidates := []string{*c.tokenFile}
	if *c.tokenFile == "" {
		candidates = []string{os.Getenv("EDGED_TOKEN_FILE"), filepath.Join("data", tokenFileName), filepath.Join("/var/lib/edged", tokenFileName)}
	}
	for _, f := range candidates {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil {
			return strings.TrimSpace(string(b)), nil
		}
		if *c.tokenFile != "" {
			return "", fmt.Errorf("--token-file: %w", err)
		}
	}
	return "", nil
}

// call sends one request to path and decodes the JSON answer into out.
func (c *apiClient) call(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	return c.callTimeout(ctx, method, path, body, out, apiTimeout)
}

// apiTimeout bounds a CLI request that does not say otherwise.
const apiTimeout = 10 * time.Second

// callTimeout is call with a timeout of its own (a plan apply waits for
// downloads and health gates).
func (c *apiClient) callTimeout(ctx context.Context, method, path string, body []byte, out any, timeout time.Duration) (int, error) {
	if err := c.resolve(); err != nil {
		return 0, err
	}
	token, err := c.token()
	if err != nil {
		return 0, err
	}
	code, err := callAPI(ctx, method, strings.TrimSuffix(*c.base, "/")+path, token, body, out, timeout)
	if code == http.StatusUnauthorized && err == nil {
		hint := "pass --token-file (the daemon's http.token_file, or data_dir/api.token)"
		if token != "" {
			hint = "the token was refused: is it the running daemon's?"
		}
		return code, fmt.Errorf("not authorized: %s", hint)
	}
	return code, err
}

// cmdDevice implements `edged device set NAME VALUE`.
func cmdDevice(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edged device set", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	action := fs.String("action", "set", "the command's action")
	id := fs.String("id", "", "the command id (default: a random one); the daemon runs each id once")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: edged device set [--config FILE | --api URL --token-file F] [--action set] [--id ID] NAME VALUE

Sends a command to the actuator NAME of the running daemon, with the same
validation as commands from the cloud, and prints what the device did: its
state after the command ("fan: on"). VALUE is JSON when it parses as JSON
(true, 0.5, "text"), a string otherwise (on, off). An --id that ran before
is not run again: the first run's result is printed, marked as such.
Exit 0 when the command ran (or had run), 1 when it was refused or failed,
3 when the daemon could not be reached.

Flags:
`)
		fs.PrintDefaults()
	}
	if len(args) > 0 && (isHelp(args[0]) || args[0] == "help") {
		fs.SetOutput(stdout)
		fs.Usage()
		return 0
	}
	if len(args) > 0 && args[0] != "set" {
		fmt.Fprintf(stderr, "edged device: unknown subcommand %q%s\nRun 'edged device set --help' for its usage.\n", args[0], didYouMean(args[0], []string{"set"}))
		return exitUsage
	}
	if len(args) == 0 {
		fs.Usage()
		return exitUsage
	}
	if c := parseFlags(fs, args[1:], stdout); c >= 0 {
		return c
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
	code, err := api.call(ctx, http.MethodPost, "/api/v1/devices/"+url.PathEscape(name)+"/commands", body, &res)
	if err != nil {
		fmt.Fprintf(stderr, "edged device set: %v\n", err)
		return apiExit(err)
	}
	again := ""
	if res.Duplicate {
		again = fmt.Sprintf(" (id %s ran before: nothing was done now; this is its first result)", res.ID)
	}
	if !res.OK {
		fmt.Fprintf(stderr, "edged device set %s: refused (HTTP %d): %s%s\n", name, code, res.Error, again)
		return 1
	}
	did := "done"
	if res.State != "" {
		did = res.State
	}
	fmt.Fprintf(stdout, "%s: %s (id %s)%s\n", name, did, res.ID, again)
	return 0
}

// getCommands are the CLI commands that print one API document.
var getCommands = map[string]struct {
	path, help string
	table      func(io.Writer, []byte, time.Time) error
}{
	"status":   {"/api/v1/status", "the running daemon's status: gateway, build, cloud link, outbox depth, plan, local MQTT, services and devices", statusTable},
	"devices":  {"/api/v1/devices", "the running daemon's devices: health, error counts and the latest reading per metric", devicesTable},
	"services": {"/api/v1/services", "the running daemon's services: state, restarts, budget and use", servicesTable},
}

// cmdGet implements `edged status`, `edged devices` and `edged services`.
func cmdGet(ctx context.Context, name string, args []string, stdout, stderr io.Writer) int {
	c := getCommands[name]
	fs := flag.NewFlagSet("edged "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	out := outputFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edged %s [-o table|json|yaml] [--config FILE | --api URL --token-file F]\n\nPrints %s.\n%s\nFlags:\n", name, c.help, outputHelp)
		fs.PrintDefaults()
	}
	if code := parseFlags(fs, args, stdout); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "edged %s: unexpected argument %q\nRun 'edged %s --help' for its flags.\n", name, fs.Arg(0), name)
		return exitUsage
	}
	var doc json.RawMessage
	if _, err := api.call(ctx, http.MethodGet, c.path, nil, &doc); err != nil {
		fmt.Fprintf(stderr, "edged %s: %v\n", name, err)
		return apiExit(err)
	}
	if err := writeDoc(stdout, out.format(stdout), doc, c.table); err != nil {
		fmt.Fprintf(stderr, "edged %s: %v\n", name, err)
		return exitFailure
	}
	return exitOK
}

// outputHelp explains -o in the read commands' help.
const outputHelp = `
Without -o it prints a table on a terminal and the API's JSON otherwise
(pipes, scripts); -o json is that JSON unchanged, -o yaml the same as YAML.
`

// unreachableError is a request that got no answer from the daemon: exit
// code 3 (exitUnreachable).
type unreachableError struct{ err error }

func (e unreachableError) Error() string {
	return e.err.Error() + " (is edged running, with http.listen at that address?)"
}

func (e unreachableError) Unwrap() error { return e.err }

// apiExit is the exit code for a failed API call: 3 when the daemon could
// not be reached, 1 otherwise.
func apiExit(err error) int {
	var u unreachableError
	if errors.As(err, &u) {
		return exitUnreachable
	}
	return exitFailure
}

// callAPI sends one request and decodes the JSON answer into out.
func callAPI(ctx context.Context, method, url, token string, body []byte, out any, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, unreachableError{err}
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d with an unreadable answer: %v", method, url, resp.StatusCode, err)
	}
	return resp.StatusCode, nil
}
