package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/runtime/dataplane"
	"github.com/edged-gateway/edged/runtime/ingest"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/sdk/pluginapi"
	"github.com/edged-gateway/edged/services/aggregate"
	"github.com/edged-gateway/edged/services/anomaly"
	"github.com/edged-gateway/edged/services/plugin"
	"github.com/edged-gateway/edged/services/rules"
	"github.com/edged-gateway/edged/sync/outbox"
)

// ServiceConfig is one microservice to run as a plugin process.
type ServiceConfig struct {
	// Name is the instance name (unique), e.g. porch-rules.
	Name string `yaml:"name"`
	// Kind is a built-in service (aggregate, rules, anomaly); or leave it
	// empty and give Path and SHA256 for a third-party binary.
	Kind   string `yaml:"kind"`
	Path   string `yaml:"path"`
	SHA256 string `yaml:"sha256"`
	// Config is the service's own configuration (see its sample.yaml).
	Config yaml.Node `yaml:"config"`
	// Subscribe are filters over device/metric: "porch/temperature", "boiler/+", "#".
	Subscribe []string `yaml:"subscribe"`
	// Emits are filters over what the service emits (device/metric), for
	// the chain check (cycles, service_chain.max_depth). Optional: a
	// built-in's are derived from its config; a third-party service
	// without them is not seen feeding others by the check.
	Emits []string `yaml:"emits"`
	// Budget bounds the process; every field is optional.
	Budget BudgetConfig `yaml:"budget"`
	// StartTimeout bounds start-up and configuration, and is how long a
	// plan waits for the service to be healthy (its health gate); 10s.
	StartTimeout time.Duration `yaml:"start_timeout"`
	// HealthEvery is how often the service's health is checked (10s);
	// UnhealthyAfter is how many failed checks in a row restart it (3),
	// like a crash: with back-off and counted towards the breaker.
	HealthEvery    time.Duration `yaml:"health_every"`
	UnhealthyAfter int           `yaml:"unhealthy_after"`
	// User is the account the service runs as when edged can change users:
	// default edged-svc when that user exists, else nobody (65534);
	// "dynamic" gives the service a uid and gid of its own (61184-65519).
	User string `yaml:"user"`
	// Env is the service's environment beyond PATH, LANG, LC_ALL and TZ;
	// nothing else of edged's environment is passed on.
	Env map[string]string `yaml:"env"`
	// MaxLag is how far (in readings) the service may fall behind the log
	// before its oldest unread readings are skipped, counted in status as
	// skipped_for_lag and logged with its name; default 10000. A slow
	// service lags on its own cursor and never holds up the others.
	MaxLag uint64 `yaml:"max_lag"`
}

// serviceStateDir holds, below data_dir, each service's own writable
// directory (data_dir/services/NAME, 0700, the service user's).
const serviceStateDir = "services"

// defaultServiceUser is the account services run as when edged is root
// and a service names none; fallbackServiceUser when it does not exist.
const (
	defaultServiceUser  = "edged-svc"
	fallbackServiceUser = "nobody"
	nobodyID            = 65534
)

