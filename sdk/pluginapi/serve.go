package pluginapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edged-gateway/edged/sdk/pluginapi/internal/pluginpb"
)

// server is the service process's side of the contract: the gRPC service
// go-plugin serves, around the author's Service.
type server struct {
	pluginpb.UnimplementedServiceServer
	svc    Service
	logger hclog.Logger

	turn           chan struct{} // one of Configure and Process at a time
	configured     chan struct{}
	configuredOnce sync.Once
	health         atomic.Pointer[pluginpb.HealthResponse]
	healthSet      atomic.Bool
	session        atomic.Pointer[serviceSession]
	sessionDone    chan struct{}

	gsMu sync.Mutex
	gs   *grpc.Server
}

func newServer(s Service, logger hclog.Logger) *server {
	srv := &server{
		svc: s, logger: logger,
		turn:        make(chan struct{}, 1),
		configured:  make(chan struct{}),
		sessionDone: make(chan struct{}),
	}
	srv.health.Store(&pluginpb.HealthResponse{Healthy: false, Detail: "not configured"})
	return srv
}

func (s *server) setGRPC(gs *grpc.Server) {
	s.gsMu.Lock()
	s.gs = gs
	s.gsMu.Unlock()
}

// stopAfter stops the gRPC server after d, which ends plugin.Serve.
func (s *server) stopAfter(d time.Duration) {
	s.gsMu.Lock()
	gs := s.gs
	s.gsMu.Unlock()
	if gs == nil {
		return
	}
	time.AfterFunc(d, gs.Stop)
}

// wait waits up to grace for a session that has started to finish.
func (s *server) wait(grace time.Duration) {
	if s.session.Load() == nil {
		return
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-s.sessionDone:
	case <-t.C:
		s.logger.Warn("service goroutines still running at exit")
	}
}

func (s *server) lock(ctx context.Context) error {
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *server) unlock() { <-s.turn }

func (s *server) setHealth(healthy bool, detail string) {
	s.health.Store(&pluginpb.HealthResponse{Healthy: healthy, Detail: detail})
}

// Configure implements the RPC.
func (s *server) Configure(ctx context.Context, req *pluginpb.ConfigureRequest) (*pluginpb.ConfigureResponse, error) {
	cfg := Config{Name: req.GetName(), JSON: req.GetConfig(), Subscriptions: req.GetSubscriptions()}
	if err := cfg.Validate(); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := s.lock(ctx); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	err := s.svc.Configure(ctx, cfg)
	s.unlock()
	if err != nil {
		if !s.healthSet.Load() && !s.isConfigured() {
			s.setHealth(false, "configure: "+err.Error())
		}
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	s.configuredOnce.Do(func() {
		if !s.healthSet.Load() {
			s.setHealth(true, "")
		}
		close(s.configured)
	})
	return &pluginpb.ConfigureResponse{}, nil
}

func (s *server) isConfigured() bool {
	select {
	case <-s.configured:
		return true
	default:
		return false
	}
}

// Health implements the RPC: the service's own HealthChecker once it is
// configured, else what SetHealth (or Configure) last recorded.
func (s *server) Health(ctx context.Context, _ *pluginpb.HealthRequest) (*pluginpb.HealthResponse, error) {
	if hc, ok := s.svc.(HealthChecker); ok && s.isConfigured() {
		ok, detail := hc.Health(ctx)
		return &pluginpb.HealthResponse{Healthy: ok, Detail: detail}, nil
	}
	h := s.health.Load()
	return &pluginpb.HealthResponse{Healthy: h.GetHealthy(), Detail: h.GetDetail()}, nil
}

// Session implements the RPC: the one session of the process's life.
func (s *server) Session(stream pluginpb.Service_SessionServer) error {
	sess := newServiceSession(s, stream)
	if !s.session.CompareAndSwap(nil, sess) {
		sess.cancel(nil)
		return status.Error(codes.FailedPrecondition, "a session is already open")
	}
	defer close(s.sessionDone)
	err := sess.run()
	if err != nil {
		s.stopAfter(0) // the host is gone or broke the protocol
		return status.Error(codes.Aborted, err.Error())
	}
	// The host stops the server (go-plugin's Shutdown) once it has the
	// final status; stop anyway if it does not.
	s.stopAfter(shutdownGrace)
	return nil
}

// serviceSession is the service's side of a session, and the Host the
// Service sees.
type serviceSession struct {
	srv    *server
	stream pluginpb.Service_SessionServer
	ctx    context.Context
	cancel context.CancelCauseFunc

	out        chan *pluginpb.ServiceMessage // to the writer
	emitCredit *window                       // emits the host lets us send
	grants     *grants                       // batch credit we owe the host
	healthWake chan struct{}
	batches    chan []Reading // closed at Drain
	drainReq   chan struct{}  // closed at Drain
	finish     chan struct{}  // writer: flush, send Drained, stop

	pendingMu sync.Mutex
	pending   map[string]chan Result
	nextID    atomic.Uint64
	dropped   atomic.Int64
}

var _ Host = (*serviceSession)(nil)

func newServiceSession(srv *server, stream pluginpb.Service_SessionServer) *serviceSession {
	ctx, cancel := context.WithCancelCause(stream.Context())
	return &serviceSession{
		srv: srv, stream: stream, ctx: ctx, cancel: cancel,
		out:        make(chan *pluginpb.ServiceMessage, 64),
		emitCredit: newWindow(),
		grants:     newGrants(ServiceWindow),
		healthWake: make(chan struct{}, 1),
		batches:    make(chan []Reading, ServiceWindow),
		drainReq:   make(chan struct{}),
		finish:     make(chan struct{}),
		pending:    map[string]chan Result{},
	}
}

// run serves the session until the host drains it (nil) or it breaks.
func (s *serviceSession) run() error {
	s.grants.add(ServiceWindow)
	writerDone := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { defer close(writerDone); s.write() }()
	go func() { defer close(readerDone); s.read() }()

	configured := false
	select {
	case <-s.srv.configured:
		configured = true
	case <-s.drainReq:
	case <-s.ctx.Done():
	}
	runCtx, stopRun := context.WithCancel(s.ctx)
	defer stopRun()
	runDone := make(chan struct{})
	if r, ok := s.srv.svc.(Runner); ok && configured {
		go func() {
			defer close(runDone)
			if err := r.Run(runCtx, s); err != nil && runCtx.Err() == nil {
				s.Log(slog.LevelError, "run", "err", err)
				s.SetHealth(false, "run: "+err.Error())
			}
		}()
	} else {
		close(runDone)
	}
	procDone := make(chan struct{})
	go func() { defer close(procDone); s.process(configured) }()

	// Drained: every batch is processed; stop Run. The host bounds this
	// with its Close deadline.
	select {
	case <-procDone:
		stopRun()
		select {
		case <-runDone:
		case <-s.ctx.Done():
		}
	case <-s.ctx.Done():
	}
	if err := context.Cause(s.ctx); err != nil {
		// The host is gone or broke the protocol: give the service's
		// goroutines a grace to notice, then end regardless, so that a
		// service ignoring its ctx cannot outlive its host for long.
		stopRun()
		waitAll(shutdownGrace, procDone, runDone, readerDone, writerDone)
		return err
	}
	close(s.finish)
	<-writerDone
	<-readerDone // the host closes its side once it has Drained
	return context.Cause(s.ctx)
}

// waitAll waits for every channel to close, or for d.
func waitAll(d time.Duration, chs ...<-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-t.C:
			return
		}
	}
}

