package auth

import (
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edged-gateway/edged/internal/logevery"
)

// Options configures a Hook.
type Options struct {
	// Passwords are the users who may log in; nil means none.
	Passwords *Passwords
	// ACL limits what clients may publish and subscribe to; nil allows
	// everything to every client that may connect.
	ACL *ACL
	// AllowAnonymous lets clients without a username connect, from
	// loopback addresses only.
	AllowAnonymous bool
	// SessionOwner, when set, tells which username holds the session (live
	// or kept) of a client id; a client giving another user's id is
	// refused, so no user can knock another's client off or take its
	// session.
	SessionOwner func(clientID string) (user string, ok bool)
	// Backoff slows password guessing per source address and username;
	// zero turns it off.
	Backoff Backoff
	// Logger receives refusals and denials, at Warn; default slog.Default().
	Logger *slog.Logger
}

// Stats counts the hook's decisions since it was made.
type Stats struct {
	AuthOK      uint64 `json:"auth_ok"`      // connections let in (not counting the inline client)
	AuthRefused uint64 `json:"auth_refused"` // connections refused
	ACLDenied   uint64 `json:"acl_denied"`   // publishes, subscriptions and deliveries denied
	// PasswordChecks counts passwords checked against their hash (bcrypt).
	PasswordChecks uint64 `json:"password_checks"`
	// BackoffRefused counts logins refused unchecked: their address or
	// user was backing off after wrong passwords.
	BackoffRefused uint64 `json:"backoff_refused"`
}

// Hook is the mochi-mqtt hook that authenticates clients at connect and
// applies the ACL to their publishes, subscriptions and deliveries. Add it
// with (*mqtt.Server).AddHook(hook, nil), and no other hook that provides
// these two checks: mochi lets a client through when any hook says yes. It
// is safe for concurrent use.
//
// What mochi v2.7.9 does with a refusal: a refused connect gets CONNACK
// 0x86 "bad username or password" in MQTT 5, which mochi turns into 0x05
// "not authorized" for MQTT 3.1.1 clients. A denied
// QoS 0 publish is dropped silently. A denied QoS 1 or 2 publish gets
// PUBACK/PUBREC "not authorized" (0x87) in MQTT 5, but in MQTT 3.1.1, which
// has no way to say so, the client is disconnected. A denied subscription
// gets SUBACK 0x80 (3.1.1) or 0x87 (5) for that filter. A delivery the
// receiver may not read is skipped.
type Hook struct {
	mqtt.HookBase
	passwords atomic.Pointer[Passwords] // Reload replaces them
	acl       atomic.Pointer[ACL]
	anonymous bool
	logger    *slog.Logger
	limit     *logevery.Limiter
	now       func() time.Time
	backoff   *backoffs
	owner     func(string) (string, bool)

	authOK, authRefused, aclDenied, checks, backoffRefused atomic.Uint64
}

// NewHook makes a Hook with the given options.
func NewHook(o Options) *Hook {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	h := &Hook{
		anonymous: o.AllowAnonymous,
		logger:    o.Logger,
		limit:     logevery.New(0),
		now:       time.Now,
		backoff:   newBackoffs(o.Backoff),
		owner:     o.SessionOwner,
	}
	h.passwords.Store(o.Passwords)
	h.acl.Store(o.ACL)
	return h
}

// Reload replaces the passwords and the ACL (nil: no users, or no rules).
// Logins and ACL checks from then on use the new ones; clients already
// connected are the caller's to re-check (Passwords.Changed).
func (h *Hook) Reload(p *Passwords, acl *ACL) {
	h.passwords.Store(p)
	h.acl.Store(acl)
}

// ID names the hook to mochi.
func (h *Hook) ID() string { return "edged-auth" }

