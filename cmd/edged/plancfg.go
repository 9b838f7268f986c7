package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/runtime/plan"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// PlansConfig turns on orchestration plans pushed from the cloud.
type PlansConfig struct {
	// TrustedKeys are public key files (`edged plan keygen` writes them).
	// A plan signed by any of them is accepted; list the old and the new
	// key while rotating. Empty: plans are off.
	TrustedKeys []string `yaml:"trusted_keys"`
	// ResetKeys are public key files of keys that sign reset plans only
	// (`edged plan sign --reset`): the signed way out of a version pushed
	// too high. Keep their private keys offline; never also a trusted key.
	ResetKeys []string `yaml:"reset_keys"`
	// MemoryAllowance caps the sum of the services' memory budgets in a
	// plan; default: half of this machine's RAM.
	MemoryAllowance yamlconf.Size `yaml:"memory_allowance"`
	// MaxClockSkew refuses plans signed (issued_at) further ahead of this
	// gateway's clock; default 15m.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`

	keys      []ed25519.PublicKey // read by validate
	resetKeys []ed25519.PublicKey // read by validate
}

// trust is the plan trust of the config: trusted keys and reset keys.
func (p PlansConfig) trust() (*plan.Trust, error) {
	t, err := plan.NewTrust(p.keys...)
	if err != nil {
		return nil, fmt.Errorf("plans.trusted_keys: %w", err)
	}
	if err := t.AddResetKeys(p.resetKeys...); err != nil {
		return nil, fmt.Errorf("plans.reset_keys: %w", err)
	}
	return t, nil
}

func (p PlansConfig) enabled() bool { return len(p.TrustedKeys) > 0 }

func (c *Config) validatePlans(errs *yamlconf.Errors) {
	for k := range c.Gateway.Labels {
		if k == "" {
			errs.Add("gateway.labels", "a label name is empty")
		}
	}
	p := &c.Plans
	p.keys = nil
	for i, f := range p.TrustedKeys {
		path := yamlconf.Index("plans.trusted_keys", i)
		k, err := plan.ReadPublicKey(f)
		if err != nil {
			errs.Add(path, "%v (make a key pair with `edged plan keygen --out plan`)", err)
			continue
		}
		p.keys = append(p.keys, k)
	}
	p.resetKeys = nil
	for i, f := range p.ResetKeys {
		path := yamlconf.Index("plans.reset_keys", i)
		k, err := plan.ReadPublicKey(f)
		if err != nil {
			errs.Add(path, "%v (make a reset key pair with `edged plan keygen --out reset` and keep reset.key offline)", err)
			continue
		}
		for _, t := range p.keys {
			if t.Equal(k) {
				errs.Add(path, "key %s is also in plans.trusted_keys: a reset key must be a separate key (`edged plan keygen --out reset`), kept offline", plan.KeyID(k))
			}
		}
		p.resetKeys = append(p.resetKeys, k)
	}
	if len(p.ResetKeys) > 0 && len(p.TrustedKeys) == 0 {
		errs.Add("plans.reset_keys", "set without plans.trusted_keys: plans are off; list the keys that sign plans in plans.trusted_keys")
	}
	if p.MaxClockSkew < 0 {
		errs.Add("plans.max_clock_skew", "must be positive, e.g. 15m (how far ahead of this gateway's clock a plan's signature time may be)")
	}
	if p.MemoryAllowance < 0 {
		errs.Add("plans.memory_allowance", "must be positive, e.g. 256Mi")
	}
	if p.MemoryAllowance == 0 {
		p.MemoryAllowance = yamlconf.Size(defaultAllowance())
	}
}

// defaultAllowance is half of MemTotal (256Mi when it cannot be read).
func defaultAllowance() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 256 << 20
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return kb << 10 / 2
			}
		}
	}
	return 256 << 20
}

// planService is one entry of a plan's services: a service as the config
// file has it, but with an artifact url instead of a local path, and the
// services it depends on.
type planService struct {
	Name      string       `yaml:"name"`
	Kind      string       `yaml:"kind"`
	URL       string       `yaml:"url"`
	SHA256    string       `yaml:"sha256"`
	Config    yaml.Node    `yaml:"config"`
	Subscribe []string     `yaml:"subscribe"`
	Emits     []string     `yaml:"emits"` // see ServiceConfig.Emits
	Budget    BudgetConfig `yaml:"budget"`
	DependsOn []string     `yaml:"depends_on"`
	// StartTimeout is the service's health gate: running and healthy
	// within it, or the plan rolls back; default 10s.
	StartTimeout time.Duration `yaml:"start_timeout"`
	// MaxLag: see ServiceConfig.MaxLag.
	MaxLag uint64 `yaml:"max_lag"`
}

// SyncPolicy is a plan's sync section; fields left out keep the config
// file's values.
type SyncPolicy struct {
	Outbox struct {
		MaxBytes yamlconf.Size `yaml:"max_bytes"`
		MaxAge   time.Duration `yaml:"max_age"`
	} `yaml:"outbox"`
	// Batch is the most readings per cloud message.
	Batch int `yaml:"batch"`
	// Metrics are device/metric filters of the readings that go to the
	// cloud; the rest stay on the gateway. Empty: all go.
	Metrics []string `yaml:"metrics"`
}

// workload is what a plan (or the config file) runs: devices, services
// and sync policy, checked and ready to switch to.
type workload struct {
	version int64 // 0: the config file's
	cfg     Config
	devs    []device
	specs   []supervisor.Spec // in start order
	fetch   []plan.Artifact
}