// lookupOwner resolves a user name (or numeric uid) to its uid and primary gid.
func lookupOwner(name string) (*pluginapi.Owner, error) {
	u, err := user.Lookup(name)
	if err != nil {
		if _, nerr := strconv.Atoi(name); nerr == nil {
			u, err = user.LookupId(name)
		}
	}
	if err != nil {
		return nil, err
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return &pluginapi.Owner{UID: uid, GID: gid}, nil
}

// defaultServiceOwner is who services run as by default: edged-svc, else
// nobody, else uid and gid 65534.
func defaultServiceOwner() (*pluginapi.Owner, string) {
	for _, n := range []string{defaultServiceUser, fallbackServiceUser} {
		if o, err := lookupOwner(n); err == nil {
			return o, n
		}
	}
	return &pluginapi.Owner{UID: nobodyID, GID: nobodyID}, strconv.Itoa(nobodyID)
}

// ServiceUsageConfig makes each running service's memory and CPU readings
// of the gateway itself: device gateway.id (kind gateway in the API),
// metrics <service>_memory_bytes (B, rss_bytes) and <service>_cpu_percent
// (%, of one core), stored and sent to the cloud like any reading.
type ServiceUsageConfig struct {
	// Every is how often; 0 (the default) is off.
	Every time.Duration `yaml:"every"`
}

// ServiceChainConfig bounds service chains: a service's emits go to the
// other services that subscribe to them (never back to itself), each
// emit one hop deeper than the deepest reading its service was handed; a
// reading MaxDepth hops deep is stored and sent but handed to no service
// (counted in status and /metrics), so a cycle of services ends.
type ServiceChainConfig struct {
	// MaxDepth is the longest chain; default 4 (1 to 64).
	MaxDepth int `yaml:"max_depth"`
}

// BudgetConfig is a service's resource budget.
type BudgetConfig struct {
	Memory yamlconf.Size `yaml:"memory"` // e.g. 64Mi
	CPU    float64       `yaml:"cpu"`    // cores, e.g. 0.5
	Pids   int64         `yaml:"pids"`   // e.g. 64
}

// builtinService is a service that ships inside this binary.
type builtinService struct {
	help  string
	check func(config []byte) error
	build plugin.New
}

// builtinServices is the one table of built-in services.
func builtinServices() map[string]builtinService {
	return map[string]builtinService{
		"aggregate": {
			help:  "tumbling windows per device/metric: min, max, mean, count, last",
			check: func(b []byte) error { _, err := aggregate.DecodeConfig(b); return err },
			build: func(b []byte) (plugin.Logic, error) {
				c, err := aggregate.DecodeConfig(b)
				if err != nil {
					return nil, err
				}
				return aggregate.New(c)
			},
		},
		"rules": {
			help:  "automation: thresholds with hysteresis and hold time, rate of change, device offline → commands or alerts",
			check: func(b []byte) error { _, err := rules.DecodeConfig(b); return err },
			build: func(b []byte) (plugin.Logic, error) {
				c, err := rules.DecodeConfig(b)
				if err != nil {
					return nil, err
				}
				return rules.New(c)
			},
		},
		"anomaly": {
			help:  "rolling EWMA z-score per metric, emitting anomaly scores",
			check: func(b []byte) error { _, err := anomaly.DecodeConfig(b); return err },
			build: func(b []byte) (plugin.Logic, error) {
				c, err := anomaly.DecodeConfig(b)
				if err != nil {
					return nil, err
				}
				return anomaly.New(c)
			},
		},
	}
}

// nodeJSON turns a YAML config block into the JSON a service receives.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	if n.Kind == 0 {
		return []byte("{}"), nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// jsonLine is the "(line N)" a service's decoder adds: a line of the JSON
// it was given, which is one line, so it says nothing to the user.
var jsonLine = regexp.MustCompile(` \(line \d+\)$`)

// configLine turns a service's config error into the message and the line
// in the file the config block came from (the config file or the plan): the
// line of the key the message names ("anomaly config: warmup: -5 is
// negative"), else the block's own.
func configLine(n *yaml.Node, msg string) (string, int) {
	msg = jsonLine.ReplaceAllString(msg, "")
	line := n.Line
	if _, rest, ok := strings.Cut(msg, " config: "); ok && n.Kind == yaml.MappingNode {
		key, _, _ := strings.Cut(rest, ":")
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line = n.Content[i].Line
			}
		}
	}
	return msg, line
}

