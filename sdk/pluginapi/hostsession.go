package pluginapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edged-gateway/edged/sdk/pluginapi/internal/pluginpb"
)

// writeLoop is the only goroutine that sends on the session stream: batches
// and command results from out, and the emit credit the host owes.
func (c *Conn) writeLoop() {
	defer c.wg.Done()
	for {
		var m *pluginpb.HostMessage
		select {
		case <-c.emitGrants.wake:
			n := c.emitGrants.take()
			if n == 0 {
				continue
			}
			m = &pluginpb.HostMessage{Msg: &pluginpb.HostMessage_Credit{Credit: &pluginpb.Credit{Batches: n}}}
		case m = <-c.out:
		case <-c.drained:
			// The service has flushed; closing our side lets it end the
			// session, and Recv then sees io.EOF.
			_ = c.stream.CloseSend()
			return
		case <-c.sessCtx.Done():
			return
		}
		if err := c.stream.Send(m); err != nil {
			// The stream is broken; readLoop learns why from Recv.
			c.sessCancel()
			return
		}
	}
}

// readLoop receives everything the service sends and dispatches it: emits
// to emitLoop, commands to their own goroutines, health and logs inline.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	var sessErr error
	defer func() {
		close(c.emitQ)
		c.sessErr = sessErr
		close(c.sessDone)
		c.poke()
		if sessErr != nil && !c.isClosing() {
			c.log.Warn("session ended", "err", sessErr)
		}
	}()
	drained := false
	for {
		m, err := c.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) && !drained {
				sessErr = c.streamError(err)
			}
			return
		}
		switch x := m.GetMsg().(type) {
		case *pluginpb.ServiceMessage_Emit:
			rs := fromPB(x.Emit.GetReadings())
			select {
			case c.emitQ <- rs:
				n := c.emitQueued.Add(1)
				if n > c.emitQueuePeak.Load() {
					c.emitQueuePeak.Store(n) // only this goroutine raises it
				}
			default:
				sessErr = fmt.Errorf("%w: service %q emitted beyond its window of %d batches", ErrProtocol, c.name, c.cfg.EmitWindow)
				c.log.Error("protocol violation", "err", sessErr)
				c.sessCancel()
				return
			}
		case *pluginpb.ServiceMessage_Command:
			c.commands.Add(1)
			c.startCommand(x.Command)
		case *pluginpb.ServiceMessage_Health:
			c.onHealth(x.Health.GetHealthy(), x.Health.GetDetail())
		case *pluginpb.ServiceMessage_Log:
			c.logs.Add(1)
			c.onLog(x.Log)
		case *pluginpb.ServiceMessage_Credit:
			if err := c.sendCredit.grant(x.Credit.GetBatches()); err != nil {
				sessErr = fmt.Errorf("service %q: %w", c.name, err)
				c.log.Error("protocol violation", "err", sessErr)
				c.sessCancel()
				return
			}
		case *pluginpb.ServiceMessage_Drained:
			if !drained {
				drained = true
				close(c.drained)
			}
		}
	}
}

// streamError turns a Recv error into one without grpc types.
func (c *Conn) streamError(err error) error {
	if c.sessCtx.Err() != nil {
		return ErrClosed
	}
	st, _ := status.FromError(err)
	return fmt.Errorf("%s: %s", st.Code(), st.Message())
}

// emitLoop runs OnEmit for each emitted batch in order and gives the
// service one credit back for each.
func (c *Conn) emitLoop() {
	defer c.wg.Done()
	for rs := range c.emitQ {
		if c.cfg.OnEmit != nil {
			c.cfg.OnEmit(rs)
		}
		c.batchesEmitted.Add(1)
		c.readingsEmitted.Add(int64(len(rs)))
		c.emitQueued.Add(-1)
		c.emitGrants.add(1)
	}
}

// startCommand runs OnCommand on a goroutine of its own (at most
// maxCommandsInFlight; readLoop waits for a slot) and sends the result.
func (c *Conn) startCommand(pc *pluginpb.Command) {
	select {
	case c.cmdSem <- struct{}{}:
	case <-c.sessCtx.Done():
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { <-c.cmdSem }()
		cmd := Command{ID: pc.GetId(), Device: pc.GetDevice(), Action: pc.GetAction(), Value: pc.GetValue()}
		res := Result{Error: "this host accepts no commands from services"}
		if c.cfg.OnCommand != nil {
			res = c.cfg.OnCommand(c.sessCtx, cmd)
		}
		m := &pluginpb.HostMessage{Msg: &pluginpb.HostMessage_CommandResult{CommandResult: &pluginpb.CommandResult{
			Id: cmd.ID, Ok: res.OK, Error: res.Error,
		}}}
		select {
		case c.out <- m:
		case <-c.drained:
		case <-c.sessCtx.Done():
		}
	}()
}

func (c *Conn) onHealth(healthy bool, detail string) {
	if c.cfg.OnHealth != nil {
		c.cfg.OnHealth(healthy, detail)
		return
	}
	lvl := slog.LevelInfo
	if !healthy {
		lvl = slog.LevelWarn
	}
	c.log.Log(context.Background(), lvl, "service health", "healthy", healthy, "detail", detail)
}

func (c *Conn) onLog(l *pluginpb.Log) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.GetLevel())); err != nil {
		lvl = slog.LevelInfo
	}
	keys := make([]string, 0, len(l.GetAttrs()))
	for k := range l.GetAttrs() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	attrs := make([]slog.Attr, len(keys))
	for i, k := range keys {
		attrs[i] = slog.String(k, l.GetAttrs()[k])
	}
	if c.cfg.OnLog != nil {
		c.cfg.OnLog(lvl, l.GetMsg(), attrs)
		return
	}
	c.log.LogAttrs(context.Background(), lvl, l.GetMsg(), attrs...)
}

// translate turns a unary call's grpc error into one without grpc types.
func (c *Conn) translate(ctx context.Context, err error) error {
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("no answer before the deadline: %w", context.DeadlineExceeded)
	case codes.Canceled:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return c.goneCause(ctx, errors.New("call canceled"))
	case codes.Unavailable:
		return c.goneCause(ctx, fmt.Errorf("connection lost: %s", st.Message()))
	}
	return errors.New(st.Message()) // the service's own error
}
