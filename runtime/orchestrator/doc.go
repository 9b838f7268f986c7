// Package orchestrator applies signed orchestration plans one at a time.
//
// A plan arrives as a signed envelope (runtime/plan) from the cloud's
// retained plan topic or from `edged plan apply`. The orchestrator:
//
//  1. decodes and verifies it (trusted key, signature, gateway selector,
//     a version above every version applied or tried before), and ignores
//     an envelope it has already handled (the retained message comes back
//     on every reconnect);
//  2. asks its Target to prepare it: check every section against the
//     gateway and fetch artifacts — any problem rejects the plan and
//     changes nothing;
//  3. records the version as attempted, then asks the Target to switch to
//     it: start and reconfigure what changed in dependency order, each
//     service health-gated;
//  4. on success stores the envelope as the applied plan (so a reboot with
//     no network comes back to it) and lets the Target drop artifacts no
//     longer referenced; on failure switches back to the previous workload
//     and reports rolled_back.
//
// Plans never interleave: one applies at a time, and of the plans that
// arrive meanwhile only the newest waits (older waiting ones are reported
// superseded). Every step is reported in a Status that the daemon publishes
// retained on <prefix>/<gateway>/plan/status and that `edged plan status`
// shows.
package orchestrator