// validateServices checks services[] and builds the supervisor's specs.
func (c *Config) validateServices(errs *yamlconf.Errors) []supervisor.Spec {
	if e := c.ServiceUsage.Every; e < 0 || (e > 0 && e < time.Second) || e > 24*time.Hour {
		errs.Add("service_usage.every", "%s is out of range: use 1s to 24h, or 0 (the default) for no usage readings", e)
	}
	if m := c.ServiceChain.MaxDepth; m < 0 || m > supervisor.MaxMaxDepth {
		errs.Add("service_chain.max_depth", "%d is out of range: use 1 to %d service hops (default %d)", m, supervisor.MaxMaxDepth, supervisor.DefaultMaxDepth)
	}
	kinds := builtinServices()
	var specs []supervisor.Spec
	var dynamic []int // indexes in specs of user: dynamic
	seen := map[string]int{}
	for i, s := range c.Services {
		p := yamlconf.Index("services", i)
		if !nameRE.MatchString(s.Name) {
			errs.Add(p+".name", "%q is not a valid name: use letters, digits, '.', '_' and '-'", s.Name)
		} else if len(servicePrefix)+len(s.Name) > outbox.MaxCursorName {
			errs.Add(p+".name", "%q is %d characters: use at most %d (it names the service's cursor in the log, %s<name>)",
				s.Name, len(s.Name), outbox.MaxCursorName-len(servicePrefix), servicePrefix)
		} else if j, dup := seen[s.Name]; dup {
			errs.Add(p+".name", "%q is already used by services[%d]: names must be unique", s.Name, j)
		} else {
			seen[s.Name] = i
		}
		cfgJSON, err := nodeJSON(&s.Config)
		if err != nil {
			errs.Add(p+".config", "%v", err)
			continue
		}
		spec := supervisor.Spec{Name: s.Name, Config: cfgJSON, Subscribe: s.Subscribe, StartTimeout: s.StartTimeout,
			HealthEvery: s.HealthEvery, UnhealthyAfter: s.UnhealthyAfter,
			Budget: budget.Budget{Memory: int64(s.Budget.Memory), CPU: s.Budget.CPU, Pids: s.Budget.Pids}}
		if s.StartTimeout < 0 || s.StartTimeout > 10*time.Minute {
			errs.Add(p+".start_timeout", "%s is out of range: use up to 10m (default 10s)", s.StartTimeout)
		}
		if s.HealthEvery < 0 || (s.HealthEvery > 0 && s.HealthEvery < 100*time.Millisecond) || s.HealthEvery > time.Hour {
			errs.Add(p+".health_every", "%s is out of range: use 100ms to 1h (default 10s)", s.HealthEvery)
		}
		if s.UnhealthyAfter < 0 || s.UnhealthyAfter > 1000 {
			errs.Add(p+".unhealthy_after", "%d is out of range: use 1 to 1000 failed checks in a row (default 3)", s.UnhealthyAfter)
		}
		switch {
		case s.Kind != "" && s.Path != "":
			errs.Add(p, "kind (a built-in) and path (a binary) exclude each other: keep one")
			continue
		case s.Kind != "":
			k, ok := kinds[s.Kind]
			if !ok {
				errs.Add(p+".kind", "%q is not a built-in service: use one of %s, or path (url in a plan) and sha256 for your own binary", s.Kind, strings.Join(serviceNames(kinds), ", "))
				continue
			}
			if err := k.check(cfgJSON); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					msg, at := configLine(&s.Config, line)
					*errs = append(*errs, yamlconf.FieldError{Path: p + ".config", Line: at, Msg: msg})
				}
			}
			kind := s.Kind
			spec.Command = func() *exec.Cmd {
				exe, err := os.Executable()
				if err != nil {
					exe = os.Args[0]
				}
				return exec.Command(exe, "service", kind)
			}
		case s.Path != "":
			sum, err := hex.DecodeString(s.SHA256)
			if err != nil || len(sum) != 32 {
				errs.Add(p+".sha256", "%q is not a sha256 (64 hex digits): run sha256sum %s", s.SHA256, s.Path)
				continue
			}
			path := s.Path
			spec.Command = func() *exec.Cmd { return exec.Command(path) }
			spec.Checksum = sum
		default:
			errs.Add(p+".kind", "is empty: name a built-in service (%s) or give path (url in a plan) and sha256", strings.Join(serviceNames(kinds), ", "))
			continue
		}
		if len(s.Subscribe) == 0 {
			errs.Add(p+".subscribe", "is empty, so the service would get no readings: e.g. subscribe: [\"porch/temperature\", \"boiler/+\"]")
		}
		for j, f := range s.Subscribe {
			if err := topic.ValidFilter(f); err != nil {
				errs.Add(fmt.Sprintf("%s.subscribe[%d]", p, j), "%v", err)
			}
		}
		if err := spec.Budget.Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				errs.Add(p+".budget", "%s", line)
			}
		}
		if s.User == dynamicUser {
			dynamic = append(dynamic, len(specs))
		} else if s.User != "" {
			o, err := lookupOwner(s.User)
			switch {
			case err != nil:
				errs.Add(p+".user", "%q is not a user of this system (%v): create it (useradd --system --no-create-home %s) or leave user out to use %s, else nobody", s.User, err, s.User, defaultServiceUser)
			case o.UID == 0:
				errs.Add(p+".user", "%q is root: a service must not run as root; leave user out to use %s, else nobody", s.User, defaultServiceUser)
			default:
				spec.User = o
			}
		}
		if abs, err := filepath.Abs(filepath.Join(c.DataDir, serviceStateDir, s.Name)); err == nil {
			spec.StateDir = abs
		}
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(s.Env[k], 0) {
				errs.Add(p+".env", "%q is not a valid variable name: use letters, digits and '_'", k)
				continue
			}
			spec.Env = append(spec.Env, k+"="+s.Env[k])
		}
		specs = append(specs, spec)
	}
	allocateDynamicUsers(specs, dynamic)
	c.checkServiceChains(errs) // servicegraph.go
	return specs
}

