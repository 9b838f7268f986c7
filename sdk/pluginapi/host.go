package pluginapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/edged-gateway/edged/sdk/pluginapi/internal/pluginpb"
)

// Defaults of LaunchConfig.
const (
	DefaultStartTimeout = 10 * time.Second
	DefaultCallTimeout  = 10 * time.Second
	// maxCommandsInFlight bounds the OnCommand calls one service can have
	// running; beyond it the host stops reading that service's stream.
	maxCommandsInFlight = 8
)

// LaunchConfig says how to start one service process and where its output
// goes. Callbacks run on the Conn's goroutines: they must not call Close or
// Kill of the same Conn (which wait for those goroutines), nor wait on its
// Send (the service may be blocked until this very callback returns): hand
// work that routes readings back to the same service to another goroutine.
type LaunchConfig struct {
	// Name is the service's instance name, used in logs and errors.
	Name string
	// Cmd is the unstarted process: `edged service <name>` for a built-in
	// (a re-exec of os.Executable()), the artifact's path for a third-party
	// service. Its Env is the service's whole environment: the daemon's
	// own is never inherited. Launch adds go-plugin's variables to it
	// (PLUGIN_*, the handshake cookie, the client certificate).
	Cmd *exec.Cmd
	// RunAs, when set, is the user the service process runs as (the caller
	// arranges that, in Cmd.SysProcAttr or an exec shim): the private
	// socket directory is given to it, so the service can listen there.
	RunAs *Owner
	// SecureChecksum, when set, is the sha256 the executable must have (the
	// plan's artifact checksum); otherwise it is not started.
	SecureChecksum []byte
	// Logger receives the service's stderr (hclog JSON lines become
	// structured records), stray stdout/stderr lines, and, when OnLog is
	// nil, its Log calls; all with a "service" attribute. Default: discard.
	Logger *slog.Logger
	// StartTimeout bounds the start up to the handshake; default 10s.
	StartTimeout time.Duration
	// CallTimeout bounds Configure, Health and Close when their ctx has no
	// deadline; default 10s.
	CallTimeout time.Duration
	// EmitWindow is how many emitted batches may wait for OnEmit before the
	// service's Emit blocks; default DefaultEmitWindow, at most MaxWindow.
	EmitWindow int

	// OnEmit receives the service's emitted readings, in order, on one
	// goroutine. While it runs the service's window shrinks: a slow OnEmit
	// slows the service, it never queues more than EmitWindow batches.
	OnEmit func([]Reading)
	// OnCommand executes a service's command through the host's command
	// path; its Result goes back to the service. ctx ends with the session.
	// At most 8 run at once per service. Nil refuses every command.
	OnCommand func(ctx context.Context, cmd Command) Result
	// OnHealth receives the health the service reports when it changes.
	OnHealth func(healthy bool, detail string)
	// OnLog receives the service's Log calls; nil logs them to Logger.
	OnLog func(level slog.Level, msg string, attrs []slog.Attr)
}

// Owner is a uid and gid.
type Owner struct{ UID, GID int }

// Validate checks the fields and says which is wrong.
func (c LaunchConfig) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("launch config: name is empty")
	case c.Cmd == nil:
		return fmt.Errorf("launch config of service %q: cmd is nil", c.Name)
	case c.Cmd.Process != nil:
		return fmt.Errorf("launch config of service %q: cmd was already started", c.Name)
	case len(c.SecureChecksum) != 0 && len(c.SecureChecksum) != sha256.Size:
		return fmt.Errorf("launch config of service %q: secure checksum is %d bytes, a sha256 is %d",
			c.Name, len(c.SecureChecksum), sha256.Size)
	case c.StartTimeout < 0 || c.CallTimeout < 0:
		return fmt.Errorf("launch config of service %q: negative timeout", c.Name)
	case c.EmitWindow < 0 || c.EmitWindow > MaxWindow:
		return fmt.Errorf("launch config of service %q: emit window %d is not in 1..%d", c.Name, c.EmitWindow, MaxWindow)
	}
	return nil
}