// Provides tells mochi the hook handles OnConnectAuthenticate and
// OnACLCheck.
func (h *Hook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// Stats returns the counts so far.
func (h *Hook) Stats() Stats {
	return Stats{AuthOK: h.authOK.Load(), AuthRefused: h.authRefused.Load(), ACLDenied: h.aclDenied.Load(),
		PasswordChecks: h.checks.Load(), BackoffRefused: h.backoffRefused.Load()}
}

// Reasons a connection is refused, as logged.
const (
	reasonWrongPassword   = "wrong_password"
	reasonUnknownUser     = "unknown_user"
	reasonNoUsername      = "password_without_username"
	reasonAnonymousOff    = "anonymous_not_allowed"
	reasonAnonymousLAN    = "anonymous_not_loopback"
	reasonWillTopicDenied = "will_topic_denied"
	reasonBackoff         = "backing_off_after_wrong_passwords"
	reasonClientIDTaken   = "client_id_of_another_user"
)

// OnConnectAuthenticate lets the client in if it gives a user's right
// password, or is anonymous (no username, no password) on a loopback
// address while anonymous access is allowed, or is the inline client; and
// if its will, if any, is on a topic it may publish to.
func (h *Hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	user, password := string(pk.Connect.Username), string(pk.Connect.Password)
	reason := ""
	var extra []slog.Attr
	switch {
	case user != "":
		now := h.now()
		keys := []string{"addr:" + remoteHost(cl.Net.Remote), "user:" + user}
		if w := h.backoff.wait(now, keys...); w > 0 {
			// No bcrypt for a guesser: refused unchecked until the
			// back-off is over, whatever the password.
			reason = reasonBackoff
			h.backoffRefused.Add(1)
			extra = append(extra, slog.Duration("retry_in", w))
			break
		}
		h.checks.Add(1)
		pw := h.passwords.Load()
		if !pw.Check(user, password) {
			reason = reasonWrongPassword
			if !pw.has(user) {
				reason = reasonUnknownUser
			}
			h.backoff.fail(now, keys...)
		} else {
			h.backoff.succeed(keys...)
		}
	case len(pk.Connect.Password) > 0:
		reason = reasonNoUsername
	case !h.anonymous:
		reason = reasonAnonymousOff
	case !isLoopback(cl.Net.Remote):
		reason = reasonAnonymousLAN
	}
	if reason == "" && h.owner != nil {
		if owner, ok := h.owner(cl.ID); ok && owner != user {
			reason = reasonClientIDTaken
		}
	}
	if reason == "" && pk.Connect.WillFlag && !h.acl.Load().CanPublish(user, cl.ID, pk.Connect.WillTopic) {
		reason = reasonWillTopicDenied
	}
	if reason != "" {
		h.authRefused.Add(1)
		h.warn("connect", "mqtt connection refused", cl, user, append([]slog.Attr{slog.String("reason", reason)}, extra...)...)
		return false
	}
	h.authOK.Add(1)
	return true
}

// OnACLCheck applies the ACL: write is a publish to topic; otherwise topic
// is a filter the client subscribes to, or the topic of a message about to
// be delivered to it.
func (h *Hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	user := string(cl.Properties.Username)
	var ok bool
	switch {
	case write && topic == "":
		// An MQTT 5 publish by topic alias: mochi resolves the alias after
		// this check, and it only registers aliases for topics that passed
		// it, so the topic the alias stands for was allowed already.
		ok = true
	case write:
		ok = h.acl.Load().CanPublish(user, cl.ID, topic)
	default:
		ok = h.acl.Load().CanSubscribe(user, cl.ID, topic)
	}
	if !ok {
		h.aclDenied.Add(1)
		action := "subscribe"
		if write {
			action = "publish"
		}
		h.warn("acl", "mqtt "+action+" denied", cl, user, slog.String("topic", topic))
	}
	return ok
}

// warn logs a refusal, at most once per logevery.Every for each kind, user and
// remote host.
func (h *Hook) warn(kind, msg string, cl *mqtt.Client, user string, attr ...slog.Attr) {
	host := remoteHost(cl.Net.Remote)
	suppressed, ok := h.limit.Allow(kind+"\x00"+user+"\x00"+host, h.now())
	if !ok {
		return
	}
	attrs := []any{
		slog.String("client", cl.ID),
		slog.String("user", user),
		slog.String("remote", cl.Net.Remote),
	}
	for _, a := range attr {
		attrs = append(attrs, a)
	}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	h.logger.Warn(msg, attrs...)
}

// remoteHost is the host part of a client's remote address, so reconnects
// from new ports count as the same client.
func remoteHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// isLoopback reports whether a client's remote address (host:port, or a
// bare IP) is on 127.0.0.0/8 or ::1. Anything else, a Unix socket
// included, is not.
func isLoopback(remote string) bool {
	addr, err := netip.ParseAddr(remoteHost(remote))
	if err != nil {
		return false
	}
	return addr.Unmap().IsLoopback()
}
