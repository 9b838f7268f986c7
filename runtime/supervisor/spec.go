package supervisor

import (
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/edged-gateway/edged/runtime/budget"
	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// Spec is one service to run.
type Spec struct {
	// Name is the service's instance name (unique).
	Name string
	// Version is an opaque fingerprint the caller sets (a hash of the
	// service's artifact and config, say). Apply restarts a service whose
	// Version changed and leaves one with an equal Version alone, even if
	// other fields differ; "" is a version like any other.
	Version string
	// Base, when set, fingerprints everything of the spec but Config (its
	// artifact, user, budget, subscriptions…). When Apply finds a running
	// service whose Version differs but whose Base is the same non-empty
	// string, only the config changed: it calls Configure on the running
	// process with the new Config instead of restarting it (same pid). The
	// service may refuse; Apply then fails with ErrRefused and the service
	// keeps its old config. Any other change restarts the service.
	Base string
	// Command builds the process each time the service starts: a re-exec
	// `edged service <kind>` for a built-in, the artifact for a third-party
	// service.
	Command func() *exec.Cmd
	// Checksum, when set, is the sha256 the executable must have.
	Checksum []byte
	// Env is what the service's environment has beyond Sandbox.Env
	// ("KEY=value"); the daemon's own environment is never passed on.
	Env []string
	// User, when set, is who this service runs as instead of Sandbox.User.
	User *pluginapi.Owner
	// StateDir, when set, is the service's own writable directory: created
	// (0700) and given to its user before each start, its working
	// directory, and in its environment as STATE_DIRECTORY.
	StateDir string
	// Config is the service's own configuration as JSON.
	Config []byte
	// Subscribe are filters over "device/metric" ("boiler/+", "#").
	Subscribe []string
	// Budget bounds memory, CPU and pids; zero fields are unlimited.
	Budget budget.Budget
	// StartTimeout bounds start-up and Configure; default 10s.
	StartTimeout time.Duration
	// HealthEvery is how often health is checked; default 10s.
	HealthEvery time.Duration
	// UnhealthyAfter is how many health checks in a row may fail (an
	// unhealthy answer or no answer) before the service is restarted, as
	// a crash: with back-off, and counted towards the breaker; default 3.
	UnhealthyAfter int
	// StopTimeout bounds a graceful stop before the process is killed;
	// default 5s.
	StopTimeout time.Duration
}

func (s Spec) withDefaults() Spec {
	if s.StartTimeout <= 0 {
		s.StartTimeout = 10 * time.Second
	}
	if s.HealthEvery <= 0 {
		s.HealthEvery = 10 * time.Second
	}
	if s.UnhealthyAfter <= 0 {
		s.UnhealthyAfter = 3
	}
	if s.StopTimeout <= 0 {
		s.StopTimeout = 5 * time.Second
	}
	return s
}

// Validate names what is wrong with the spec.
func (s Spec) Validate() error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, errors.New("name: empty"))
	}
	if s.Command == nil {
		errs = append(errs, fmt.Errorf("service %q: no command", s.Name))
	}
	if err := s.Budget.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("service %q: %w", s.Name, err))
	}
	return errors.Join(errs...)
}