func (c LaunchConfig) withDefaults() LaunchConfig {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.EmitWindow == 0 {
		c.EmitWindow = DefaultEmitWindow
	}
	return c
}

// Conn is the host's side of one running service process: its session
// stream, its process, and the goroutines that serve them.
type Conn struct {
	cfg     LaunchConfig
	name    string
	log     *slog.Logger
	client  *plugin.Client
	svc     pluginpb.ServiceClient
	cmd     *exec.Cmd
	pid     int
	sockDir string

	stream     pluginpb.Service_SessionClient
	sessCtx    context.Context
	sessCancel context.CancelFunc
	out        chan *pluginpb.HostMessage // to the writer; unbuffered
	sendCredit *window                    // batches the service lets us send
	emitGrants *grants                    // emit credit we owe the service
	emitQ      chan []Reading             // emitted batches waiting for OnEmit
	cmdSem     chan struct{}
	drained    chan struct{} // the service answered Drain
	sessDone   chan struct{}
	sessErr    error // set before sessDone closes

	exited  chan struct{}
	exitErr error // set before exited closes
	kick    chan struct{}

	sendMu    sync.Mutex // orders Send against Close's Drain
	drainSent bool
	closing   chan struct{}
	closeOnce sync.Once
	stopOnce  sync.Once
	shutdown  func() // go-plugin's Kill, once
	wg        sync.WaitGroup

	batchesSent, readingsSent       atomic.Int64
	batchesEmitted, readingsEmitted atomic.Int64
	commands, logs                  atomic.Int64
	emitQueued, emitQueuePeak       atomic.Int64
}

// Launch starts the service process, checks its checksum and handshake,
// negotiates mTLS and opens its session. On error nothing is left running.
// The start is bounded by StartTimeout and by ctx's deadline.
func Launch(ctx context.Context, cfg LaunchConfig) (*Conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pluginapi: launch: %w", err)
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With("service", cfg.Name)
	timeout := cfg.StartTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pluginapi: start service %q: %w", cfg.Name, err)
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("pluginapi: start service %q: %w", cfg.Name, context.DeadlineExceeded)
	}
	// The service's socket goes in a private directory the host removes at
	// the end even if the service was killed (go-plugin leaves it otherwise).
	sockDir, err := os.MkdirTemp("", "edged-svc-")
	if err != nil {
		return nil, fmt.Errorf("pluginapi: start service %q: socket directory: %w", cfg.Name, err)
	}
	if cfg.RunAs != nil {
		if err := os.Chown(sockDir, cfg.RunAs.UID, cfg.RunAs.GID); err != nil {
			os.RemoveAll(sockDir)
			return nil, fmt.Errorf("pluginapi: start service %q: give the socket directory to uid %d: %w", cfg.Name, cfg.RunAs.UID, err)
		}
	}
	cfg.Cmd.Env = append(cfg.Cmd.Env, plugin.EnvUnixSocketDir+"="+sockDir)
	var secure *plugin.SecureConfig
	if len(cfg.SecureChecksum) > 0 {
		secure = &plugin.SecureConfig{Checksum: cfg.SecureChecksum, Hash: sha256.New()}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          plugin.PluginSet{pluginName: &grpcPlugin{}},
		Cmd:              cfg.Cmd,
		SkipHostEnv:      true, // a service gets only what Cmd.Env names
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		StartTimeout:     timeout,
		Logger:           newHCLogger(log),
		SyncStdout:       newLineLogger(log, "stdout"),
		SyncStderr:       newLineLogger(log, "stderr"),
		GRPCDialOptions: []grpc.DialOption{grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(maxMessageBytes), grpc.MaxCallSendMsgSize(maxMessageBytes))},
	})
	fail := func(err error) (*Conn, error) {
		client.Kill()
		os.RemoveAll(sockDir)
		return nil, err
	}
	proto, err := client.Client()
	if err != nil {
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return fail(checksumError(cfg.Name, cfg.Cmd.Path, cfg.SecureChecksum))
		}
		return fail(fmt.Errorf("pluginapi: start service %q: %w", cfg.Name, detach(err)))
	}
	raw, err := proto.Dispense(pluginName)
	if err != nil {
		return fail(fmt.Errorf("pluginapi: start service %q: %w", cfg.Name, detach(err)))
	}
	svc, ok := raw.(pluginpb.ServiceClient)
	if !ok {
		return fail(fmt.Errorf("pluginapi: start service %q: dispensed %T", cfg.Name, raw))
	}
	c := &Conn{
		cfg: cfg, name: cfg.Name, log: log, client: client, svc: svc, cmd: cfg.Cmd, sockDir: sockDir,
		out:        make(chan *pluginpb.HostMessage),
		sendCredit: newWindow(),
		emitGrants: newGrants(cfg.EmitWindow),
		emitQ:      make(chan []Reading, cfg.EmitWindow),
		cmdSem:     make(chan struct{}, maxCommandsInFlight),
		drained:    make(chan struct{}),
		sessDone:   make(chan struct{}),
		exited:     make(chan struct{}),
		kick:       make(chan struct{}, 1),
		closing:    make(chan struct{}),
	}
	c.shutdown = sync.OnceFunc(client.Kill)
	if cfg.Cmd.Process != nil {
		c.pid = cfg.Cmd.Process.Pid
	}
	c.sessCtx, c.sessCancel = context.WithCancel(context.Background())
	c.stream, err = svc.Session(c.sessCtx)
	if err != nil {
		c.sessCancel()
		return fail(fmt.Errorf("pluginapi: open session of service %q: %w", cfg.Name, detach(err)))
	}
	c.emitGrants.add(uint32(cfg.EmitWindow))
	c.wg.Add(4)
	go c.writeLoop()
	go c.readLoop()
	go c.emitLoop()
	go c.watchExit()
	log.Debug("service started", "pid", c.pid)
	return c, nil
}