// process runs the Service on each batch until Drain (or the session
// breaks), giving the host a credit back for each.
func (s *serviceSession) process(configured bool) {
	for {
		var b []Reading
		var ok bool
		select {
		case b, ok = <-s.batches:
		case <-s.ctx.Done():
			return
		}
		if !ok {
			return
		}
		if !configured {
			continue // drained before any Configure: nothing to process with
		}
		if err := s.srv.lock(s.ctx); err != nil {
			return
		}
		err := s.srv.svc.Process(s.ctx, b, s)
		s.srv.unlock()
		if err != nil {
			s.Log(slog.LevelError, "process batch", "err", err, "readings", len(b))
		}
		s.grants.add(1)
	}
}

// write is the only goroutine that sends on the stream.
func (s *serviceSession) write() {
	send := func(m *pluginpb.ServiceMessage) bool {
		if err := s.stream.Send(m); err != nil {
			s.cancel(fmt.Errorf("send: %v", err))
			return false
		}
		return true
	}
	for {
		select {
		case <-s.grants.wake:
			if n := s.grants.take(); n > 0 && !send(creditMsg(n)) {
				return
			}
		case <-s.healthWake:
			if !send(s.healthMsg()) {
				return
			}
		case m := <-s.out:
			if !send(m) {
				return
			}
		case <-s.finish:
			for {
				select {
				case m := <-s.out:
					if !send(m) {
						return
					}
					continue
				case <-s.healthWake:
					if !send(s.healthMsg()) {
						return
					}
					continue
				default:
				}
				break
			}
			send(&pluginpb.ServiceMessage{Msg: &pluginpb.ServiceMessage_Drained{Drained: &pluginpb.Drained{}}})
			return
		case <-s.ctx.Done():
			return
		}
	}
}

func creditMsg(n uint32) *pluginpb.ServiceMessage {
	return &pluginpb.ServiceMessage{Msg: &pluginpb.ServiceMessage_Credit{Credit: &pluginpb.Credit{Batches: n}}}
}

func (s *serviceSession) healthMsg() *pluginpb.ServiceMessage {
	h := s.srv.health.Load()
	return &pluginpb.ServiceMessage{Msg: &pluginpb.ServiceMessage_Health{Health: &pluginpb.Health{
		Healthy: h.GetHealthy(), Detail: h.GetDetail(),
	}}}
}

