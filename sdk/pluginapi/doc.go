// Package pluginapi is the contract between the edged daemon (the host) and
// its microservices (plugin processes): the one API edged keeps stable.
//
// A service is a separate process run through hashicorp/go-plugin over gRPC
// on a unix socket, with automatic mTLS and a handshake cookie; a
// third-party binary is started only if its sha256 is the one the plan
// names (go-plugin's SecureConfig, or the supervisor's own check of the
// copy it runs). Built-in services are the edged binary
// itself re-executed as `edged service <name>`.
//
// # For service authors
//
// Implement Service (and, for timer-driven work, Runner; to answer health
// checks yourself, HealthChecker) and call Serve from main. The process
// gets only the environment the host names (its spec's env, PATH, LANG,
// TZ): nothing of the daemon's. Configure receives the service's JSON config at start and on
// change; Process receives batches of readings for its subscriptions, one
// at a time. Through Host the service emits derived readings, issues device
// commands and waits for their results, logs, and reports its health.
//
// # For the host
//
// Launch starts a process described by a LaunchConfig and returns a Conn:
// Configure, Send batches, Health, Close (graceful, then kill at the
// deadline), Kill, Exited/ExitErr. Emitted readings, commands, health and
// logs arrive through the LaunchConfig's callbacks. Errors name the
// operation and the service and never carry go-plugin or grpc types.
//
// # The session and flow control
//
// Everything but Configure and Health travels on one bidirectional stream,
// Session, opened at launch. Both directions are credit-based: each side
// opens by granting the other a window of batches (ServiceWindow for the
// host's batches, LaunchConfig.EmitWindow for the service's emits) and
// grants one more for each batch it has finished with. A sender without
// credit waits (Send, Emit block), so neither side queues more than the
// window however fast the other is: a service flooding emits is slowed to
// the pace of the host's OnEmit, and a slow service slows Send. Commands,
// health and logs take no credit; logs are dropped (and counted) rather
// than block. Close sends Drain: the service processes what it holds,
// flushes, answers Drained, and exits.
//
// # Versioning
//
// The wire contract is pluginapi.proto (Go code generated into
// internal/pluginpb by `make proto`). Changes add fields and messages;
// numbers are never reused or renumbered and types never change, so old
// and new services and hosts interoperate. An incompatible change bumps
// ProtocolVersion, which go-plugin's handshake checks, so a mismatched
// service fails at start with a clear error instead of misbehaving.
package pluginapi
