package auth

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	pahopackets "github.com/eclipse/paho.mqtt.golang/packets"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"golang.org/x/crypto/bcrypt"
)

// wait bounds every wait on the broker in these tests.
const wait = 5 * time.Second

// testACL is the ACL of the broker tests.
func testACL(t *testing.T) *ACL {
	t.Helper()
	acl, err := NewACL([]Rule{
		{Users: []string{"bob"}, Publish: []string{"sensors/%u/#"}, Subscribe: []string{"commands/%u/#"}},
		{Users: []string{"admin"}, Publish: []string{"#"}, Subscribe: []string{"#"}},
		{Users: []string{"anonymous"}, Publish: []string{"local/#"}, Subscribe: []string{"local/#"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return acl
}

// startBroker runs a mochi server with the hook on a free loopback port and
// returns its address.
func startBroker(t *testing.T, o Options) (string, *Hook) {
	t.Helper()
	path := writeFile(t, "passwd", "", 0o600)
	for _, u := range []string{"bob", "admin"} {
		if err := SetPassword(path, u, u+"-pw", bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	o.Passwords = mustLoad(t, path)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := NewHook(o)
	s := mqtt.New(&mqtt.Options{Logger: slog.New(slog.DiscardHandler), InlineClient: true})
	if err := s.AddHook(h, nil); err != nil {
		t.Fatal(err)
	}
	l := listeners.NewTCP(listeners.Config{ID: "test", Address: "127.0.0.1:0"})
	if err := s.AddListener(l); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return l.Address(), h
}

// pahoClient is an MQTT 3.1.1 client and the errors of its lost connection.
type pahoClient struct {
	paho.Client
	lost chan error
}

// dial connects an MQTT 3.1.1 client; user "" connects anonymously. A
// will, if given, is set on will's topic.
func dial(t *testing.T, addr, id, user, password string, will ...string) (*pahoClient, error) {
	t.Helper()
	c := &pahoClient{lost: make(chan error, 1)}
	opts := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetUsername(user).SetPassword(password).SetProtocolVersion(4).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(wait).
		SetConnectionLostHandler(func(_ paho.Client, err error) { c.lost <- err })
	for _, topic := range will {
		opts.SetWill(topic, "gone", 1, false)
	}
	c.Client = paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		t.Fatal("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

// mustDial connects or fails the test.
func mustDial(t *testing.T, addr, id, user, password string) *pahoClient {
	t.Helper()
	c, err := dial(t, addr, id, user, password)
	if err != nil {
		t.Fatalf("connect %s as %q: %v", id, user, err)
	}
	return c
}

// await waits for tok, failing the test on a timeout.
func await(t *testing.T, tok paho.Token) paho.Token {
	t.Helper()
	if !tok.WaitTimeout(wait) {
		t.Fatal("timed out")
	}
	return tok
}

// TestBrokerConnect shows that mochi refuses an MQTT 3.1.1 client with
// CONNACK 0x05 "not authorized" (its 0x86 "bad username or password" has
// no 3.1.1 equivalent in mochi's table).
func TestBrokerConnect(t *testing.T) {
	tests := []struct {
		name, user, password string
		will                 []string
		anonymous            bool
		wantErr              error // nil: connects
	}{
		{"good password", "bob", "bob-pw", nil, false, nil},
		{"wrong password", "bob", "admin-pw", nil, true, pahopackets.ErrorRefusedNotAuthorised},
		{"unknown user", "carol", "bob-pw", nil, true, pahopackets.ErrorRefusedNotAuthorised},
		{"anonymous disabled", "", "", nil, false, pahopackets.ErrorRefusedNotAuthorised},
		{"anonymous enabled", "", "", nil, true, nil},
		{"will allowed", "bob", "bob-pw", []string{"sensors/bob/status"}, false, nil},
		{"will outside ACL", "bob", "bob-pw", []string{"secret/status"}, false, pahopackets.ErrorRefusedNotAuthorised},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr, h := startBroker(t, Options{ACL: testACL(t), AllowAnonymous: tc.anonymous})
			_, err := dial(t, addr, "c1", tc.user, tc.password, tc.will...)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("connect = %v, want %v", err, tc.wantErr)
			}
			st := h.Stats()
			if tc.wantErr == nil && st.AuthOK != 1 || tc.wantErr != nil && st.AuthRefused != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestBrokerACLv311 shows what mochi does with denials for MQTT 3.1.1
// clients: a denied QoS 0 publish is dropped and the client stays; a denied
// QoS 1 publish gets no PUBACK and the client is disconnected; a denied
// subscription gets SUBACK 0x80.
func TestBrokerACLv311(t *testing.T) {
	addr, h := startBroker(t, Options{ACL: testACL(t)})
	got := make(chan string, 10)
	watcher := mustDial(t, addr, "watcher", "admin", "admin-pw")
	await(t, watcher.Subscribe("#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() }))
	next := func() string {
		t.Helper()
		select {
		case topic := <-got:
			return topic
		case <-time.After(wait):
			t.Fatal("no message delivered")
			return ""
		}
	}

	bob := mustDial(t, addr, "bob-1", "bob", "bob-pw")

	// QoS 0 outside the ACL: dropped; the next allowed publish arrives first.
	await(t, bob.Publish("secret/a", 0, false, "x"))
	await(t, bob.Publish("sensors/bob/t", 0, false, "x"))
	if topic := next(); topic != "sensors/bob/t" {
		t.Fatalf("watcher got %q, want sensors/bob/t", topic)
	}
	if !bob.IsConnectionOpen() {
		t.Fatal("a denied QoS 0 publish disconnected the client")
	}

	// Subscription outside the ACL: SUBACK 0x80; inside: granted.
	tok := await(t, bob.SubscribeMultiple(map[string]byte{"commands/#": 1, "commands/bob/#": 1}, nil)).(*paho.SubscribeToken)
	if r := tok.Result(); r["commands/#"] != 0x80 || r["commands/bob/#"] != 1 {
		t.Errorf("SUBACK codes %v, want commands/#: 0x80, commands/bob/#: 1", r)
	}

	// QoS 1 outside the ACL: no PUBACK, the connection is closed.
	pub := bob.Publish("secret/b", 1, false, "x")
	select {
	case err := <-bob.lost:
		t.Logf("connection lost: %v", err)
	case <-time.After(wait):
		t.Fatal("a denied QoS 1 publish left the MQTT 3.1.1 client connected")
	}
	if pub.WaitTimeout(wait) && pub.Error() == nil {
		t.Error("the denied QoS 1 publish completed without error")
	} else {
		t.Logf("denied QoS 1 publish: %v", pub.Error())
	}
	await(t, watcher.Publish("marker", 1, false, "x"))
	if topic := next(); topic != "marker" {
		t.Fatalf("watcher got %q, want only the marker", topic)
	}
	if st := h.Stats(); st.ACLDenied != 3 {
		t.Errorf("ACLDenied = %d, want 3 (two publishes, one filter)", st.ACLDenied)
	}
}

func TestBrokerAnonymousACL(t *testing.T) {
	addr, _ := startBroker(t, Options{ACL: testACL(t), AllowAnonymous: true})
	anon := mustDial(t, addr, "anon", "", "")
	got := make(chan string, 10)
	tok := await(t, anon.SubscribeMultiple(map[string]byte{"local/#": 0, "sensors/#": 0},
		func(_ paho.Client, m paho.Message) { got <- m.Topic() })).(*paho.SubscribeToken)
	if r := tok.Result(); r["local/#"] != 0 || r["sensors/#"] != 0x80 {
		t.Errorf("SUBACK codes %v, want local/#: 0, sensors/#: 0x80", r)
	}
	await(t, anon.Publish("sensors/x", 0, false, "x"))
	await(t, anon.Publish("local/x", 0, false, "x"))
	select {
	case topic := <-got:
		if topic != "local/x" {
			t.Errorf("got %q, want local/x", topic)
		}
	case <-time.After(wait):
		t.Fatal("no message delivered")
	}
}