// checksumError names the expected and the actual sha256.
func checksumError(name, path string, want []byte) error {
	got := "unreadable"
	if f, err := os.Open(path); err == nil {
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			got = fmt.Sprintf("%x", h.Sum(nil))
		}
		f.Close()
	}
	return fmt.Errorf("pluginapi: start service %q: %w: %s has sha256 %s, expected %x",
		name, ErrChecksumMismatch, path, got, want)
}

// detach keeps an error's text but drops go-plugin's and grpc's types from
// the chain; file and exec errors (a missing binary) stay inspectable.
func detach(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Error() == err.Error() {
		return pe
	}
	var ee *exec.Error
	if errors.As(err, &ee) && ee.Error() == err.Error() {
		return ee
	}
	return errors.New(err.Error())
}

// Name is the service's instance name.
func (c *Conn) Name() string { return c.name }

// Pid is the service's process id.
func (c *Conn) Pid() int { return c.pid }

// Exited is closed once the process has exited and been reaped.
func (c *Conn) Exited() <-chan struct{} { return c.exited }

// ExitErr says how the process exited: nil while it runs and after a clean
// exit, else an error naming the exit status or signal (wrapping ErrExited).
func (c *Conn) ExitErr() error {
	select {
	case <-c.exited:
		return c.exitErr
	default:
		return nil
	}
}

// Configure sends cfg and waits for the service to accept it. A service
// that does not answer by ctx's deadline (CallTimeout when ctx has none)
// gets an error here; the host is not held up, and the caller decides
// whether to Kill it.
func (c *Conn) Configure(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("pluginapi: configure service %q: %w", c.name, err)
	}
	if c.isClosing() {
		return fmt.Errorf("pluginapi: configure service %q: %w", c.name, ErrClosed)
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	_, err := c.svc.Configure(ctx, &pluginpb.ConfigureRequest{
		Name: cfg.Name, Config: cfg.JSON, Subscriptions: cfg.Subscriptions,
	})
	if err != nil {
		return fmt.Errorf("pluginapi: configure service %q: %w", c.name, c.translate(ctx, err))
	}
	return nil
}

