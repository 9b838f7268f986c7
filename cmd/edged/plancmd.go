package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/edged-gateway/edged/internal/progress"
	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/plan"
	"github.com/edged-gateway/edged/sync/uplink"
)

const planUsage = `Usage: edged plan COMMAND [flags] ...

Orchestration plans tell a gateway which devices to poll, which services to
run (with config and budget) and how to sync. A plan is a YAML file signed
with ed25519; gateways accept plans signed by a key in plans.trusted_keys.

  edged plan keygen --out NAME           make a key pair: NAME.key (private, 0600) and NAME.pub
  edged plan check [--config F] PLAN.yaml
                                         check a plan (unsigned) and, with --config, check it
                                         against that gateway's config: every problem with its path
  edged plan sign --key NAME.key [--reset] [--out F] PLAN.yaml
                                         check PLAN.yaml and sign it: writes the envelope (JSON);
                                         --reset with a reset key (plans.reset_keys) lowers the
                                         gateway's version watermark to the plan's version
  edged plan verify --pub NAME.pub [--reset-pub R.pub] [--config F] FILE
                                         check an envelope's signature and the plan inside; with
                                         --config, also check it against that gateway's config
  edged plan apply [--api URL] FILE      apply an envelope on the running daemon (local API) and
                                         show its steps; exit 0 when applied
  edged plan push --url mqtt://HOST:PORT --gateway ID FILE
                                         publish an envelope, retained, on <prefix>/<ID>/plan and
                                         wait for the gateway's status
  edged plan status [-o FORMAT] [--api URL]
                                         the latest plan status of the running daemon

Run "edged plan COMMAND --help" for a command's flags. See README.md for the
plan format.
`

// cmdPlan implements `edged plan …`.
func cmdPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, planUsage)
		return 2
	}
	switch args[0] {
	case "keygen":
		return planKeygen(args[1:], stdout, stderr)
	case "check":
		return planCheck(args[1:], stdout, stderr)
	case "sign":
		return planSign(args[1:], stdout, stderr)
	case "verify":
		return planVerify(args[1:], stdout, stderr)
	case "apply":
		return planApply(ctx, args[1:], stdout, stderr)
	case "push":
		return planPush(ctx, args[1:], stdout, stderr)
	case "status":
		return planStatusCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, planUsage)
		return 0
	}
	fmt.Fprintf(stderr, "edged plan: unknown command %q%s\nRun 'edged plan help' for the list of commands.\n", args[0], didYouMean(args[0], planCommands))
	return exitUsage
}

// planCommands are the subcommands of edged plan, for "did you mean".
var planCommands = []string{"keygen", "check", "sign", "verify", "apply", "push", "status", "help"}