// read receives everything the host sends.
func (s *serviceSession) read() {
	drained := false
	for {
		m, err := s.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) && drained {
				return // the host closed its side after Drained
			}
			s.cancel(fmt.Errorf("host went away: %v", err))
			return
		}
		switch x := m.GetMsg().(type) {
		case *pluginpb.HostMessage_Batch:
			if drained {
				s.violation("batch after drain")
				return
			}
			select {
			case s.batches <- fromPB(x.Batch.GetReadings()):
			default:
				s.violation(fmt.Sprintf("host sent beyond the window of %d batches", ServiceWindow))
				return
			}
		case *pluginpb.HostMessage_CommandResult:
			r := x.CommandResult
			s.pendingMu.Lock()
			ch := s.pending[r.GetId()]
			delete(s.pending, r.GetId())
			s.pendingMu.Unlock()
			if ch != nil {
				ch <- Result{OK: r.GetOk(), Error: r.GetError()}
			}
		case *pluginpb.HostMessage_Credit:
			if err := s.emitCredit.grant(x.Credit.GetBatches()); err != nil {
				s.violation(err.Error())
				return
			}
		case *pluginpb.HostMessage_Drain:
			if !drained {
				drained = true
				close(s.batches)
				close(s.drainReq)
			}
		}
	}
}

func (s *serviceSession) violation(what string) {
	err := fmt.Errorf("%w: %s", ErrProtocol, what)
	s.srv.logger.Error("session", "err", err)
	s.cancel(err)
}

func (s *serviceSession) ended() error {
	return fmt.Errorf("pluginapi: %w: %w", ErrSessionEnded, context.Cause(s.ctx))
}

// Emit implements Host.
func (s *serviceSession) Emit(ctx context.Context, readings []Reading) error {
	if len(readings) == 0 {
		return nil
	}
	for _, part := range chunks(readings) {
		select {
		case <-s.emitCredit.C():
		case <-ctx.Done():
			return fmt.Errorf("pluginapi: emit: %w", ctx.Err())
		case <-s.ctx.Done():
			return s.ended()
		case <-s.finish:
			return fmt.Errorf("pluginapi: emit: %w", ErrSessionEnded)
		}
		m := &pluginpb.ServiceMessage{Msg: &pluginpb.ServiceMessage_Emit{Emit: &pluginpb.Emit{Readings: toPB(part)}}}
		select {
		case s.out <- m:
		case <-ctx.Done():
			s.emitCredit.refund()
			return fmt.Errorf("pluginapi: emit: %w", ctx.Err())
		case <-s.ctx.Done():
			return s.ended()
		}
	}
	return nil
}

// Command implements Host.
func (s *serviceSession) Command(ctx context.Context, device, action string, value any) (Result, error) {
	v, err := json.Marshal(value)
	if err != nil {
		return Result{}, fmt.Errorf("pluginapi: command %s %s: value: %w", device, action, err)
	}
	id := strconv.FormatUint(s.nextID.Add(1), 10)
	ch := make(chan Result, 1)
	s.pendingMu.Lock()
	s.pending[id] = ch
	s.pendingMu.Unlock()
	defer func() {
		s.pendingMu.Lock()
		delete(s.pending, id)
		s.pendingMu.Unlock()
	}()
	m := &pluginpb.ServiceMessage{Msg: &pluginpb.ServiceMessage_Command{Command: &pluginpb.Command{
		Id: id, Device: device, Action: action, Value: v,
	}}}
	select {
	case s.out <- m:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("pluginapi: command %s %s: %w", device, action, ctx.Err())
	case <-s.ctx.Done():
		return Result{}, s.ended()
	}
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("pluginapi: command %s %s: %w", device, action, ctx.Err())
	case <-s.ctx.Done():
		return Result{}, s.ended()
	}
}

// Log implements Host.
func (s *serviceSession) Log(level slog.Level, msg string, attrs ...any) {
	m := map[string]string{}
	r := slog.NewRecord(time.Time{}, level, msg, 0)
	r.Add(attrs...)
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.Resolve().String()
		return true
	})
	d := s.dropped.Swap(0)
	if d > 0 {
		m["logs_dropped"] = strconv.FormatInt(d, 10)
	}
	lm := &pluginpb.ServiceMessage{Msg: &pluginpb.ServiceMessage_Log{Log: &pluginpb.Log{
		Level: level.String(), Msg: msg, Attrs: m,
	}}}
	select {
	case s.out <- lm:
	default:
		s.dropped.Add(d + 1)
	}
}

// SetHealth implements Host.
func (s *serviceSession) SetHealth(healthy bool, detail string) {
	s.srv.healthSet.Store(true)
	s.srv.setHealth(healthy, detail)
	select {
	case s.healthWake <- struct{}{}:
	default:
	}
}
