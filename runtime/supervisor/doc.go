// Package supervisor keeps services running like a small init system: it
// starts each service process through sdk/pluginapi, puts it inside its
// budget (runtime/budget), configures it, feeds it the readings of its
// subscriptions, health-checks it, restarts it with exponential backoff and
// jitter when it dies, and stops restarting it (state failed, with its last
// error and stderr lines) after too many crashes in a window, until Restart.
// A service killed for exceeding its memory budget is reported as oom with
// its budget and peak use; one unhealthy for Spec.UnhealthyAfter checks in
// a row is restarted like a crash.
//
// Readings reach a service two ways. Deliver, a feeder's path (one per
// service, reading the service's own cursor in the durable log: see
// runtime/dataplane), waits until the service's running process has taken
// the batch, through its restarts: a slow service makes its feeder lag and
// loses nothing. Publish, used when no log cursor is wired, never waits: a
// service whose queue is full loses the batch (counted). Both never hand a
// service its own emits and stop a chain at MaxDepth.
//
// Sandbox confines the processes: a clean environment always; with a Shim
// (a binary that calls RunShim first in main), the process joins its budget
// group and rlimit, drops to Sandbox.User (or Spec.User) when the daemon can
// change users, sets no_new_privs and its parent-death signal, and only then
// executes the service, from a descriptor the supervisor opened (a sealed
// in-memory copy, hashed while copied, when Spec.Checksum is set).
//
// The set of services can change while it runs: Apply takes the services
// of an orchestration plan in start order and starts the new ones, restarts
// those whose Version changed (or, when only their Config changed, as
// Spec.Base tells, calls Configure on the running process instead),
// health-gates each before going on, and only then stops the ones no
// longer wanted. A failed gate returns at once;
// applying the previous specs rolls back.
package supervisor
