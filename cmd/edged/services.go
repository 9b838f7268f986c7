package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"edged/internal/topic"
	"edged/internal/yamlconf"
	"edged/reading"
	"edged/runtime/budget"
	"edged/runtime/commands"
	"edged/runtime/ingest"
	"edged/runtime/pluginapi"
	"edged/runtime/supervisor"
	"edged/services/aggregate"
	"edged/services/anomaly"
	"edged/services/plugin"
	"edged/services/rules"
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
	// Budget bounds the process; every field is optional.
	Budget BudgetConfig `yaml:"budget"`
	// StartTimeout bounds start-up and configuration, and is how long a
	// plan waits for the service to be healthy (its health gate); 10s.
	StartTimeout time.Duration `yaml:"start_timeout"`
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

// validateServices checks services[] and builds the supervisor's specs.
func (c *Config) validateServices(errs *yamlconf.Errors) []supervisor.Spec {
	kinds := builtinServices()
	var specs []supervisor.Spec
	seen := map[string]int{}
	for i, s := range c.Services {
		p := yamlconf.Index("services", i)
		if !nameRE.MatchString(s.Name) {
			errs.Add(p+".name", "%q is not a valid name: use letters, digits, '.', '_' and '-'", s.Name)
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
			Budget: budget.Budget{Memory: int64(s.Budget.Memory), CPU: s.Budget.CPU, Pids: s.Budget.Pids}}
		if s.StartTimeout < 0 || s.StartTimeout > 10*time.Minute {
			errs.Add(p+".start_timeout", "%s is out of range: use up to 10m (default 10s)", s.StartTimeout)
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
					errs.Add(p+".config", "%s", line)
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
		specs = append(specs, spec)
	}
	return specs
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
	if len(args) != 1 || kinds[args[0]].build == nil {
		fmt.Fprintf(stderr, "Usage:\n  edged service restart NAME   restart a service of the running daemon (also after it failed)\n  edged service KIND           run a built-in service (%s); the daemon starts these itself\n",
			strings.Join(serviceNames(kinds), ", "))
		return 2
	}
	plugin.Serve(args[0], kinds[args[0]].build)
	return 0
}

// feedSink stores readings, then hands them to the services that
// subscribe to them.
type feedSink struct {
	store interface {
		Append(ctx context.Context, rs []reading.Reading) error
	}
	sup *supervisor.Supervisor
}

func (s feedSink) Append(ctx context.Context, rs []reading.Reading) error {
	if err := s.store.Append(ctx, rs); err != nil {
		return err
	}
	s.sup.Publish(rs)
	return nil
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
		fmt.Fprint(stderr, "Usage: edged service restart [--api URL] [--token-file F] NAME\n\nRestarts a service of the running daemon now; a failed one (its circuit breaker open) runs again.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	var res map[string]any
	code, err := api.call(ctx, http.MethodPost, "/api/v1/services/"+url.PathEscape(fs.Arg(0))+"/restart", nil, &res)
	if err != nil {
		fmt.Fprintf(stderr, "edged service restart: %v\n", err)
		return 1
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
	// Emitted readings go to the outbox (and the API, and the local
	// broker) but not back to the services, so no service feeds on its own
	// or another's output in a loop.
	d.emits = ingest.New(d.sink, ingest.Config{Logger: d.log.With("component", "service-emits")})
	sup, err := supervisor.New(supervisor.Config{
		Budgets: mgr,
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
	d.sink = feedSink{store: d.sink, sup: sup}
	return nil
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

// usageEvery is how often services' resource use becomes readings.
const usageEvery = 10 * time.Second

// publishUsage turns each running service's memory and CPU into readings
// of the gateway itself (device gateway.id, metrics <service>_memory_bytes
// and <service>_cpu_percent), stored and forwarded like any reading.
func (d *daemon) publishUsage(ctx context.Context) error {
	t := time.NewTicker(usageEvery)
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
