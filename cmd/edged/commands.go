package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/edged-gateway/edged/runtime/commands"
	"github.com/edged-gateway/edged/sync/cmdstore"
	"github.com/edged-gateway/edged/sync/uplink"
)

// commandQueue bounds the commands received but not yet executed.
const commandQueue = 256

// inbound is one command message from the cloud.
type inbound struct {
	device  string
	payload []byte
}

// cloudCommands receives commands on <prefix>/<gateway>/cmd/<device>,
// executes them and publishes each result on …/cmd/<device>/result.
type cloudCommands struct {
	exec   *commands.Executor
	link   *uplink.Client
	prefix string // <topic_prefix>/<gateway.id>/cmd/
	queue  chan inbound
	log    *slog.Logger
}

func newCloudCommands(exec *commands.Executor, link *uplink.Client, topicPrefix, gateway string, log *slog.Logger) *cloudCommands {
	return &cloudCommands{exec: exec, link: link, prefix: topicPrefix + "/" + gateway + "/cmd/",
		queue: make(chan inbound, commandQueue), log: log}
}

// subscribe registers the command topic; the uplink re-subscribes on every
// reconnect.
func (c *cloudCommands) subscribe() error {
	return c.link.Subscribe(c.prefix+"+", 1, c.receive)
}

// receive runs on the MQTT client's goroutine, so it only queues. When the
// queue is full the command is answered at once instead of blocking the
// link.
func (c *cloudCommands) receive(topic string, payload []byte) {
	device := strings.TrimPrefix(topic, c.prefix)
	select {
	case c.queue <- inbound{device: device, payload: append([]byte(nil), payload...)}:
	default:
		id := ""
		if cmd, err := commands.Decode(payload); err == nil {
			id = cmd.ID
		}
		c.publish(doneCtx, device, commands.Result{ID: id, Error: "gateway busy: too many commands queued, send it again"})
	}
}

// cmdMemory is the executor's durable run-once memory: results as JSON in
// sync/cmdstore.
type cmdMemory struct{ store *cmdstore.Store }

func (m cmdMemory) Load(key string) (commands.Result, bool, error) {
	b, ok, err := m.store.Load(key)
	if err != nil || !ok {
		return commands.Result{}, false, err
	}
	var r commands.Result
	if err := json.Unmarshal(b, &r); err != nil {
		return commands.Result{}, false, fmt.Errorf("command memory: result of %q: %w", key, err)
	}
	return r, true, nil
}

func (m cmdMemory) Store(key string, r commands.Result) error {
	r.Duplicate = false
	b, _ := json.Marshal(r)
	return m.store.Store(key, b)
}

// Run executes queued commands until ctx ends.
func (c *cloudCommands) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case in := <-c.queue:
			r := c.exec.Execute(ctx, in.device, in.payload)
			if !r.OK {
				c.log.Warn("command refused or failed", "device", in.device, "id", r.ID, "err", r.Error)
			} else {
				c.log.Info("command executed", "device", in.device, "id", r.ID)
			}
			c.publish(ctx, in.device, r)
		}
	}
}

// doneCtx is an ended context: publish on paho's own goroutine never
// waits for the link.
var doneCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// resultWait bounds how long a result waits for the link when it is not
// connected at the moment: a persistent session's queued commands arrive
// while paho connects, before the link counts as connected.
const resultWait = 10 * time.Second

func (c *cloudCommands) publish(ctx context.Context, device string, r commands.Result) {
	b, _ := json.Marshal(r)
	_, err := c.link.Publish(c.prefix+device+"/result", b, 1, false)
	if errors.Is(err, uplink.ErrNotConnected) {
		wctx, cancel := context.WithTimeout(ctx, resultWait)
		if _, werr := c.link.WaitConnected(wctx); werr == nil {
			_, err = c.link.Publish(c.prefix+device+"/result", b, 1, false)
		}
		cancel()
	}
	if err != nil {
		c.log.Warn("command result not published", "device", device, "id", r.ID, "err", err)
	}
}