// dynamicUser as a service's user gives it a uid and gid of its own from
// [dynamicFirst, dynamicFirst+dynamicCount) (systemd's DynamicUser range),
// derived from its name, so stable across restarts and plans: a service
// then cannot signal, trace or read the state of another.
const (
	dynamicUser  = "dynamic"
	dynamicFirst = 61184
	dynamicCount = 4336 // up to 65519
)

// allocateDynamicUsers gives the specs at the indexes their own uid: the
// name's hash in the range, moved to the next free one on a collision (with
// another service here, or a user of the system), in name order.
func allocateDynamicUsers(specs []supervisor.Spec, idx []int) {
	slices.SortFunc(idx, func(a, b int) int { return strings.Compare(specs[a].Name, specs[b].Name) })
	taken := map[int]bool{}
	for _, i := range idx {
		h := fnv.New32a()
		h.Write([]byte(specs[i].Name))
		n := int(h.Sum32() % dynamicCount)
		for k := 0; k < dynamicCount; k++ {
			uid := dynamicFirst + (n+k)%dynamicCount
			if taken[uid] {
				continue
			}
			if _, err := user.LookupId(strconv.Itoa(uid)); err == nil {
				continue // a real user of the system
			}
			taken[uid] = true
			specs[i].User = &pluginapi.Owner{UID: uid, GID: uid}
			break
		}
	}
}

func serviceNames(kinds map[string]builtinService) []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// cmdService implements `edged service KIND` (what the supervisor runs
// for a built-in service) and `edged service restart NAME`.
func cmdService(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) >= 1 && args[0] == "restart" {
		return cmdServiceRestart(ctx, args[1:], stdout, stderr)
	}
	kinds := builtinServices()
	if len(args) >= 1 && suggest(args[0], []string{"restart"}) == "restart" {
		fmt.Fprintf(stderr, "edged service: unknown subcommand %q (did you mean \"restart\"?)\n", args[0])
		return exitUsage
	}
	if len(args) != 1 || kinds[args[0]].build == nil {
		fmt.Fprintf(stderr, "Usage:\n  edged service restart NAME   restart a service of the running daemon (also after it failed)\n  edged service KIND           run a built-in service (%s); the daemon starts these itself\n",
			strings.Join(serviceNames(kinds), ", "))
		return 2
	}
	plugin.Serve(args[0], kinds[args[0]].build)
	return 0
}

// serviceCommand runs a service's command through the same path as cloud
// and local commands (the supervisor made its id unique).
func serviceCommand(exec *commands.Executor) func(ctx context.Context, service string, c pluginapi.Command) pluginapi.Result {
	return func(ctx context.Context, service string, c pluginapi.Command) pluginapi.Result {
		var v any
		if len(c.Value) > 0 {
			if err := json.Unmarshal(c.Value, &v); err != nil {
				return pluginapi.Result{Error: fmt.Sprintf("value is not JSON: %v", err)}
			}
		}
		res := exec.Run(ctx, c.Device, commands.Command{ID: c.ID, Action: c.Action, Value: v})
		return pluginapi.Result{OK: res.OK, Error: res.Error}
	}
}

