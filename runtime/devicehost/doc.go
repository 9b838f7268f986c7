// Package devicehost runs a gateway's polled devices and switches them for
// another set (a plan's, a reloaded config's) while the gateway runs.
//
// Each device is a Slot that the poller reads like any device. The slot
// opens its driver lazily: while the open fails (a chip that does not
// answer, a bus the host lacks) a read fails with "open: <why>", so the
// device is unhealthy on the poller's back-off, not a failed start. A Set
// is the slots of one workload with their poller; the Host runs the
// current set's poller and the devices' own loops, and swaps sets between
// two runs: a device whose identity is unchanged keeps its slot (and its
// open driver and state); one whose only change is options its driver
// takes live (LiveConfigurer) keeps it too and gets them with Reconfigure;
// the others are handed over: the old slot's safe state and close, then
// the new slot's open.
//
// A device is described by a Spec the composition builds (cmd/edged from
// its config's devices): the package knows no configuration, bus or board.
package devicehost
