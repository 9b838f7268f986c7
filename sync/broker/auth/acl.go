package auth

import (
	"errors"
	"fmt"
)

// Names with a meaning of their own in Rule.Users.
const (
	// AnyUser in Rule.Users stands for every user from the password file
	// (not anonymous clients).
	AnyUser = "*"
	// Anonymous in Rule.Users stands for clients that connect without a
	// username. No user in the password file may have this name.
	Anonymous = "anonymous"
)

// Rule grants the users it lists the right to publish and subscribe on
// topic filters, or denies it. What no rule grants is denied, unless no
// rule grants anything (only denials): then what is not denied is allowed.
// A denial wins over any grant.
type Rule struct {
	// Users the rule applies to: usernames, AnyUser ("*") for every user
	// from the password file, or Anonymous ("anonymous") for clients
	// without a username. Empty means AnyUser.
	Users []string `yaml:"users"`
	// Publish filters: a client may publish to a topic one of them matches.
	Publish []string `yaml:"publish"`
	// Subscribe filters: a client may subscribe to a filter that lies
	// within one of them, and receives messages on topics they match.
	Subscribe []string `yaml:"subscribe"`
	// DenyPublish filters: a client may not publish to a topic one of them
	// matches, whatever else grants it.
	DenyPublish []string `yaml:"deny_publish"`
	// DenySubscribe filters: a client may not subscribe to a filter that
	// lies within one of them, and receives no message on a topic one of
	// them matches (so a wider subscription, such as #, skips those).
	DenySubscribe []string `yaml:"deny_subscribe"`
}

// Validate reports every problem with the rule, each naming its field
// (users[1], publish[0]) and the value.
func (r Rule) Validate() error {
	var errs []error
	for i, u := range r.Users {
		if u == AnyUser || u == Anonymous {
			continue
		}
		if err := validateUser(u); err != nil {
			errs = append(errs, &fieldError{fmt.Sprintf("users[%d]", i), fmt.Errorf("%q %w", u, err)})
		}
	}
	if len(r.Publish) == 0 && len(r.Subscribe) == 0 && len(r.DenyPublish) == 0 && len(r.DenySubscribe) == 0 {
		errs = append(errs, &fieldError{"", errors.New("the rule has neither publish nor subscribe filters, so it grants nothing: add some or remove the rule")})
	}
	for _, f := range []struct {
		field   string
		filters []string
	}{{"publish", r.Publish}, {"subscribe", r.Subscribe}, {"deny_publish", r.DenyPublish}, {"deny_subscribe", r.DenySubscribe}} {
		for i, s := range f.filters {
			if _, err := parsePattern(s); err != nil {
				errs = append(errs, &fieldError{fmt.Sprintf("%s[%d]", f.field, i), fmt.Errorf("%q: %w", s, err)})
			}
		}
	}
	return errors.Join(errs...)
}

// fieldError is a problem with one field of a Rule.
type fieldError struct {
	field string // users[1], publish[0]; "" for the rule as a whole
	err   error
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.err.Error()
	}
	return e.field + ": " + e.err.Error()
}

func (e *fieldError) Unwrap() error { return e.err }

// ACL decides what each client may publish and subscribe to. A nil ACL, or
// one built from no rules, allows everything to every client. An ACL is
// read-only once built and safe for concurrent use.
type ACL struct {
	rules  []compiledRule
	grants bool // some rule grants; otherwise what is not denied is allowed
}

// compiledRule is a Rule with its filters parsed.
type compiledRule struct {
	anyUser, anonymous         bool
	users                      map[string]bool
	publish, subscribe         []pattern
	denyPublish, denySubscribe []pattern
}

// NewACL checks the rules and builds an ACL from them. Its error lists
// every problem, each named by its place: acl[2].publish[0]: "a/#/b": #
// must be the last level.
func NewACL(rules []Rule) (*ACL, error) {
	var errs []error
	a := &ACL{rules: make([]compiledRule, 0, len(rules))}
	for i, r := range rules {
		if err := r.Validate(); err != nil {
			for _, e := range unjoin(err) {
				var fe *fieldError
				if errors.As(e, &fe) && fe.field != "" {
					errs = append(errs, fmt.Errorf("acl[%d].%w", i, e))
				} else {
					errs = append(errs, fmt.Errorf("acl[%d]: %w", i, e))
				}
			}
			continue
		}
		c := compiledRule{anyUser: len(r.Users) == 0, users: make(map[string]bool)}
		for _, u := range r.Users {
			switch u {
			case AnyUser:
				c.anyUser = true
			case Anonymous:
				c.anonymous = true
			default:
				c.users[u] = true
			}
		}
		for _, s := range r.Publish {
			p, _ := parsePattern(s) // checked by Validate
			c.publish = append(c.publish, p)
		}
		for _, s := range r.Subscribe {
			p, _ := parsePattern(s) // checked by Validate
			c.subscribe = append(c.subscribe, p)
		}
		for _, s := range r.DenyPublish {
			p, _ := parsePattern(s) // checked by Validate
			c.denyPublish = append(c.denyPublish, p)
		}
		for _, s := range r.DenySubscribe {
			p, _ := parsePattern(s) // checked by Validate
			c.denySubscribe = append(c.denySubscribe, p)
		}
		a.grants = a.grants || len(c.publish) > 0 || len(c.subscribe) > 0
		a.rules = append(a.rules, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// unjoin undoes errors.Join, so each problem can get its own prefix.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Len is the number of rules; 0 means everything is allowed.
func (a *ACL) Len() int {
	if a == nil {
		return 0
	}
	return len(a.rules)
}

// CanPublish reports whether the client may publish to topic. An empty user
// is an anonymous client. A topic that is not a valid topic name is denied.
func (a *ACL) CanPublish(user, clientID, topic string) bool {
	levels, ok := splitTopic(topic)
	if !ok {
		return false
	}
	if a.Len() == 0 {
		return true
	}
	for _, r := range a.rules {
		if !r.appliesTo(user) {
			continue
		}
		for _, p := range r.denyPublish {
			if p.matches(levels, user, clientID) {
				return false
			}
		}
	}
	if !a.grants {
		return true
	}
	for _, r := range a.rules {
		if !r.appliesTo(user) {
			continue
		}
		for _, p := range r.publish {
			if p.matches(levels, user, clientID) {
				return true
			}
		}
	}
	return false
}

// CanSubscribe reports whether the client may subscribe to filter, which
// may also be a topic name (mochi checks each delivered message this way)
// or a shared subscription ($share/group/filter, checked as filter). An
// empty user is an anonymous client. An invalid filter is denied.
func (a *ACL) CanSubscribe(user, clientID, filter string) bool {
	levels, ok := splitFilter(filter)
	if !ok {
		return false
	}
	if a.Len() == 0 {
		return true
	}
	for _, r := range a.rules {
		if !r.appliesTo(user) {
			continue
		}
		for _, p := range r.denySubscribe {
			if p.contains(levels, user, clientID) {
				return false
			}
		}
	}
	if !a.grants {
		return true
	}
	for _, r := range a.rules {
		if !r.appliesTo(user) {
			continue
		}
		for _, p := range r.subscribe {
			if p.contains(levels, user, clientID) {
				return true
			}
		}
	}
	return false
}

// appliesTo reports whether the rule is for user ("" is anonymous).
func (r compiledRule) appliesTo(user string) bool {
	if user == "" {
		return r.anonymous
	}
	return r.anyUser || r.users[user]
}
