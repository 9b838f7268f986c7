package auth

import (
	"strings"
	"testing"
)

func TestNewACLErrors(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		want  []string // substrings of the error; none for a valid list
	}{
		{"valid", []Rule{
			{Users: []string{"bob"}, Publish: []string{"sensors/%u/#"}},
			{Users: []string{"*", "anonymous"}, Subscribe: []string{"#"}},
			{Publish: []string{"a"}},
		}, nil},
		{"bad publish filter by index", []Rule{
			{Publish: []string{"a"}},
			{Publish: []string{"b"}},
			{Users: []string{"x"}, Publish: []string{"a/#/b"}},
		}, []string{`acl[2].publish[0]: "a/#/b": # must be the last level`}},
		{"bad subscribe filter", []Rule{{Subscribe: []string{"ok", "a+"}}},
			[]string{`acl[0].subscribe[1]: "a+": + must be a whole level`}},
		{"bad user", []Rule{{Users: []string{"a b", ""}, Publish: []string{"x"}}},
			[]string{`acl[0].users[0]: "a b" contains whitespace`, `acl[0].users[1]: "" is empty`}},
		{"empty rule", []Rule{{Users: []string{"bob"}}},
			[]string{"acl[0]: the rule has neither publish nor subscribe"}},
		{"every problem reported", []Rule{
			{Publish: []string{"#/x"}},
			{Subscribe: []string{""}},
		}, []string{"acl[0].publish[0]", `acl[1].subscribe[0]: "": empty filter`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewACL(tc.rules)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("NewACL: %v", err)
				}
				if a.Len() != len(tc.rules) {
					t.Errorf("Len = %d, want %d", a.Len(), len(tc.rules))
				}
				return
			}
			if err == nil {
				t.Fatalf("NewACL succeeded, want errors %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestACL(t *testing.T) {
	acl, err := NewACL([]Rule{
		{Users: []string{"bob"}, Publish: []string{"sensors/bob/#"}, Subscribe: []string{"commands/bob/#"}},
		{Users: []string{"*"}, Publish: []string{"devices/%u/#", "clients/%c/status"}, Subscribe: []string{"devices/%u/#", "public/#"}},
		{Users: []string{"anonymous"}, Publish: []string{"local/+/reading"}, Subscribe: []string{"local/+/reading"}},
		{Users: []string{"admin"}, Publish: []string{"#"}, Subscribe: []string{"#", "$SYS/#"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	type check struct {
		user, client, topic string
		sub                 bool // CanSubscribe, else CanPublish
		want                bool
	}
	tests := []check{
		{"bob", "c1", "sensors/bob/temp", false, true},
		{"bob", "c1", "sensors/alice/temp", false, false},
		{"bob", "c1", "devices/bob/x", false, true}, // "*" rule with %u
		{"alice", "c1", "devices/alice/x", false, true},
		{"alice", "c1", "devices/bob/x", false, false},
		{"alice", "c1", "sensors/bob/temp", false, false},
		{"alice", "dev7", "clients/dev7/status", false, true},
		{"alice", "dev7", "clients/dev8/status", false, false},
		{"bob", "c1", "commands/bob/#", true, true},
		{"bob", "c1", "commands/#", true, false},
		{"bob", "c1", "public/news", true, true},
		{"bob", "c1", "$share/g/public/#", true, true},
		{"bob", "c1", "$share/g/#", true, false},
		{"bob", "c1", "sensors/bob/temp", true, false}, // may publish, not read
		// Anonymous clients get only the "anonymous" rules.
		{"", "c1", "local/porch/reading", false, true},
		{"", "c1", "local/+/reading", true, true},
		{"", "c1", "local/#", true, false},
		{"", "c1", "public/news", true, false},
		{"", "c1", "devices//x", false, false}, // empty %u never matches
		// Wildcards and $.
		{"admin", "c1", "anything/at/all", false, true},
		{"admin", "c1", "$SYS/broker/uptime", true, true},
		{"bob", "c1", "sensors/bob/+", false, false}, // not a topic name
		{"bob", "c1", "", false, false},
		{"bob", "c1", "commands/bob/#/x", true, false}, // not a filter
		// Injection through usernames and client ids.
		{"+", "c1", "devices/+/x", false, false},
		{"+", "c1", "devices/+/#", true, false},
		{"#", "c1", "devices/#", true, false},
		{"#", "c1", "devices/#", false, false},
		{"a/b", "c1", "devices/a/b/x", false, false},
		{"a/b", "c1", "devices/a/b/#", true, false},
		{"alice", "+", "clients/+/status", false, false},
		{"alice", "a/b", "clients/a/b/status", false, false},
		{"alice", "#", "clients/#", false, false},
	}
	for _, tc := range tests {
		name := "publish"
		if tc.sub {
			name = "subscribe"
		}
		t.Run(name+" "+tc.user+" "+tc.client+" "+tc.topic, func(t *testing.T) {
			var got bool
			if tc.sub {
				got = acl.CanSubscribe(tc.user, tc.client, tc.topic)
			} else {
				got = acl.CanPublish(tc.user, tc.client, tc.topic)
			}
			if got != tc.want {
				t.Errorf("= %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEmptyACLAllowsAll(t *testing.T) {
	empty, err := NewACL(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*ACL{nil, empty} {
		for _, user := range []string{"", "bob"} {
			if !a.CanPublish(user, "c", "a/b") || !a.CanSubscribe(user, "c", "#") || !a.CanSubscribe(user, "c", "$SYS/#") {
				t.Errorf("ACL with %d rules denies user %q", a.Len(), user)
			}
			if a.CanPublish(user, "c", "a/#") || a.CanSubscribe(user, "c", "a/#/b") {
				t.Errorf("ACL with %d rules allows an invalid topic or filter", a.Len())
			}
		}
	}
}

func TestACLDenials(t *testing.T) {
	tests := []struct {
		name  string
		rules []Rule
		check func(a *ACL) bool
		want  bool
	}{
		// Only denials: what is not denied stays allowed.
		{"deny only: other topics allowed", []Rule{{DenyPublish: []string{"edged/#"}, DenySubscribe: []string{"secret/#"}}},
			func(a *ACL) bool {
				return a.CanPublish("bob", "c", "sensors/x") && a.CanSubscribe("bob", "c", "sensors/#")
			}, true},
		{"deny only: denied publish", []Rule{{DenyPublish: []string{"edged/#"}}},
			func(a *ACL) bool { return a.CanPublish("bob", "c", "edged/local/x") }, false},
		{"deny only: denied subscribe", []Rule{{DenySubscribe: []string{"secret/#"}}},
			func(a *ACL) bool { return a.CanSubscribe("bob", "c", "secret/a/b") }, false},
		{"deny only: wider subscribe allowed", []Rule{{DenySubscribe: []string{"secret/#"}}},
			func(a *ACL) bool { return a.CanSubscribe("bob", "c", "#") }, true},
		{"deny only: delivery on a denied topic skipped", []Rule{{DenySubscribe: []string{"secret/#"}}},
			func(a *ACL) bool { return a.CanSubscribe("bob", "c", "secret/x") }, false},
		{"denial wins over a grant", []Rule{{Publish: []string{"#"}}, {Users: []string{"bob"}, DenyPublish: []string{"actuators/#"}}},
			func(a *ACL) bool { return a.CanPublish("bob", "c", "actuators/valve") }, false},
		{"denial for one user only", []Rule{{Publish: []string{"#"}}, {Users: []string{"bob"}, DenyPublish: []string{"actuators/#"}}},
			func(a *ACL) bool { return a.CanPublish("alice", "c", "actuators/valve") }, true},
		{"grants still whitelist", []Rule{{Publish: []string{"sensors/#"}}, {DenyPublish: []string{"sensors/secret"}}},
			func(a *ACL) bool { return a.CanPublish("bob", "c", "other") }, false},
		{"%u in a denial", []Rule{{DenyPublish: []string{"sensors/%u/config"}}},
			func(a *ACL) bool { return a.CanPublish("bob", "c", "sensors/bob/config") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := NewACL(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.check(a); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