// planFlags is a flag set whose usage prints the synopsis and the flags.
func planFlags(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("edged plan "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: edged plan %s %s\n\n%s\n\nFlags:\n", name, synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args and wants exactly n positional arguments; it returns
// an exit code, or -1 to go on.
func parse(fs *flag.FlagSet, args []string, n int, stdout io.Writer) int {
	if c := parseFlags(fs, args, stdout); c >= 0 {
		return c
	}
	if fs.NArg() != n {
		fs.Usage()
		return 2
	}
	return -1
}

func planKeygen(args []string, stdout, stderr io.Writer) int {
	fs := planFlags("keygen", "--out NAME", "Makes an ed25519 key pair for signing plans: NAME.key (private, mode 0600:\nkeep it off the gateways) and NAME.pub (list it in plans.trusted_keys).", stderr)
	out := fs.String("out", "", "file name without extension (required)")
	force := fs.Bool("force", false, "overwrite existing files")
	if c := parse(fs, args, 0, stdout); c >= 0 {
		return c
	}
	if *out == "" {
		fs.Usage()
		return 2
	}
	for _, f := range []string{*out + ".key", *out + ".pub"} {
		if _, err := os.Stat(f); err == nil && !*force {
			fmt.Fprintf(stderr, "edged plan keygen: %s exists; pass --force to overwrite it (plans signed by the old key will no longer verify)\n", f)
			return 1
		}
	}
	pub, priv, id := plan.GenerateKey()
	if err := plan.WritePrivateKey(*out+".key", priv); err != nil {
		fmt.Fprintf(stderr, "edged plan keygen: %v\n", err)
		return 1
	}
	if err := plan.WritePublicKey(*out+".pub", pub); err != nil {
		fmt.Fprintf(stderr, "edged plan keygen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "key id %s\nprivate key: %s.key (sign plans with it)\npublic key:  %s.pub (add it to plans.trusted_keys)\n", id, *out, *out)
	return 0
}

func planSign(args []string, stdout, stderr io.Writer) int {
	fs := planFlags("sign", "--key NAME.key [--reset] [--out FILE] PLAN.yaml",
		"Checks PLAN.yaml (as edged plan check does without --config) and signs its\nexact bytes. Writes the envelope {\"plan\",\"signature\",\"key_id\"} to --out or\nstdout.\n\nWith --reset, --key is a reset key (listed in the gateways' plans.reset_keys,\nkept offline) and the envelope is a reset plan: a gateway applies it even if\nits version is below the highest it has seen, and lowers that watermark to\nthe plan's version. A reset is applied once, and only within\nplans.max_clock_skew of its signing: push it right away.", stderr)
	key := fs.String("key", "", "private key file (edged plan keygen)")
	out := fs.String("out", "", "write the envelope here instead of stdout")
	force := fs.Bool("force", false, "sign even if the plan fails the checks of edged plan check (loudly)")
	reset := fs.Bool("reset", false, "sign a reset plan with a reset key: lowers the gateway's version watermark to this plan's version")
	if c := parse(fs, args, 1, stdout); c >= 0 {
		return c
	}
	if *key == "" {
		fs.Usage()
		return 2
	}
	priv, err := plan.ReadPrivateKey(*key)
	if err != nil {
		fmt.Fprintf(stderr, "edged plan sign: %v\n", err)
		return 1
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "edged plan sign: %v\n", err)
		return 1
	}
	p, err := plan.Parse(data)
	if err != nil {
		fmt.Fprintf(stderr, "edged plan sign: %s: %v\nnot signed\n", fs.Arg(0), err)
		return 1
	}
	if _, err := checkPlan(p, ""); err != nil {
		if !*force {
			fmt.Fprintf(stderr, "edged plan sign: %s: %v\nnot signed (these are the checks of edged plan check; --force signs anyway)\n", fs.Arg(0), err)
			return 1
		}
		fmt.Fprintf(stderr, "WARNING: edged plan sign --force: signing a plan that fails its checks; gateways will reject it:\n%s: %v\n", fs.Arg(0), err)
	}
	sign := plan.SignAt
	if *reset {
		sign = plan.SignResetAt
	}
	signed := sign(priv, data, time.Now())
	env := signed.Encode()
	if *out == "" {
		stdout.Write(append(env, '\n'))
	} else if err := os.WriteFile(*out, append(env, '\n'), 0o644); err != nil {
		fmt.Fprintf(stderr, "edged plan sign: %v\n", err)
		return 1
	}
	what := "plan"
	if *reset {
		what = "RESET plan (sets the version watermark to its version)"
	}
	fmt.Fprintf(stderr, "signed %s version %d for gateway %s with key %s at %s\n", what, p.Version, p.Gateway, plan.KeyID(priv.Public().(ed25519.PublicKey)), signed.IssuedAt.Format(time.RFC3339))
	if *reset {
		fmt.Fprintln(stderr, "push it now: a gateway takes a reset only within plans.max_clock_skew of its signing, and only once")
	}
	return 0
}

func planCheck(args []string, stdout, stderr io.Writer) int {
	fs := planFlags("check", "[--config FILE] PLAN.yaml",
		"Checks a plan before it is signed: its format, and with --config, what a\ngateway with that config would check: device kinds, pins and addresses,\nservices and their configs, budgets against plans.memory_allowance, the\nsync policy. Lists every problem with its field path; exit 1 if any.", stderr)
	config := fs.String("config", "", "a gateway's config file to check the plan against")
	if c := parse(fs, args, 1, stdout); c >= 0 {
		return c
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "edged plan check: %v\n", err)
		return 1
	}
	p, err := plan.Parse(data)
	if err == nil {
		if _, err = checkPlan(p, *config); errors.Is(err, errConfigFile) {
			fmt.Fprintf(stderr, "edged plan check: %v\n", err)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintf(stdout, "%s: %v\n", fs.Arg(0), err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok: plan version %d for gateway %s; services start in order %v\n", fs.Arg(0), p.Version, p.Gateway, p.Order())
	if *config == "" {
		fmt.Fprintln(stdout, "checked without a gateway config: device kinds, names, pins and addresses, services and their configs, budgets, the sync policy;\nwith --config also: memory budgets against plans.memory_allowance, the gateway's hardware and local_mqtt settings")
	}
	return 0
}

// errConfigFile marks a problem with --config's file rather than the plan.
var errConfigFile = errors.New("gateway config")

// checkPlan runs every check of a parsed plan that a gateway runs before it
// applies it: against the config file at configPath, or, without one,
// against the default config (so every check that does not depend on a
// gateway's own settings runs: service configs included).
func checkPlan(p *plan.Plan, configPath string) (*workload, error) {
	base := defaultConfig()
	base.Gateway.ID = "plan-check"
	if configPath != "" {
		cfg, _, err := loadConfig(configPath, builtinKinds())
		if err != nil {
			return nil, fmt.Errorf("%w %s: %w", errConfigFile, configPath, err)
		}
		base = cfg
	}
	return planWorkload(base, p, builtinKinds(), "artifacts")
}

func planVerify(args []string, stdout, stderr io.Writer) int {
	fs := planFlags("verify", "(--pub NAME.pub ... [--reset-pub R.pub ...] | --config FILE) ENVELOPE",
		"Checks the envelope's signature against the given public keys (or the\ntrusted_keys and reset_keys of a config file) and the plan inside. A reset\nplan must be signed by a reset key. With --config it also\nchecks the plan against that gateway: device kinds, pins and addresses,\nservices and their configs, budgets (artifacts are not fetched).", stderr)
	var pubs, resetPubs multiFlag
	fs.Var(&pubs, "pub", "a trusted public key file (repeat for several)")
	fs.Var(&resetPubs, "reset-pub", "a reset public key file, for reset plans (repeat for several)")
	config := fs.String("config", "", "a gateway's config file: its plans.trusted_keys, and checks against its config")
	if c := parse(fs, args, 1, stdout); c >= 0 {
		return c
	}
	var keys, resetKeys []ed25519.PublicKey
	var cfg *Config
	if *config != "" {
		c, _, err := loadConfig(*config, builtinKinds())
		if err != nil {
			fmt.Fprintf(stderr, "edged plan verify: %s: %v\n", *config, err)
			return 1
		}
		cfg, keys, resetKeys = &c, c.Plans.keys, c.Plans.resetKeys
	}
	for _, f := range pubs {
		k, err := plan.ReadPublicKey(f)
		if err != nil {
			fmt.Fprintf(stderr, "edged plan verify: %v\n", err)
			return 1
		}
		keys = append(keys, k)
	}
	for _, f := range resetPubs {
		k, err := plan.ReadPublicKey(f)
		if err != nil {
			fmt.Fprintf(stderr, "edged plan verify: %v\n", err)
			return 1
		}
		resetKeys = append(resetKeys, k)
	}
	if len(keys) == 0 && len(resetKeys) == 0 {
		fs.Usage()
		return 2
	}
	trust, err := plan.NewTrust(keys...)
	if err == nil {
		err = trust.AddResetKeys(resetKeys...)
	}
	if err != nil {
		fmt.Fprintf(stderr, "edged plan verify: %v\n", err)
		return 1
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "edged plan verify: %v\n", err)
		return 1
	}
	env, err := plan.DecodeEnvelope(bytes.TrimSpace(data))
	if err != nil {
		fmt.Fprintf(stderr, "edged plan verify: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	p, err := trust.Verify(env)
	if err != nil {
		fmt.Fprintf(stderr, "edged plan verify: %s: %v\n", fs.Arg(0), err)
		return 1
	}
	if cfg != nil {
		if _, err := planWorkload(*cfg, p, builtinKinds(), "artifacts"); err != nil {
			fmt.Fprintf(stderr, "edged plan verify: %s: against %s: %v\n", fs.Arg(0), *config, err)
			return 1
		}
	}
	signedAt := "no issued_at: signed by an older edged"
	if !env.IssuedAt.IsZero() {
		signedAt = "at " + env.IssuedAt.Format(time.RFC3339)
	}
	if env.Reset {
		fmt.Fprintf(stdout, "ok: RESET plan version %d for gateway %s, signed by reset key %s (%s): a gateway applies it once, within plans.max_clock_skew of that time, and sets its version watermark to %d; services start in order %v\n",
			p.Version, p.Gateway, env.KeyID, signedAt, p.Version, p.Order())
		return 0
	}
	fmt.Fprintf(stdout, "ok: plan version %d for gateway %s, signed by key %s (%s); services start in order %v\n", p.Version, p.Gateway, env.KeyID, signedAt, p.Order())
	return 0
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// readEnvelope reads an envelope file and checks that it decodes.
func readEnvelope(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSpace(data)
	if _, err := plan.DecodeEnvelope(data); err != nil {
		return nil, fmt.Errorf("%s: %w (sign a plan with `edged plan sign`)", path, err)
	}
	return data, nil
}

func planApply(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := planFlags("apply", "[--config FILE | --api URL --token-file F] ENVELOPE",
		"Applies a signed plan on the running daemon through its local API, the\nsame way as a plan from the cloud, and shows the steps (with a progress bar\nfor artifact downloads). Exit 0 when applied, 1 when rejected or rolled back.", stderr)
	api := apiFlags(fs)
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the apply (downloads included)")
	if c := parse(fs, args, 1, stdout); c >= 0 {
		return c
	}
	env, err := readEnvelope(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "edged plan apply: %v\n", err)
		return 1
	}
	sum := sha256.Sum256(env)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	view := &progressView{w: stderr, bars: map[string]func(int64, int64){}, full: map[string]bool{}}
	watched := make(chan struct{})
	go func() { // show the download progress while the daemon works
		defer close(watched)
		view.watch(ctx, api, hex.EncodeToString(sum[:]))
	}()
	var st orchestrator.Status
	code, err := api.callTimeout(ctx, http.MethodPost, "/api/v1/plan", env, &st, *timeout)
	cancel()
	<-watched
	view.show(st.Steps) // the downloads' last state (a quick one may not have been seen)
	if err != nil {
		fmt.Fprintf(stderr, "edged plan apply: %v\n", err)
		return apiExit(err)
	}
	if code == http.StatusNotFound || st.State == "" {
		fmt.Fprintf(stderr, "edged plan apply: HTTP %d: the daemon does not take plans (set plans.trusted_keys in its config)\n", code)
		return 1
	}
	printStatus(stdout, st)
	if st.State != orchestrator.StateApplied {
		return 1
	}
	return 0
}

// progressView draws a progress bar per download step of a plan.
type progressView struct {
	w    io.Writer
	bars map[string]func(done, total int64)
	full map[string]bool // steps whose bar reached 100% (and ended its line)
}

// watch polls the plan status of the envelope with sha256 sum and draws
// its downloads until ctx ends or the plan is done.
func (v *progressView) watch(ctx context.Context, api *apiClient, sum string) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var st orchestrator.Status
		if _, err := api.call(ctx, http.MethodGet, "/api/v1/plan", nil, &st); err != nil || st.SHA256 != sum {
			continue
		}
		v.show(st.Steps)
		if st.Terminal() {
			return
		}
	}
}

// show draws the download steps among steps.
func (v *progressView) show(steps []orchestrator.Step) {
	for _, s := range steps {
		if !strings.HasPrefix(s.Name, "fetch ") || s.Total == 0 || v.full[s.Name] {
			continue
		}
		v.full[s.Name] = s.Done == s.Total
		bar := v.bars[s.Name]
		if bar == nil {
			bar = progress.Bar(v.w, s.Name)
			v.bars[s.Name] = bar
		}
		bar(s.Done, s.Total)
	}
}

// printStatus writes a plan status for people.
func printStatus(w io.Writer, st orchestrator.Status) {
	fmt.Fprintf(w, "plan %d: %s", st.Version, st.State)
	if st.KeyID != "" {
		fmt.Fprintf(w, " (key %s, from %s)", st.KeyID, st.Source)
	}
	fmt.Fprintf(w, "; running plan %d\n", st.Applied)
	if st.Reset != "" {
		fmt.Fprintf(w, "reset: %s\n", st.Reset)
	}
	for _, s := range st.Steps {
		fmt.Fprintf(w, "  %-7s %-20s %8.1f ms  %s\n", s.State, s.Name, s.MS, s.Detail)
	}
	if st.Error != "" {
		fmt.Fprintf(w, "error: %s\n", st.Error)
	}
	for _, p := range st.Problems {
		fmt.Fprintf(w, "  %s\n", p)
	}
}

func planStatusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := planFlags("status", "[-o table|json|yaml] [--config FILE | --api URL]", "Shows the latest plan the running daemon handled: version, state, steps, error.\n"+strings.TrimSpace(outputHelp), stderr)
	api := apiFlags(fs)
	out := outputFlags(fs)
	asJSON := fs.Bool("json", false, "same as -o json")
	if c := parse(fs, args, 0, stdout); c >= 0 {
		return c
	}
	var raw json.RawMessage
	code, err := api.call(ctx, http.MethodGet, "/api/v1/plan", nil, &raw)
	if err != nil {
		fmt.Fprintf(stderr, "edged plan status: %v\n", err)
		return apiExit(err)
	}
	if code != http.StatusOK {
		fmt.Fprintf(stderr, "edged plan status: HTTP %d: %s\n", code, raw)
		return 1
	}
	if *asJSON {
		out.v = outJSON
	}
	if err := writeDoc(stdout, out.format(stdout), raw, planTable); err != nil {
		fmt.Fprintf(stderr, "edged plan status: %v\n", err)
		return 1
	}
	return 0
}

func planPush(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := planFlags("push", "--url mqtt://HOST:PORT --gateway ID [flags] ENVELOPE",
		"Publishes a signed plan, retained at QoS 1, on <topic-prefix>/<gateway>/plan of\nthe cloud broker (where the gateway subscribes), then waits for the\ngateway's retained status on …/plan/status. Exit 0 when the gateway applied\nit, 1 when it rejected or rolled it back or did not answer within --wait.", stderr)
	u := fs.String("url", "", "the cloud broker: mqtt://host:1883 or mqtts://host:8883 (required)")
	gw := fs.String("gateway", "", "the gateway id (required)")
	prefix := fs.String("topic-prefix", "edged", "the gateways' cloud.topic_prefix")
	user := fs.String("username", "", "broker user name")
	pwFile := fs.String("password-file", "", "file with the broker password")
	ca := fs.String("ca-file", "", "CA certificate (PEM) for mqtts://")
	cert := fs.String("cert-file", "", "client certificate (PEM) for mutual TLS")
	key := fs.String("key-file", "", "client key (PEM) for mutual TLS")
	wait := fs.Duration("wait", time.Minute, "how long to wait for the gateway's status; 0 publishes and returns")
	connectTimeout := fs.Duration("connect-timeout", 30*time.Second, "how long to try to connect to the broker")
	if c := parse(fs, args, 1, stdout); c >= 0 {
		return c
	}
	if *u == "" || *gw == "" {
		fs.Usage()
		return 2
	}
	env, err := readEnvelope(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "edged plan push: %v\n", err)
		return 1
	}
	pw, err := readSecret("--password-file", *pwFile)
	if err != nil {
		fmt.Fprintf(stderr, "edged plan push: %v\n", err)
		return 1
	}
	rnd := sha256.Sum256([]byte(time.Now().String()))
	link, err := uplink.New(uplink.Config{URL: *u, ClientID: "edged-plan-push-" + hex.EncodeToString(rnd[:4]), Username: *user, Password: pw,
		CAFile: *ca, CertFile: *cert, KeyFile: *key})
	if err != nil {
		fmt.Fprintf(stderr, "edged plan push: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { link.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	cctx, ccancel := context.WithTimeout(ctx, *connectTimeout)
	_, err = link.WaitConnected(cctx)
	ccancel()
	if err != nil {
		fmt.Fprintf(stderr, "edged plan push: cannot connect to %s: %v (last error: %s)\n", *u, err, link.Stats().LastError)
		return 1
	}
	sum := sha256.Sum256(env)
	want := hex.EncodeToString(sum[:])
	statuses := make(chan orchestrator.Status, 16)
	base := *prefix + "/" + *gw + "/plan"
	if *wait > 0 {
		if err := link.Subscribe(base+"/status", 1, func(_ string, payload []byte) {
			var st orchestrator.Status
			if json.Unmarshal(payload, &st) == nil && st.SHA256 == want {
				select {
				case statuses <- st:
				default:
				}
			}
		}); err != nil {
			fmt.Fprintf(stderr, "edged plan push: %v\n", err)
			return 1
		}
	}
	d, err := link.Publish(base, env, 1, true)
	if err == nil {
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		err = d.Wait(wctx)
		wcancel()
	}
	if err != nil {
		fmt.Fprintf(stderr, "edged plan push: publish on %s: %v\n", base, err)
		return 1
	}
	fmt.Fprintf(stderr, "published on %s (retained); envelope sha256 %s\n", base, want[:16])
	if *wait == 0 {
		return 0
	}
	timer := time.NewTimer(*wait)
	defer timer.Stop()
	for {
		select {
		case st := <-statuses:
			if !st.Terminal() {
				continue
			}
			printStatus(stdout, st)
			if st.State != orchestrator.StateApplied {
				return 1
			}
			return 0
		case <-timer.C:
			fmt.Fprintf(stderr, "edged plan push: no final status from gateway %s within %s: is it online and subscribed (plans.trusted_keys set)? The plan stays retained; it is applied when the gateway connects.\n", *gw, *wait)
			return 1
		case <-ctx.Done():
			return 1
		}
	}
}