// planWorkload checks a plan's sections against the gateway, with the
// daemon's own config code (so errors name the plan's field paths), and
// builds the workload. artifactDir is where artifacts are stored.
func planWorkload(base Config, p *plan.Plan, kinds map[string]deviceKind, artifactDir string) (*workload, error) {
	w := &workload{version: p.Version, cfg: base}
	cfg := &w.cfg
	cfg.Devices, cfg.Services, cfg.cloudMetrics = nil, nil, nil
	var errs yamlconf.Errors
	decode := func(n *yaml.Node, out any, path string) {
		if n.Kind == 0 {
			return
		}
		if err := yamlconf.DecodeNode(n, out, path); err != nil {
			if fe, ok := err.(yamlconf.Errors); ok {
				errs = append(errs, fe...)
			} else {
				errs.Add(path, "%v", err)
			}
		}
	}
	decode(&p.Devices, &cfg.Devices, "devices")
	var svcs []planService
	decode(&p.Services, &svcs, "services")
	var sp SyncPolicy
	decode(&p.Sync, &sp, "sync")
	if p.Routes.Kind != 0 { // absent: the config file's routes
		cfg.Routes = nil
		decode(&p.Routes, &cfg.Routes, "routes")
	}
	if len(errs) > 0 {
		return nil, &plan.InvalidError{Problems: errs}
	}
	deps := map[string][]string{}
	for _, s := range svcs {
		sc := ServiceConfig{Name: s.Name, Kind: s.Kind, SHA256: s.SHA256, Config: s.Config, Subscribe: s.Subscribe, Emits: s.Emits, Budget: s.Budget, StartTimeout: s.StartTimeout, MaxLag: s.MaxLag}
		if s.URL != "" {
			sc.Path = filepath.Join(artifactDir, strings.ToLower(s.SHA256))
			w.fetch = append(w.fetch, plan.Artifact{Service: s.Name, URL: s.URL, SHA256: strings.ToLower(s.SHA256)})
		}
		cfg.Services = append(cfg.Services, sc)
		deps[s.Name] = s.DependsOn
	}
	if sp.Outbox.MaxBytes != 0 {
		cfg.Outbox.MaxBytes = sp.Outbox.MaxBytes
	}
	if sp.Outbox.MaxAge != 0 {
		cfg.Outbox.MaxAge = sp.Outbox.MaxAge
	}
	if sp.Batch != 0 {
		cfg.Cloud.Batch = sp.Batch
	}
	for i, f := range sp.Metrics {
		if err := topic.ValidFilter(f); err != nil {
			errs.Add(yamlconf.Index("sync.metrics", i), "%v", err)
		}
	}
	cfg.cloudMetrics = sp.Metrics
	devs, verrs := cfg.validate(kinds)
	for _, e := range verrs {
		// The plan's sync section sets these; name it.
		switch {
		case e.Path == "outbox.max_bytes" || e.Path == "outbox.max_age":
			e.Path = "sync." + e.Path
		case e.Path == "cloud.batch":
			e.Path = "sync.batch"
		}
		errs = append(errs, e)
	}
	var total int64
	for _, s := range cfg.Services {
		total += int64(s.Budget.Memory)
	}
	if allow := int64(cfg.Plans.MemoryAllowance); allow > 0 && total > allow {
		errs.Add("services", "memory budgets add up to %s, over this gateway's allowance of %s (plans.memory_allowance): lower some budget.memory",
			yamlconf.Size(total), cfg.Plans.MemoryAllowance)
	}
	if len(errs) > 0 {
		return nil, &plan.InvalidError{Problems: errs}
	}
	w.devs = devs
	byName := map[string]supervisor.Spec{}
	for _, spec := range versionedSpecs(cfg) {
		byName[spec.Name] = spec
	}
	for _, name := range p.Order() {
		w.specs = append(w.specs, byName[name])
	}
	return w, nil
}

// fileWorkload is the workload of the config file alone.
func fileWorkload(cfg Config, devs []device) *workload {
	return &workload{cfg: cfg, devs: devs, specs: versionedSpecs(&cfg)}
}

// versionedSpecs are the checked services of cfg (validate found no
// problem, so there is one spec per entry), in file order, each with its
// serviceKey as Version.
func versionedSpecs(cfg *Config) []supervisor.Spec {
	specs := make([]supervisor.Spec, len(cfg.specs))
	for i, spec := range cfg.specs {
		spec.Version = serviceKey(cfg.Services[i])
		spec.Base = serviceBaseKey(cfg.Services[i])
		specs[i] = spec
	}
	return specs
}

// serviceKey fingerprints a service's configuration: a service whose key
// a plan does not change keeps running.
func serviceKey(s ServiceConfig) string {
	cfgJSON, _ := nodeJSON(&s.Config)
	b, _ := json.Marshal([]any{s.Kind, s.Path, strings.ToLower(s.SHA256), json.RawMessage(cfgJSON), s.Subscribe, s.Budget, s.StartTimeout})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// serviceBaseKey fingerprints all of a service's configuration but its
// config: a plan that changes a service's key but not its base key gives the
// running service its new config with Configure (same process) instead of
// restarting it.
func serviceBaseKey(s ServiceConfig) string {
	env, _ := json.Marshal(s.Env) // map keys sorted
	b, _ := json.Marshal([]any{"base", s.Kind, s.Path, strings.ToLower(s.SHA256), s.Subscribe, s.Budget, s.StartTimeout,
		s.HealthEvery, s.UnhealthyAfter, s.User, json.RawMessage(env)})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// sensorKeys lists the mqttsensor devices of a workload with their
// fingerprints, to tell whether a plan changes them.
func (w *workload) sensorKeys() string {
	var b strings.Builder
	for _, d := range w.devs {
		if d.kind.sensor != nil {
			fmt.Fprintf(&b, "%s=%s;", d.cfg.Name, deviceKey(d.cfg))
		}
	}
	return b.String()
}