// cmdServiceRestart implements `edged service restart NAME`.
func cmdServiceRestart(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edged service restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := apiFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: edged service restart [--config FILE | --api URL --token-file F] NAME\n\nRestarts a service of the running daemon now; a failed one (its circuit breaker open) runs again.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if c := parseFlags(fs, args, stdout); c >= 0 {
		return c
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	var res map[string]any
	code, err := api.call(ctx, http.MethodPost, "/api/v1/services/"+url.PathEscape(fs.Arg(0))+"/restart", nil, &res)
	if err != nil {
		fmt.Fprintf(stderr, "edged service restart: %v\n", err)
		return apiExit(err)
	}
	if code != http.StatusOK {
		fmt.Fprintf(stderr, "edged service restart %s: HTTP %d: %v\n", fs.Arg(0), code, res["error"])
		return 1
	}
	fmt.Fprintf(stdout, "%s: restarting\n", fs.Arg(0))
	return 0
}

// wireServices builds the supervisor when services are configured: their
// budgets, the readings they subscribe to (from d.sink, which it wraps),
// and where their emits and commands go.
func (d *daemon) wireServices() error {
	if len(d.cfg.specs) == 0 && d.plans == nil {
		return nil
	}
	budgets := d.plans != nil // a plan may bring budgets at any time
	for _, sp := range d.cfg.specs {
		budgets = budgets || sp.Budget != (budget.Budget{})
	}
	var mgr *budget.Manager
	if budgets {
		m, err := budget.New(budget.Config{Parent: budgetParent(d.cfg.DataDir), Logger: d.log.With("component", "budget")})
		if err != nil {
			return fmt.Errorf("services: budgets: %w", err)
		}
		mgr = m
		level := slog.LevelInfo
		if m.Mode() == budget.ModeRlimit || m.Mode() == budget.ModeNone {
			level = slog.LevelWarn
		}
		d.log.Log(context.Background(), level, "service budgets", "enforcement", m.Mode(), "reason", m.Reason())
	}
	sandbox, sandboxUser := serviceSandbox(d.log)
	d.checkStateDirs(sandbox)
	sup, err := supervisor.New(supervisor.Config{
		Budgets:  mgr,
		Sandbox:  sandbox,
		MaxDepth: d.cfg.ServiceChain.MaxDepth,
		OnEmit: func(service string, rs []reading.Reading) {
			done := make(chan struct{})
			d.emits.Submit(context.Background(), rs, true, func(error) { close(done) })
			<-done // the service's emits wait for the outbox: back-pressure
		},
		OnCommand: func(ctx context.Context, service string, c pluginapi.Command) pluginapi.Result {
			return serviceCommand(d.exec)(ctx, service, c) // d.exec is built after the services
		},
		LogLinesPerSecond: d.cfg.Log.Services.LinesPerSecond,
		LogBytesPerSecond: int64(d.cfg.Log.Services.BytesPerSecond),
		Logger:            d.log.With("component", "services"),
	}, d.cfg.specs)
	if err != nil {
		return fmt.Errorf("services: %w", err)
	}
	d.sup, d.budgets = sup, mgr
	d.log.Info("service sandbox", "user", sandboxUser, "shim", sandbox.Shim != "")
	// Emitted readings are appended to the log like any other (and seen
	// by the API and the console); each service reads the log through
	// its own cursor (runtime/dataplane feeds), so emits reach the other
	// services that subscribe to them: the supervisor never hands a
	// service its own emits and stops a chain at
	// service_chain.max_depth (hops are stored with each reading), so
	// services chain but never loop forever.
	d.emits = ingest.New(d.sink, ingest.Config{Logger: d.log.With("component", "service-emits")})
	d.feeds = dataplane.NewFeeds(sup, dataplane.FeedConfig{Logger: d.log.With("component", "service-feeds")})
	return d.setFeeds(&d.cfg, d.cfg.specs)
}

// setFeeds makes the service feeds those of specs (their cursors exist:
// setCursors ran with them).
func (d *daemon) setFeeds(cfg *Config, specs []supervisor.Spec) error {
	if d.feeds == nil {
		return nil
	}
	maxLag := map[string]uint64{}
	for _, s := range cfg.Services {
		maxLag[s.Name] = s.MaxLag
	}
	var fs []dataplane.FeedSpec
	for _, sp := range specs {
		cur, err := d.outbox.Cursor(servicePrefix + sp.Name)
		if err != nil {
			return fmt.Errorf("service %s: %w", sp.Name, err)
		}
		fs = append(fs, dataplane.FeedSpec{Service: sp.Name, Cursor: cur, MaxLag: maxLag[sp.Name]})
	}
	return d.feeds.Set(fs)
}

// runFeeds stops the service feeds when ctx ends (they started with
// wireServices and change with plans).
func (d *daemon) runFeeds(ctx context.Context) error {
	<-ctx.Done()
	d.feeds.Stop()
	d.feeds.Wait()
	return nil
}

// serviceSandbox is how services are confined: edged re-executes itself
// as their exec shim, and when it can change users (root, or the
// capabilities deploy/edged.service grants) it runs them as the default
// service user (see ServiceConfig.User); always with a clean environment.
func serviceSandbox(log *slog.Logger) (supervisor.Sandbox, string) {
	var sb supervisor.Sandbox
	if exe, err := os.Executable(); err == nil {
		sb.Shim = exe
	} else {
		log.Warn("services start without the exec shim: their budget applies only after they start", "err", err)
	}
	if !supervisor.CanSetUser() {
		log.Warn("services run as edged's own user and could read its data dir: run edged as root or give it CAP_SETUID, CAP_SETGID, CAP_CHOWN and CAP_KILL (AmbientCapabilities= in deploy/edged.service)",
			"uid", os.Geteuid())
		return sb, "edged's own (" + strconv.Itoa(os.Geteuid()) + ")"
	}
	o, name := defaultServiceOwner()
	sb.User = o
	return sb, name
}

// checkStateDirs makes data_dir/services (0711) and warns when the service
// user cannot get through data_dir to its state directory there.
func (d *daemon) checkStateDirs(sb supervisor.Sandbox) {
	dir := filepath.Join(d.cfg.DataDir, serviceStateDir)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		d.log.Warn("services get no state directory", "dir", dir, "err", err)
		return
	}
	os.Chmod(dir, 0o711)
	if sb.User == nil {
		return
	}
	if fi, err := os.Stat(d.cfg.DataDir); err == nil && fi.Mode().Perm()&0o001 == 0 {
		d.log.Warn("services cannot reach their state directories: data_dir is not searchable by other users; chmod o+x it (StateDirectoryMode=0751 in deploy/edged.service); every file edged keeps there is 0600",
			"data_dir", d.cfg.DataDir, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
}

// budgetParent names the cgroup that holds this daemon's service groups,
// after its data dir: at start a daemon removes the groups it finds there
// (left by a killed predecessor), so two daemons on one host (other data
// dirs) must not share it. One data dir has one daemon (the outbox is
// locked).
func budgetParent(dataDir string) string {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		abs = dataDir
	}
	sum := sha256.Sum256([]byte(abs))
	return budget.DefaultParent + "-" + hex.EncodeToString(sum[:4])
}

// publishUsage turns each running service's memory and CPU into readings
// of the gateway itself (see ServiceUsageConfig) every service_usage.every;
// with that 0 it only waits for ctx.
func (d *daemon) publishUsage(ctx context.Context) error {
	every := d.cfg.ServiceUsage.Every
	if every <= 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			var rs []reading.Reading
			for _, st := range d.sup.Status() {
				if st.Pid == 0 {
					continue
				}
				rs = append(rs,
					reading.Reading{Device: d.cfg.Gateway.ID, Metric: st.Name + "_memory_bytes", Value: float64(st.RSS), Unit: "B", Time: now},
					reading.Reading{Device: d.cfg.Gateway.ID, Metric: st.Name + "_cpu_percent", Value: st.CPUPercent, Unit: "%", Time: now})
			}
			if len(rs) > 0 {
				d.emits.Submit(ctx, rs, false, nil)
			}
		}
	}
}
