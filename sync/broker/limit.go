package broker

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"

	"github.com/edged-gateway/edged/internal/logevery"
)

// limitHook holds each client to RateLimit publishes per second. Past it a
// QoS 0 publish is dropped and a QoS 1 or 2 publish waits on the client's
// own read goroutine: that client slows down, nobody else does, and no
// acknowledged message is thrown away.
type limitHook struct {
	mqtt.HookBase
	limit   rate.Limit
	burst   int
	ctx     context.Context
	log     *slog.Logger
	limiter *logevery.Limiter

	mu      sync.Mutex
	clients map[string]*clientLimit

	dropped, delayed atomic.Uint64
}

type clientLimit struct {
	lim              *rate.Limiter
	dropped, delayed atomic.Uint64
}

// ClientLimit is one connected client that went over the rate limit.
type ClientLimit struct {
	Client  string `json:"client"`
	Dropped uint64 `json:"dropped"`
	Delayed uint64 `json:"delayed"`
}

func (h *limitHook) ID() string { return "edged-rate-limit" }

func (h *limitHook) Provides(b byte) bool { return b == mqtt.OnPublish || b == mqtt.OnDisconnect }

func (h *limitHook) client(id string) *clientLimit {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.clients[id]
	if c == nil {
		c = &clientLimit{lim: rate.NewLimiter(h.limit, h.burst)}
		h.clients[id] = c
	}
	return c
}

func (h *limitHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	c := h.client(cl.ID)
	if c.lim.Allow() {
		return pk, nil
	}
	if pk.FixedHeader.Qos == 0 {
		h.dropped.Add(1)
		c.dropped.Add(1)
		if n, ok := h.limiter.Allow("", time.Now()); ok {
			h.log.Warn("client over its publish rate: QoS 0 messages dropped", "client", cl.ID,
				"limit_per_second", float64(h.limit), "suppressed", n)
		}
		return pk, packets.ErrRejectPacket
	}
	h.delayed.Add(1)
	c.delayed.Add(1)
	if err := c.lim.Wait(h.ctx); err != nil {
		return pk, packets.ErrRejectPacket // shutting down: no PUBACK, the client resends
	}
	return pk, nil
}

func (h *limitHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.mu.Lock()
	delete(h.clients, cl.ID)
	h.mu.Unlock()
}

// over lists the connected clients that hit the limit, most dropped first.
func (h *limitHook) over() []ClientLimit {
	h.mu.Lock()
	var out []ClientLimit
	for id, c := range h.clients {
		if d, w := c.dropped.Load(), c.delayed.Load(); d+w > 0 {
			out = append(out, ClientLimit{Client: id, Dropped: d, Delayed: w})
		}
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Dropped != out[j].Dropped {
			return out[i].Dropped > out[j].Dropped
		}
		return out[i].Client < out[j].Client
	})
	return out
}