// Health asks the service for the health it last reported.
func (c *Conn) Health(ctx context.Context) (healthy bool, detail string, err error) {
	if c.isClosing() {
		return false, "", fmt.Errorf("pluginapi: health of service %q: %w", c.name, ErrClosed)
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.svc.Health(ctx, &pluginpb.HealthRequest{})
	if err != nil {
		return false, "", fmt.Errorf("pluginapi: health of service %q: %w", c.name, c.translate(ctx, err))
	}
	return resp.GetHealthy(), resp.GetDetail(), nil
}

// Send hands batch to the session stream. Batches over MaxBatch readings go
// as several; each needs a credit from the service, so Send blocks while
// ServiceWindow batches are waiting for the service's Process. It returns
// when the last part is with the stream, or with ctx's error (parts already
// handed over stay sent).
func (c *Conn) Send(ctx context.Context, batch []Reading) error {
	if len(batch) == 0 {
		return nil
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.isClosing() {
		return fmt.Errorf("pluginapi: send to service %q: %w", c.name, ErrClosed)
	}
	for _, part := range chunks(batch) {
		select {
		case <-c.sendCredit.C():
		case <-c.closing:
			return fmt.Errorf("pluginapi: send to service %q: %w", c.name, ErrClosed)
		case <-c.sessDone:
			return fmt.Errorf("pluginapi: send to service %q: %w", c.name, c.goneCause(ctx, ErrSessionEnded))
		case <-ctx.Done():
			return fmt.Errorf("pluginapi: send to service %q: %w", c.name, ctx.Err())
		}
		m := &pluginpb.HostMessage{Msg: &pluginpb.HostMessage_Batch{Batch: &pluginpb.ReadingBatch{Readings: toPB(part)}}}
		select {
		case c.out <- m:
		case <-c.closing:
			c.sendCredit.refund()
			return fmt.Errorf("pluginapi: send to service %q: %w", c.name, ErrClosed)
		case <-c.sessDone:
			return fmt.Errorf("pluginapi: send to service %q: %w", c.name, c.goneCause(ctx, ErrSessionEnded))
		case <-ctx.Done():
			c.sendCredit.refund()
			return fmt.Errorf("pluginapi: send to service %q: %w", c.name, ctx.Err())
		}
		c.batchesSent.Add(1)
		c.readingsSent.Add(int64(len(part)))
	}
	return nil
}

// Close ends the service gracefully: no more Sends, the service processes
// what it has, flushes its emits (OnEmit still runs) and exits. A service
// still running at ctx's deadline (CallTimeout when ctx has none) is killed
// and Close says so. Close returns after every goroutine of the Conn has
// ended; it is idempotent.
func (c *Conn) Close(ctx context.Context) error {
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	c.closeOnce.Do(func() { close(c.closing) })

	c.sendMu.Lock() // no Send is running past this point, none will start
	if !c.drainSent {
		c.drainSent = true
		drain := &pluginpb.HostMessage{Msg: &pluginpb.HostMessage_Drain{Drain: &pluginpb.Drain{}}}
		select {
		case c.out <- drain:
		case <-c.sessDone:
		case <-ctx.Done():
		}
	}
	c.sendMu.Unlock()

	var err error
	select {
	case <-c.sessDone:
		// Drained and done: ask go-plugin to stop the process's server,
		// after which it exits.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.shutdown()
		}()
	case <-ctx.Done():
	}
	select {
	case <-c.exited:
	case <-ctx.Done():
		select {
		case <-c.exited:
		default:
			c.kill()
			err = fmt.Errorf("pluginapi: close service %q: still running at the deadline, killed: %w", c.name, ctx.Err())
		}
	}
	c.stop()
	if err != nil {
		c.log.Warn("service killed on close", "err", err)
	}
	return err
}

// Kill ends the process now (SIGKILL) and returns after the Conn's
// goroutines have ended. It is idempotent.
func (c *Conn) Kill() {
	c.closeOnce.Do(func() { close(c.closing) })
	c.kill()
	c.stop()
}

func (c *Conn) kill() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill() // os.ErrProcessDone once it has exited
	}
	c.poke()
}

