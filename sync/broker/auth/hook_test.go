package auth

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/edged-gateway/edged/internal/logevery"
)

// testPasswords makes a password file with bob:bob-pw and alice:alice-pw.
func testPasswords(t *testing.T) *Passwords {
	t.Helper()
	path := writeFile(t, "passwd", "", 0o600)
	for _, u := range []string{"bob", "alice"} {
		if err := SetPassword(path, u, u+"-pw", bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	return mustLoad(t, path)
}

// connect is a CONNECT packet with the given credentials.
func connect(user, password string) packets.Packet {
	var pk packets.Packet
	pk.Connect.Username, pk.Connect.UsernameFlag = []byte(user), user != ""
	pk.Connect.Password, pk.Connect.PasswordFlag = []byte(password), password != ""
	return pk
}

// client is a mochi client as the server sees it, from remote.
func client(id, user, remote string) *mqtt.Client {
	cl := &mqtt.Client{ID: id}
	cl.Net.Remote = remote
	cl.Properties.Username = []byte(user)
	return cl
}

func TestOnConnectAuthenticate(t *testing.T) {
	pw := testPasswords(t)
	acl, err := NewACL([]Rule{
		{Publish: []string{"status/%c"}},
		{Users: []string{"anonymous"}, Publish: []string{"local/#"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	will := func(pk packets.Packet, topic string) packets.Packet {
		pk.Connect.WillFlag, pk.Connect.WillTopic = true, topic
		return pk
	}
	tests := []struct {
		name       string
		pw         *Passwords
		anonymous  bool
		remote     string
		pk         packets.Packet
		want       bool
		wantReason string
	}{
		{"good password", pw, false, "192.0.2.7:4000", connect("bob", "bob-pw"), true, ""},
		{"wrong password", pw, true, "127.0.0.1:4000", connect("bob", "alice-pw"), false, "wrong_password"},
		{"empty password", pw, true, "127.0.0.1:4000", connect("bob", ""), false, "wrong_password"},
		{"unknown user", pw, true, "127.0.0.1:4000", connect("carol", "x"), false, "unknown_user"},
		{"no password file", nil, true, "127.0.0.1:4000", connect("bob", "bob-pw"), false, "unknown_user"},
		{"password without username", pw, true, "127.0.0.1:4000", connect("", "bob-pw"), false, "password_without_username"},
		{"anonymous off", pw, false, "127.0.0.1:4000", connect("", ""), false, "anonymous_not_allowed"},
		{"anonymous loopback", pw, true, "127.0.0.1:4000", connect("", ""), true, ""},
		{"anonymous 127.8.9.10", pw, true, "127.8.9.10:4000", connect("", ""), true, ""},
		{"anonymous ::1", pw, true, "[::1]:4000", connect("", ""), true, ""},
		{"anonymous mapped v4", pw, true, "[::ffff:127.0.0.1]:4000", connect("", ""), true, ""},
		{"anonymous LAN", pw, true, "192.168.1.20:4000", connect("", ""), false, "anonymous_not_loopback"},
		{"anonymous v6 LAN", pw, true, "[fe80::1%eth0]:4000", connect("", ""), false, "anonymous_not_loopback"},
		{"anonymous unix socket", pw, true, "@", connect("", ""), false, "anonymous_not_loopback"},
		{"anonymous no remote", pw, true, "", connect("", ""), false, "anonymous_not_loopback"},
		{"will allowed", pw, false, "192.0.2.7:4000", will(connect("bob", "bob-pw"), "status/c1"), true, ""},
		{"will denied", pw, false, "192.0.2.7:4000", will(connect("bob", "bob-pw"), "status/other"), false, "will_topic_denied"},
		{"anonymous will denied", pw, true, "127.0.0.1:4000", will(connect("", ""), "status/c1"), false, "will_topic_denied"},
		{"anonymous will allowed", pw, true, "127.0.0.1:4000", will(connect("", ""), "local/x"), true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := NewHook(Options{Passwords: tc.pw, ACL: acl, AllowAnonymous: tc.anonymous,
				Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			cl := client("c1", string(tc.pk.Connect.Username), tc.remote)
			if got := h.OnConnectAuthenticate(cl, tc.pk); got != tc.want {
				t.Fatalf("OnConnectAuthenticate = %v, want %v", got, tc.want)
			}
			st := h.Stats()
			if tc.want && (st.AuthOK != 1 || st.AuthRefused != 0) || !tc.want && (st.AuthOK != 0 || st.AuthRefused != 1) {
				t.Errorf("stats %+v", st)
			}
			if tc.wantReason != "" && !strings.Contains(buf.String(), "reason="+tc.wantReason) {
				t.Errorf("log %q lacks reason=%s", buf.String(), tc.wantReason)
			}
			if tc.want && buf.Len() > 0 {
				t.Errorf("logged %q for an accepted client", buf.String())
			}
			if strings.Contains(buf.String(), "-pw") {
				t.Errorf("log %q holds a password", buf.String())
			}
		})
	}
}

func TestInlineClientAlwaysAllowed(t *testing.T) {
	acl, err := NewACL([]Rule{{Users: []string{"bob"}, Publish: []string{"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHook(Options{ACL: acl})
	cl := client("inline", "", "")
	cl.Net.Inline = true
	if !h.OnConnectAuthenticate(cl, connect("", "")) || !h.OnACLCheck(cl, "any/topic", true) || !h.OnACLCheck(cl, "#", false) {
		t.Error("inline client refused")
	}
	if st := h.Stats(); st != (Stats{}) {
		t.Errorf("inline client counted: %+v", st)
	}
}

func TestOnACLCheck(t *testing.T) {
	acl, err := NewACL([]Rule{
		{Users: []string{"bob"}, Publish: []string{"sensors/%u/#"}, Subscribe: []string{"commands/%u/#"}},
		{Users: []string{"anonymous"}, Subscribe: []string{"public/#"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, topic string
		write, want bool
	}{
		{"bob", "sensors/bob/t", true, true},
		{"bob", "sensors/alice/t", true, false},
		{"bob", "", true, true}, // by topic alias, see OnACLCheck
		{"bob", "commands/bob/#", false, true},
		{"bob", "commands/bob/reboot", false, true}, // a delivery
		{"bob", "commands/#", false, false},
		{"", "public/x", false, true},
		{"", "public/x", true, false},
		{"", "commands/bob/#", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.user+" "+tc.topic, func(t *testing.T) {
			h := NewHook(Options{ACL: acl, Logger: slog.New(slog.DiscardHandler)})
			if got := h.OnACLCheck(client("c1", tc.user, "127.0.0.1:1"), tc.topic, tc.write); got != tc.want {
				t.Errorf("OnACLCheck(%q, %v) = %v, want %v", tc.topic, tc.write, got, tc.want)
			}
			if want := map[bool]uint64{true: 0, false: 1}[tc.want]; h.Stats().ACLDenied != want {
				t.Errorf("ACLDenied = %d, want %d", h.Stats().ACLDenied, want)
			}
		})
	}
}

func TestRefusalLogIsRateLimited(t *testing.T) {
	var buf bytes.Buffer
	h := NewHook(Options{Passwords: testPasswords(t), Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	bad := connect("bob", "wrong")
	for i := range 50 { // a client retrying in a loop, from new ports
		h.OnConnectAuthenticate(client("c1", "bob", fmt.Sprintf("192.0.2.7:%d", 4000+i)), bad)
	}
	h.OnConnectAuthenticate(client("c2", "alice", "192.0.2.7:1"), connect("alice", "wrong"))
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d log lines for 51 refusals of 2 users, want 2:\n%s", n, buf.String())
	}
	for _, key := range []string{"level=WARN", "client=c1", "user=bob", "remote=192.0.2.7:4000", "reason=wrong_password"} {
		if !strings.Contains(buf.String(), key) {
			t.Errorf("log lacks %s:\n%s", key, buf.String())
		}
	}
	buf.Reset()
	now = now.Add(logevery.Every)
	h.OnConnectAuthenticate(client("c1", "bob", "192.0.2.7:1"), bad)
	if !strings.Contains(buf.String(), "suppressed=49") {
		t.Errorf("the next line does not count the 49 held back:\n%s", buf.String())
	}
	if st := h.Stats(); st.AuthRefused != 52 {
		t.Errorf("AuthRefused = %d, want 52: every refusal counts, logged or not", st.AuthRefused)
	}
}
