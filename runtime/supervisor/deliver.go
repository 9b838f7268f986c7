package supervisor

import (
	"context"
	"errors"
	"fmt"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// deliverReq is one of Deliver's batches for a service's loop, which
// always answers on reply (buffered).
type deliverReq struct {
	ctx   context.Context
	batch []pluginapi.Reading
	reply chan error
}

// errNotSent: the batch did not reach the process (it ended, or the set of
// services changed); Deliver tries again.
var errNotSent = errors.New("not sent")

// Deliver hands rs to one service and waits until its running process has
// taken them: the feeder's path, where a slow service makes its feeder wait
// instead of losing batches (Publish's path drops them).
//
// It filters rs as Publish does: the service never gets its own emits
// (Source is its name) nor readings its subscriptions do not match, and a
// reading whose Hops reached MaxDepth is refused (counted in TooDeep and
// Status.TooDeep). The readings left are handed as one batch; handed is
// their count (0 when none is left, without waiting).
//
// "Taken" means the batch went over the session stream to the process,
// within the flow-control window the SDK grants (pluginapi.ServiceWindow
// batches waiting for Process); a batch of more than pluginapi.MaxBatch
// readings goes as several parts. So Deliver waits while the service is
// busy with its window, starting, backing off after a crash, or failed
// (breaker open): the caller lags, and nothing is dropped. A batch that did
// not reach a process that ended is handed to the next run; a service
// replaced by Apply (new version) gets it in its new process. At-least-once:
// when ctx ends while a batch of several parts is being sent, some parts may
// have gone (a batch of at most MaxBatch readings is sent whole or not).
//
// Errors: ErrNoService (wrapped, naming the service) when no service of that
// name is supervised (anymore), ErrStopped once Run has ended, and ctx's
// error.
func (s *Supervisor) Deliver(ctx context.Context, name string, rs []reading.Reading) (handed int, err error) {
	var (
		cur   *service
		batch []pluginapi.Reading
	)
	for {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("supervisor: deliver to service %q: %w", name, err)
		}
		s.mu.RLock()
		sv, ph, changed := s.byName[name], s.phase, s.changed
		s.mu.RUnlock()
		switch {
		case ph == phaseEnded:
			return 0, fmt.Errorf("supervisor: deliver to service %q: %w", name, ErrStopped)
		case sv == nil:
			return 0, fmt.Errorf("supervisor: deliver to service %q: %w", name, ErrNoService)
		}
		if sv != cur { // first try, or the service was replaced: its filter
			cur, batch = sv, sv.filter(rs)
		}
		if len(batch) == 0 {
			return 0, nil
		}
		switch err := sv.hand(ctx, batch, changed); {
		case err == nil:
			return len(batch), nil
		case !errors.Is(err, errNotSent):
			return 0, fmt.Errorf("supervisor: deliver to service %q: %w", name, err)
		}
	}
}

// hand gives batch to the service's loop and waits for its answer. It
// returns errNotSent when the loop could not send it or when changed (the
// set of services) closes first.
func (sv *service) hand(ctx context.Context, batch []pluginapi.Reading, changed <-chan struct{}) error {
	req := deliverReq{ctx: ctx, batch: batch, reply: make(chan error, 1)}
	select {
	case sv.deliver <- req:
		return <-req.reply // the loop answers promptly once ctx ends
	case <-sv.done:
		// Stopped: Apply replaces or removes it next, which changes the set.
		select {
		case <-changed:
			return errNotSent
		case <-ctx.Done():
			return ctx.Err()
		}
	case <-changed:
		return errNotSent
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send runs one of Deliver's batches on the running process and answers
// it. A send that fails with the process (not with the caller's ctx or the
// loop's) ends this run: the process is as good as gone, and the batch goes
// to the next one.
func (sv *service) send(ctx context.Context, conn *pluginapi.Conn, req deliverReq) error {
	sctx, cancel := context.WithCancel(req.ctx)
	stop := context.AfterFunc(ctx, cancel)
	err := conn.Send(sctx, req.batch)
	stop()
	cancel()
	switch {
	case err == nil:
		req.reply <- nil
		return nil
	case req.ctx.Err() != nil:
		req.reply <- req.ctx.Err()
		return nil
	case ctx.Err() != nil:
		req.reply <- errNotSent
		return nil // the loop sees ctx next
	}
	req.reply <- errNotSent
	select {
	case <-conn.Exited():
		return sv.exitReason(conn)
	default:
	}
	return fmt.Errorf("send: %w", err)
}
