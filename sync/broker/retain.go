package broker

import (
	"cmp"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edged-gateway/edged/internal/logevery"
)

// ownerEdged owns the retained messages the daemon publishes itself.
const ownerEdged = "edged"

// retainHook bounds the retained messages: in all and per owner (a
// username, or the client id of an anonymous client), by count and bytes.
// It admits a retained publish in OnPublish, before mochi stores it, and
// follows what mochi actually holds through OnRetainMessage.
type retainHook struct {
	mqtt.HookBase
	srv     *mqtt.Server
	lim     Limits
	log     *slog.Logger
	limiter *logevery.Limiter

	mu     sync.Mutex
	topics map[string]retained // what is held (or admitted), by topic
	owners map[string]*usage
	total  usage

	refused, trimmed atomic.Uint64
}

type retained struct {
	owner string
	size  int64
}

type usage struct {
	n     int
	bytes int64
}

func newRetainHook(srv *mqtt.Server, lim Limits, log *slog.Logger) *retainHook {
	return &retainHook{srv: srv, lim: lim, log: log, limiter: logevery.New(0),
		topics: map[string]retained{}, owners: map[string]*usage{}}
}

func (h *retainHook) ID() string { return "edged-retained-limits" }

func (h *retainHook) Provides(b byte) bool {
	return b == mqtt.OnPublish || b == mqtt.OnRetainMessage || b == mqtt.OnRetainedExpired
}

// owner is who a client's retained messages count against.
func owner(cl *mqtt.Client) string {
	switch {
	case cl.Net.Inline:
		return ownerEdged
	case len(cl.Properties.Username) > 0:
		return "user:" + string(cl.Properties.Username)
	default:
		return "client:" + cl.ID
	}
}

// retainedSize is what one retained message counts for: topic, payload and
// the properties kept with it.
func retainedSize(pk packets.Packet) int64 {
	n := len(pk.TopicName) + len(pk.Payload) + len(pk.Properties.ContentType) + len(pk.Properties.ResponseTopic) +
		len(pk.Properties.CorrelationData)
	for _, u := range pk.Properties.User {
		n += len(u.Key) + len(u.Val)
	}
	return int64(n)
}

// OnPublish admits or refuses a retained publish. Refused, an MQTT 5 QoS 1
// publish gets PUBACK 0x97 "quota exceeded"; any other is delivered
// without being retained.
func (h *retainHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !pk.FixedHeader.Retain {
		return pk, nil
	}
	if len(pk.Payload) == 0 {
		// A delete. With nothing to delete, mochi v2.7.9 would still write
		// an empty record to broker.db: an unbounded store, one topic at a
		// time. Deliver it without the retain flag instead.
		if _, ok := h.srv.Topics.Retained.Get(pk.TopicName); !ok {
			pk.FixedHeader.Retain = false
		}
		return pk, nil
	}
	if cl.Net.Inline {
		return pk, nil // the daemon's own; counted in OnRetainMessage
	}
	who, size := owner(cl), retainedSize(pk)
	if h.admit(pk.TopicName, who, size) {
		return pk, nil
	}
	h.refused.Add(1)
	if n, ok := h.limiter.Allow(who, time.Now()); ok {
		h.log.Warn("retained message refused: over the retained limits", "client", cl.ID, "owner", who, "topic", pk.TopicName,
			"max_retained", h.lim.MaxRetained, "max_retained_per_user", h.lim.MaxRetainedPerUser, "suppressed", n)
	}
	if cl.Properties.ProtocolVersion == 5 && pk.FixedHeader.Qos == 1 {
		return pk, packets.ErrQuotaExceeded
	}
	pk.FixedHeader.Retain = false
	return pk, nil
}

