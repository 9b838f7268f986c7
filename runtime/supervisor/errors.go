package supervisor

import "errors"

// ErrStopped means the supervisor's Run has ended: Apply can start nothing
// more. A service stopped while Apply waits for it reports it too.
var ErrStopped = errors.New("the supervisor has stopped")

// ErrGate means a service started by Apply did not pass its health gate:
// it crashed, or was not running and healthy in time.
var ErrGate = errors.New("failed its health gate")

// errOOM marks the exit of a service killed for exceeding its memory budget.
var errOOM = errors.New("oom")

// ErrRefused means a running service refused the new config Apply gave it
// live (its Configure returned an error); it runs on with its old config.
var ErrRefused = errors.New("refused its new config")

// ErrNoService means Deliver's service is not (or no longer) supervised.
var ErrNoService = errors.New("no such service")
