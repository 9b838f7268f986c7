// Package auth is authentication and authorization for edged's embedded
// MQTT broker: a mosquitto-compatible password file (bcrypt, or mosquitto's
// $7$ and $6$ hashes), ACL
// rules over MQTT topic filters, and a mochi-mqtt hook that applies both.
//
// # Who may connect
//
// A client that gives a username must give that user's password from the
// password file. A client without a username is anonymous: it is let in
// only when anonymous access is allowed and it connects from a loopback
// address (127.0.0.0/8 or ::1). The broker's own in-process (inline) client
// is always let in. A client whose last will names a topic it may not
// publish to is refused at connect, because mochi publishes wills without
// an ACL check.
//
// A client id belongs to the user whose client holds it (connected, or a
// kept session): another user, or an anonymous client, giving that id is
// refused, so it can neither knock the owner's client off nor take its
// session (Options.SessionOwner).
//
// Wrong passwords back off (Backoff): after a few from one source address,
// or for one username, logins from that address or as that user are
// refused for a while without the password being checked, the wait
// doubling with each further failure up to a bound. A guesser gets no more
// bcrypt checks than the free attempts plus one per back-off period.
//
// # What a client may do
//
// An ACL with no rules lets every client that may connect publish and
// subscribe to everything. Otherwise the rules are a whitelist: a client may
// publish to topic T if some rule that applies to it has a publish filter
// matching T, and subscribe to filter F if some rule that applies to it has
// a subscribe filter that contains F, meaning every topic F could match is
// also matched by the rule's filter (sensors/porch/# is within sensors/#;
// sensors/# is not within sensors/+/temp). The same check is applied by
// mochi to every message it delivers. Shared subscriptions
// ($share/group/F) are checked as F.
//
// Rules may also deny (deny_publish, deny_subscribe): a denial wins over
// any grant, and an ACL of denials only allows what it does not deny. A
// denied subscribe filter is one within a deny_subscribe filter; a wider
// subscription is allowed but gets no message on a denied topic.
//
// A rule applies to the users it lists; "*" or an empty list means every
// user from the password file, and "anonymous" means clients without a
// username (the name is reserved: no user may be called anonymous). Filters
// follow MQTT: + is one level, # is the rest (and the parent level), and a
// filter that starts with a wildcard never matches a topic that starts with
// $ — those need a filter that names the $ level. A level that is exactly
// %u or %c stands for the username or the client id. A value that contains
// +, # or /, is empty, or (in the first level) starts with $ makes that
// filter match nothing, so a user called "#" gets no more than one called
// "bob". Client ids are chosen by clients, so a rule with %c trusts any
// client that claims that id; combine it with %u where that matters.
//
// # Password file
//
// One user:hash per line, # comments and blank lines allowed, as written by
// mosquitto_passwd or htpasswd -B: bcrypt hashes ($2a$, $2b$, $2y$), and
// mosquitto's own $7$ (PBKDF2-SHA512, mosquitto_passwd's default) and $6$
// (SHA-512), so a mosquitto password file works as it is. SetPassword
// writes bcrypt. SetPassword and DeleteUser rewrite the file atomically
// with mode 0600 and keep every other line as it was.
package auth