// admit reserves room for a retained message of size on topic for who, if
// the limits allow it.
func (h *retainHook) admit(topic, who string, size int64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	old, had := h.topics[topic]
	total := h.total
	if had {
		total.n--
		total.bytes -= old.size
	}
	total.n++
	total.bytes += size
	var mine usage
	if u := h.owners[who]; u != nil {
		mine = *u
	}
	if had && old.owner == who {
		mine.n--
		mine.bytes -= old.size
	}
	mine.n++
	mine.bytes += size
	if total.n > h.lim.MaxRetained || total.bytes > h.lim.MaxRetainedBytes ||
		mine.n > h.lim.MaxRetainedPerUser || mine.bytes > h.lim.MaxRetainedBytesPerUser {
		return false
	}
	h.setLocked(topic, retained{owner: who, size: size})
	return true
}

// setLocked records what topic holds; h.mu is held.
func (h *retainHook) setLocked(topic string, r retained) {
	h.dropLocked(topic)
	h.topics[topic] = r
	h.total.n++
	h.total.bytes += r.size
	u := h.owners[r.owner]
	if u == nil {
		u = &usage{}
		h.owners[r.owner] = u
	}
	u.n++
	u.bytes += r.size
}

// dropLocked forgets topic's retained message; h.mu is held.
func (h *retainHook) dropLocked(topic string) {
	old, ok := h.topics[topic]
	if !ok {
		return
	}
	delete(h.topics, topic)
	h.total.n--
	h.total.bytes -= old.size
	if u := h.owners[old.owner]; u != nil {
		if u.n--; u.n <= 0 {
			delete(h.owners, old.owner)
		} else {
			u.bytes -= old.size
		}
	}
}

// OnRetainMessage follows what mochi holds. A message re-published by the
// daemon (a sensor's, after it was stored) keeps the owner it was admitted
// for.
func (h *retainHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(pk.Payload) == 0 {
		h.dropLocked(pk.TopicName)
		return
	}
	who := owner(cl)
	if old, ok := h.topics[pk.TopicName]; ok && cl.Net.Inline {
		who = old.owner
	}
	h.setLocked(pk.TopicName, retained{owner: who, size: retainedSize(pk)})
}

func (h *retainHook) OnRetainedExpired(topic string) {
	h.mu.Lock()
	h.dropLocked(topic)
	h.mu.Unlock()
}

// load counts the retained messages mochi loaded from the store, each
// against the client id that published it (the store keeps no username),
// and deletes the newest past the overall limits: a store written with
// higher limits, or none, comes back within them.
func (h *retainHook) load() {
	all := h.srv.Topics.Retained.GetAll()
	msgs := make([]packets.Packet, 0, len(all))
	for _, pk := range all {
		if len(pk.Payload) > 0 && !strings.HasPrefix(pk.TopicName, "$") { // mochi's own $SYS topics are not counted
			msgs = append(msgs, pk)
		}
	}
	slices.SortFunc(msgs, func(a, b packets.Packet) int {
		return cmp.Or(cmp.Compare(a.Created, b.Created), cmp.Compare(a.TopicName, b.TopicName))
	})
	var drop []string
	h.mu.Lock()
	for _, pk := range msgs {
		size := retainedSize(pk)
		if h.total.n+1 > h.lim.MaxRetained || h.total.bytes+size > h.lim.MaxRetainedBytes {
			drop = append(drop, pk.TopicName)
			continue
		}
		h.setLocked(pk.TopicName, retained{owner: "client:" + pk.Origin, size: size})
	}
	h.mu.Unlock()
	for _, t := range drop {
		if err := h.srv.Publish(t, nil, true, 0); err != nil {
			h.log.Warn("delete retained message over the limits", "topic", t, "err", err)
			continue
		}
		h.trimmed.Add(1)
	}
	if len(drop) > 0 {
		h.log.Warn("retained messages over the limits deleted at start", "deleted", len(drop), "kept", len(msgs)-len(drop),
			"max_retained", h.lim.MaxRetained, "max_retained_bytes", h.lim.MaxRetainedBytes)
	}
}

// stats returns the messages and bytes held, the refusals and the start-up
// deletions.
func (h *retainHook) stats() (held int, bytes int64, refused, trimmed uint64) {
	h.mu.Lock()
	held, bytes = h.total.n, h.total.bytes
	h.mu.Unlock()
	return held, bytes, h.refused.Load(), h.trimmed.Load()
}
