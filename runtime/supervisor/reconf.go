package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// reconfReq asks a running service's loop to Configure its process with
// the config of spec (whose Base equals the running one's).
type reconfReq struct {
	spec  Spec
	reply chan error // buffered: the loop never waits for Apply
}

// errNotLive means the process was gone (or never took the request): Apply
// restarts the service instead.
var errNotLive = errors.New("not running; restart instead")

// reconfigure gives sp's config to the running service's process. It
// returns errNotLive when the service is not running (starting, in
// back-off, failed, or its process ended while asked): the caller restarts
// it as before. Otherwise it returns nil (the process took the config; the
// service's spec is now sp) or an error wrapping ErrRefused (the process
// refused it, or did not answer in time, and runs on with its old config).
func (sv *service) reconfigure(ctx context.Context, sp Spec) error {
	sv.mu.Lock()
	state := sv.state
	sv.mu.Unlock()
	if state != StateRunning {
		return errNotLive
	}
	req := reconfReq{spec: sp, reply: make(chan error, 1)}
	// The loop takes it between batches and health checks, each bounded.
	wait := time.NewTimer(sv.spec.StartTimeout + gateSlack)
	defer wait.Stop()
	select {
	case sv.reconf <- req:
	case <-sv.done:
		return errNotLive
	case <-wait.C:
		return errNotLive
	case <-ctx.Done():
		return fmt.Errorf("supervisor: apply: configure service %q: %w", sp.Name, ctx.Err())
	}
	// The loop answers within two of the service's StartTimeout (the new
	// config, then the old one back); it does not watch ctx.
	return <-req.reply
}

// liveConfigure runs in the service's loop: it Configures conn with the
// requested config and answers req. On a refusal it gives the process its
// old config again (a service that took half of the new one is back where
// it was). A non-nil return ends this run of the process (the loop
// restarts it with its current spec): it exited, or it did not answer.
func (sv *service) liveConfigure(ctx context.Context, conn *pluginapi.Conn, req reconfReq, log *slog.Logger) error {
	configure := func(cfg []byte) error {
		cctx, cancel := context.WithTimeout(ctx, sv.spec.StartTimeout)
		defer cancel()
		return conn.Configure(cctx, pluginapi.Config{Name: sv.spec.Name, JSON: cfg, Subscriptions: sv.spec.Subscribe})
	}
	exited := func() bool {
		select {
		case <-conn.Exited():
			return true
		default:
			return false
		}
	}
	err := configure(req.spec.Config)
	if err == nil {
		// Only this goroutine reads Config; Version is read by Apply, after
		// the reply.
		sv.spec.Config, sv.spec.Version = req.spec.Config, req.spec.Version
		log.Info("service configured live with its new config", "pid", conn.Pid(), "version", req.spec.Version)
		req.reply <- nil
		return nil
	}
	if exited() {
		req.reply <- errNotLive
		return sv.exitReason(conn)
	}
	refused := fmt.Errorf("supervisor: apply: service %q %w: %v", sv.spec.Name, ErrRefused, err)
	if ctx.Err() != nil {
		req.reply <- refused
		return nil // the loop sees ctx
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// A Configure that never returns holds the service's turn: it can
		// take nothing more. Restart it with its old config.
		req.reply <- fmt.Errorf("supervisor: apply: service %q %w: no answer to Configure within %s; restarted with its old config",
			sv.spec.Name, ErrRefused, sv.spec.StartTimeout)
		sctx, cancel := context.WithTimeout(context.Background(), sv.spec.StopTimeout)
		conn.Close(sctx)
		cancel()
		return fmt.Errorf("configure (live) hung for %s", sv.spec.StartTimeout)
	}
	log.Warn("service refused its new config; giving it its old one back", "err", err)
	if berr := configure(sv.spec.Config); berr != nil {
		req.reply <- fmt.Errorf("%w; its old config back failed too (%v): restarted with it", refused, berr)
		if exited() {
			return sv.exitReason(conn)
		}
		sctx, cancel := context.WithTimeout(context.Background(), sv.spec.StopTimeout)
		conn.Close(sctx)
		cancel()
		return fmt.Errorf("configure (old config back after a refused one): %w", berr)
	}
	req.reply <- refused
	return nil
}