// stop tears down the session and go-plugin's client and waits for every
// goroutine. The process is exiting or dead by now.
func (c *Conn) stop() {
	c.stopOnce.Do(func() {
		c.sessCancel()
		c.shutdown()
		c.wg.Wait()
		if err := os.RemoveAll(c.sockDir); err != nil {
			c.log.Warn("remove socket directory", "err", err)
		}
	})
}

func (c *Conn) isClosing() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// callContext applies CallTimeout to a ctx without a deadline.
func (c *Conn) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.cfg.CallTimeout)
}

// poke makes watchExit look at the process at once.
func (c *Conn) poke() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// watchExit closes exited when go-plugin has reaped the process. go-plugin
// offers no channel for it, so it polls: every 200ms normally, every 2ms for
// a few seconds after the session ends or a kill (when an exit is due).
func (c *Conn) watchExit() {
	defer c.wg.Done()
	const slow, fast, fastFor = 200 * time.Millisecond, 2 * time.Millisecond, 5 * time.Second
	var fastUntil time.Time
	t := time.NewTimer(slow)
	defer t.Stop()
	for {
		if c.client.Exited() {
			// go-plugin sets Exited under its lock after cmd.Wait returned,
			// so ProcessState is safe to read here.
			c.exitErr = exitError(c.name, c.pid, c.cmd.ProcessState)
			close(c.exited)
			return
		}
		select {
		case <-c.kick:
			fastUntil = time.Now().Add(fastFor)
		case <-t.C:
		}
		if time.Now().Before(fastUntil) {
			t.Reset(fast)
		} else {
			t.Reset(slow)
		}
	}
}

func exitError(name string, pid int, ps *os.ProcessState) error {
	switch {
	case ps == nil:
		return fmt.Errorf("pluginapi: service %q (pid %d): %w", name, pid, ErrExited)
	case ps.Success():
		return nil
	}
	return fmt.Errorf("pluginapi: service %q (pid %d): %w: %s", name, pid, ErrExited, ps)
}

// goneCause explains a lost connection: how the process exited if it did
// (waiting up to 2s, or ctx, for the reaper: a broken connection is nearly
// always a dying process), else why the session ended, else fallback.
func (c *Conn) goneCause(ctx context.Context, fallback error) error {
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-c.exited:
		if c.exitErr == nil {
			return fmt.Errorf("%w (status 0)", ErrExited)
		}
		return fmt.Errorf("%w: %s", ErrExited, c.cmd.ProcessState)
	case <-t.C:
	case <-ctx.Done():
	}
	select {
	case <-c.sessDone:
		if c.sessErr != nil {
			return fmt.Errorf("%w: %w", ErrSessionEnded, c.sessErr)
		}
	default:
	}
	return fallback
}

// Stats counts a Conn's traffic since Launch.
type Stats struct {
	BatchesSent, ReadingsSent       int64
	BatchesEmitted, ReadingsEmitted int64
	Commands, Logs                  int64
	// EmitQueued is how many emitted batches wait for or are in OnEmit now;
	// EmitQueuePeak is the most there ever were. Neither exceeds EmitWindow.
	EmitQueued, EmitQueuePeak int64
}

// Stats returns the counters.
func (c *Conn) Stats() Stats {
	return Stats{
		BatchesSent: c.batchesSent.Load(), ReadingsSent: c.readingsSent.Load(),
		BatchesEmitted: c.batchesEmitted.Load(), ReadingsEmitted: c.readingsEmitted.Load(),
		Commands: c.commands.Load(), Logs: c.logs.Load(),
		EmitQueued: c.emitQueued.Load(), EmitQueuePeak: c.emitQueuePeak.Load(),
	}
}
