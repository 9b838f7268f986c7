package broker

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"

	"github.com/edged-gateway/edged/internal/testpki"
	"github.com/edged-gateway/edged/sync/broker/auth"
)

// clients returns the paths of mosquitto_pub and mosquitto_sub: real MQTT
// clients nobody here wrote. Without them the test is skipped, or fails
// when CI is set.
func clients(t *testing.T) (pub, sub string) {
	t.Helper()
	pub, err1 := exec.LookPath("mosquitto_pub")
	sub, err2 := exec.LookPath("mosquitto_sub")
	if err := errors.Join(err1, err2); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mosquitto clients missing (apt-get install mosquitto-clients); CI is set: %v", err)
		}
		t.Skipf("mosquitto clients missing (apt-get install mosquitto-clients): %v", err)
	}
	return pub, sub
}

// start runs a broker on a free loopback port until the test ends.
func start(t *testing.T, cfg Config) *Broker {
	t.Helper()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("broker run: %v", err)
		}
	})
	return b
}

// mq runs a mosquitto client against b and returns its exit error and output.
func mq(t *testing.T, b *Broker, bin string, args ...string) (string, error) {
	t.Helper()
	host, port, _ := strings.Cut(b.Addr(), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...).CombinedOutput()
	return string(out), err
}

// subscribe starts mosquitto_sub and returns a function that waits for it
// to exit (after count messages, or its -W timeout) and returns what it
// printed. It waits until the subscription is in place.
func subscribe(t *testing.T, b *Broker, sub string, count int, args ...string) func() string {
	t.Helper()
	host, port, _ := strings.Cut(b.Addr(), ":")
	var out bytes.Buffer
	before := b.Stats().Clients
	cmd := exec.Command(sub, append([]string{"-h", host, "-p", port, "-v", "-C", strconv.Itoa(count), "-W", "10"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for i := 0; b.Stats().Clients == before && i < 1000; i++ {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // SUBSCRIBE follows CONNECT
	return func() string {
		cmd.Wait()
		return out.String()
	}
}

func writeUsers(t *testing.T, users ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "passwd")
	for i := 0; i < len(users); i += 2 {
		if err := auth.SetPassword(f, users[i], users[i+1], bcrypt.MinCost); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestLoginsAcceptedAndRefused(t *testing.T) {
	pub, _ := clients(t)
	b := start(t, Config{PasswdFile: writeUsers(t, "porch", "s3cret"), AllowAnonymous: false})
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"right password", []string{"-u", "porch", "-P", "s3cret"}, true},
		{"wrong password", []string{"-u", "porch", "-P", "guess"}, false},
		{"unknown user", []string{"-u", "mallory", "-P", "s3cret"}, false},
		{"anonymous when not allowed", nil, false},
		{"right password, MQTT 5", []string{"-V", "5", "-u", "porch", "-P", "s3cret"}, true},
		{"wrong password, MQTT 5", []string{"-V", "5", "-u", "porch", "-P", "guess"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mq(t, b, pub, append(tt.args, "-t", "sensors/porch/t", "-m", "1")...)
			if tt.ok && err != nil {
				t.Fatalf("refused: %v: %s", err, out)
			}
			lower := strings.ToLower(out)
			if !tt.ok && (err == nil || !(strings.Contains(lower, "not authori") || strings.Contains(lower, "bad user name or password"))) {
				t.Fatalf("want a refusal (not authorised, or bad user name or password in MQTT 5), got err=%v: %s", err, out)
			}
		})
	}
	if st := b.Stats().Auth; st.AuthOK != 2 || st.AuthRefused != 4 {
		t.Errorf("auth stats %+v, want 2 accepted and 4 refused", st)
	}
}

func TestACLKeepsSensorsToTheirPrefix(t *testing.T) {
	pub, sub := clients(t)
	users := writeUsers(t, "porch", "p1", "shed", "p2", "dash", "p3")
	b := start(t, Config{PasswdFile: users, ACL: []auth.Rule{
		{Users: []string{"porch", "shed"}, Publish: []string{"sensors/%u/#"}},
		{Users: []string{"dash"}, Subscribe: []string{"sensors/#"}},
	}})
	wait := subscribe(t, b, sub, 2, "-u", "dash", "-P", "p3", "-t", "sensors/#")
	// porch may publish under its own prefix, not under shed's.
	if out, err := mq(t, b, pub, "-u", "porch", "-P", "p1", "-t", "sensors/shed/t", "-m", "forged", "-q", "0"); err != nil {
		t.Fatalf("QoS 0 publish: %v %s", err, out)
	}
	out, err := mq(t, b, pub, "-u", "porch", "-P", "p1", "-t", "sensors/shed/t", "-m", "forged", "-q", "1", "-V", "5")
	if err != nil || !strings.Contains(out, "Not authorized") {
		t.Fatalf("MQTT 5 QoS 1 publish outside the ACL: want a 'Not authorized' PUBACK, got %v: %s", err, out)
	}
	if _, err := mq(t, b, pub, "-u", "porch", "-P", "p1", "-t", "sensors/shed/t", "-m", "forged", "-q", "1"); err == nil {
		t.Fatal("MQTT 3.1.1 QoS 1 publish outside the ACL succeeded; the broker should drop the client (3.1.1 has no negative PUBACK)")
	}
	for _, m := range []struct{ user, pass, topic, msg string }{{"porch", "p1", "sensors/porch/t", "21.5"}, {"shed", "p2", "sensors/shed/t", "9"}} {
		if out, err := mq(t, b, pub, "-u", m.user, "-P", m.pass, "-t", m.topic, "-m", m.msg, "-q", "1"); err != nil {
			t.Fatalf("%s publishing on %s: %v %s", m.user, m.topic, err, out)
		}
	}
	got := wait()
	if strings.Contains(got, "forged") || !strings.Contains(got, "sensors/porch/t 21.5") || !strings.Contains(got, "sensors/shed/t 9") {
		t.Fatalf("subscriber saw:\n%s\nwant both allowed messages and no forged one", got)
	}
	// dash may not subscribe outside sensors/#.
	out, _ = mq(t, b, sub, "-u", "dash", "-P", "p3", "-t", "#", "-C", "1", "-W", "2")
	if !strings.Contains(strings.ToLower(out), "denied") && !strings.Contains(strings.ToLower(out), "not authori") {
		t.Errorf("subscription outside the ACL: want it refused, got %q", out)
	}
	if b.Stats().Auth.ACLDenied < 3 {
		t.Errorf("ACL denials %d, want at least 3", b.Stats().Auth.ACLDenied)
	}
}

func TestRetainedMessagesSurviveARestart(t *testing.T) {
	pub, sub := clients(t)
	store := filepath.Join(t.TempDir(), "broker.db")
	ctx, cancel := context.WithCancel(context.Background())
	b, err := New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true, StorePath: store})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	if out, err := mq(t, b, pub, "-t", "config/porch/setpoint", "-m", "22.5", "-r", "-q", "1"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b2 := start(t, Config{AllowAnonymous: true, StorePath: store})
	out, err := mq(t, b2, sub, "-t", "config/#", "-v", "-C", "1", "-W", "5")
	if err != nil || strings.TrimSpace(out) != "config/porch/setpoint 22.5" {
		t.Fatalf("after restart the retained message is %q (%v), want config/porch/setpoint 22.5", out, err)
	}
}

// holdHandler keeps each message until the test settles it.
type holdHandler struct {
	mu   sync.Mutex
	got  []Message
	done []func(error)
	in   chan struct{}
}

func (h *holdHandler) Handle(_ context.Context, m Message, done func(error)) {
	h.mu.Lock()
	h.got, h.done = append(h.got, m), append(h.done, done)
	h.mu.Unlock()
	h.in <- struct{}{}
}

func (h *holdHandler) settle(i int, err error) {
	h.mu.Lock()
	d := h.done[i]
	h.mu.Unlock()
	d(err)
}

func TestQoS1IsAcknowledgedOnlyWhenDurable(t *testing.T) {
	pub, sub := clients(t)
	h := &holdHandler{in: make(chan struct{}, 10)}
	b := start(t, Config{AllowAnonymous: true, Routes: []string{"sensors/#"}, Handler: h})
	wait := subscribe(t, b, sub, 1, "-t", "sensors/#")

	host, port, _ := strings.Cut(b.Addr(), ":")
	cmd := exec.Command(pub, "-h", host, "-p", port, "-t", "sensors/porch/temperature", "-m", "21.5", "-q", "1")
	exited := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { exited <- cmd.Wait() }()
	<-h.in // the handler has the message, and holds it
	select {
	case err := <-exited:
		t.Fatalf("mosquitto_pub finished (%v) before the message was durable: the PUBACK came too early", err)
	case <-time.After(300 * time.Millisecond):
	}
	h.settle(0, nil)
	if err := <-exited; err != nil {
		t.Fatalf("mosquitto_pub after the message became durable: %v", err)
	}
	if got := wait(); strings.TrimSpace(got) != "sensors/porch/temperature 21.5" {
		t.Errorf("local subscriber got %q, want the message after it was stored", got)
	}
	if m := h.got[0]; m.Topic != "sensors/porch/temperature" || string(m.Payload) != "21.5" || m.QoS != 1 {
		t.Errorf("handler got %+v", m)
	}
	if st := b.Stats(); st.Routed != 1 || st.Durable != 1 {
		t.Errorf("stats %+v, want 1 routed and durable", st)
	}
}

func TestQoS1NotStoredIsNotAcknowledged(t *testing.T) {
	pub, _ := clients(t)
	h := &holdHandler{in: make(chan struct{}, 10)}
	b := start(t, Config{AllowAnonymous: true, Routes: []string{"sensors/#"}, Handler: h})
	errc := make(chan string, 2)
	go func() {
		out, _ := mq(t, b, pub, "-t", "sensors/a/t", "-m", "1", "-q", "1", "-V", "5")
		errc <- out
	}()
	<-h.in
	h.settle(0, errors.New("outbox: disk full"))
	if out := <-errc; !strings.Contains(out, "failed") {
		t.Errorf("MQTT 5 publisher: want a failed PUBACK, got %q", out)
	}
	go func() {
		_, err := mq(t, b, pub, "-t", "sensors/a/t", "-m", "1", "-q", "1")
		if err == nil {
			errc <- "mosquitto_pub 3.1.1 exited 0"
		} else {
			errc <- ""
		}
	}()
	<-h.in
	h.settle(1, errors.New("outbox: disk full"))
	if msg := <-errc; msg != "" {
		t.Errorf("MQTT 3.1.1 publisher: %s; want the connection dropped so it resends", msg)
	}
	if st := b.Stats(); st.Refused != 2 || st.Durable != 0 {
		t.Errorf("stats %+v, want 2 refused", st)
	}
}

func TestTLSListenerWithPasswords(t *testing.T) {
	pub, _ := clients(t)
	p := testpki.New(t, t.TempDir())
	b := start(t, Config{TLSListen: "127.0.0.1:0", CertFile: p.ServerCert, KeyFile: p.ServerKey,
		PasswdFile: writeUsers(t, "porch", "s3cret")})
	host, port, _ := strings.Cut(b.TLSAddr(), ":")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(pub, append([]string{"-h", host, "-p", port, "-t", "sensors/porch/t", "-m", "1", "-q", "1"}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("--cafile", p.CAFile, "-u", "porch", "-P", "s3cret"); err != nil {
		t.Fatalf("TLS with the right CA and password: %v %s", err, out)
	}
	if _, err := run("--cafile", p.CAFile, "-u", "porch", "-P", "wrong"); err == nil {
		t.Error("TLS with a wrong password was let in")
	}
	if _, err := run("-u", "porch", "-P", "s3cret"); err == nil {
		t.Error("a plain-TCP client on the TLS port was let in")
	}
}

// TestSetRoutesChangesWhatIsRouted: a broker started with no routes takes
// them later (a plan adds an mqttsensor device), and drops them again.
func TestSetRoutesChangesWhatIsRouted(t *testing.T) {
	h := &holdHandler{in: make(chan struct{}, 10)}
	b := start(t, Config{AllowAnonymous: true, Handler: h})
	// QoS 1 when not routed: the PUBACK comes after the hooks ran, so the
	// broker is done with it when mosquitto_pub exits.
	publish := func(topic, qos string) {
		t.Helper()
		if out, err := mq(t, b, "mosquitto_pub", "-t", topic, "-m", "1", "-q", qos); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
	publish("lan/porch/temperature", "1") // no route yet
	if err := b.SetRoutes([]string{"lan/#"}); err != nil {
		t.Fatal(err)
	}
	publish("lan/porch/temperature", "0")
	<-h.in
	if err := b.SetRoutes(nil); err != nil {
		t.Fatal(err)
	}
	publish("lan/porch/humidity", "1")
	if st := b.Stats(); st.Routed != 1 {
		t.Errorf("%d publishes routed, want 1 (only the one while lan/# was a route)", st.Routed)
	}
	if err := b.SetRoutes([]string{"lan/#/x"}); err == nil || !strings.Contains(err.Error(), `route "lan/#/x"`) {
		t.Errorf("a bad filter: %v", err)
	}
	noHandler := start(t, Config{AllowAnonymous: true})
	if err := noHandler.SetRoutes([]string{"lan/#"}); err == nil {
		t.Error("SetRoutes on a broker without a handler succeeded")
	}
}

// TestClientIDBelongsToItsUser: a user who gives another user's client id
// is refused, and the other user's client stays connected; the owner may
// reconnect with it.
func TestClientIDBelongsToItsUser(t *testing.T) {
	b := start(t, Config{PasswdFile: writeUsers(t, "porch", "p1", "shed", "s1")})
	login := func(id, user, pw string) (*rawClient, byte) {
		c := dialRaw(t, b.Addr(), "", 5)
		ack, err := c.connect(id, user, pw)
		if err != nil {
			t.Fatalf("connect %s as %s: %v", id, user, err)
		}
		return c, ack.ReasonCode
	}
	porch, code := login("node-1", "porch", "p1")
	if code != 0 {
		t.Fatalf("porch: CONNACK %#x", code)
	}
	if _, code := login("node-1", "shed", "s1"); code != packets.ErrBadUsernameOrPassword.Code {
		t.Fatalf("shed with porch's client id: CONNACK %#x, want refused", code)
	}
	porch.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	porch.expect(packets.Pingresp) // still connected
	if _, code := login("node-1", "porch", "p1"); code != 0 {
		t.Fatalf("porch again with its own id: CONNACK %#x", code)
	}
}

// TestRoutedQoS1KeepsItsProperties: a QoS 1 message on a sensor topic is
// delivered to local subscribers after it is stored, with the MQTT 5
// properties it was published with, as at QoS 0 and 2.
func TestRoutedQoS1KeepsItsProperties(t *testing.T) {
	h := &holdHandler{in: make(chan struct{}, 10)}
	b := start(t, Config{AllowAnonymous: true, Routes: []string{"sensors/#"}, Handler: h})
	sub := dialRaw(t, b.Addr(), "", 5)
	sub.mustConnect("dashboard")
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "sensors/#", Qos: 1}}})
	sub.expect(packets.Suback)
	pub := dialRaw(t, b.Addr(), "", 5)
	pub.mustConnect("porch")
	for qos := byte(0); qos <= 2; qos++ {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: "sensors/porch/t",
			PacketID: uint16(qos + 1), Payload: []byte("21.5")}
		pk.Properties.ContentType = "text/plain"
		pk.Properties.User = []packets.UserProperty{{Key: "unit", Val: "C"}}
		pub.send(pk)
		<-h.in
		h.settle(int(qos), nil)
		got := sub.expect(packets.Publish)
		if got.Properties.ContentType != "text/plain" || len(got.Properties.User) != 1 || got.Properties.User[0].Val != "C" {
			t.Errorf("QoS %d: delivered with content type %q, user properties %v", qos, got.Properties.ContentType, got.Properties.User)
		}
		if qos == 1 {
			pub.expect(packets.Puback)
		}
		if qos == 2 {
			pub.expect(packets.Pubrec)
		}
	}
}

// TestPasswdAndACLReloadWithoutRestart: a user added with SetPassword (what
// "edged broker passwd" does) can log in without a restart; a client of a
// user whose password is set again is disconnected; Reload puts a new ACL
// in force for clients already connected.
func TestPasswdAndACLReloadWithoutRestart(t *testing.T) {
	passwd := writeUsers(t, "porch", "p1")
	b := start(t, Config{PasswdFile: passwd, Limits: Limits{LoginFreeAttempts: 1000}})
	login := func(id, user, pw string) (*rawClient, byte) {
		c := dialRaw(t, b.Addr(), "", 5)
		ack, err := c.connect(id, user, pw)
		if err != nil {
			return c, 0xff
		}
		return c, ack.ReasonCode
	}
	porch, code := login("porch-1", "porch", "p1")
	if code != 0 {
		t.Fatalf("porch: CONNACK %#x", code)
	}
	if err := auth.SetPassword(passwd, "shed", "s1", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	var shed *rawClient
	waitFor(t, "shed to log in after the file changed", func() bool {
		c, code := login("shed-1", "shed", "s1")
		shed = c
		return code == 0
	})
	porch.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}})
	porch.expect(packets.Pingresp) // porch's password did not change: still connected

	// A new ACL, for clients already connected.
	pub := func(topic string, id uint16) byte {
		shed.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: topic, PacketID: id, Payload: []byte("1")})
		return shed.expect(packets.Puback).ReasonCode
	}
	if code := pub("secret/x", 1); code != 0 {
		t.Fatalf("before the ACL: PUBACK %#x", code)
	}
	if err := b.Reload([]auth.Rule{{Users: []string{"*"}, Publish: []string{"sensors/%u/#"}}}); err != nil {
		t.Fatal(err)
	}
	if code := pub("secret/x", 2); code != packets.ErrNotAuthorized.Code {
		t.Fatalf("after the ACL: PUBACK %#x, want not authorized", code)
	}
	if code := pub("sensors/shed/t", 3); code != 0 {
		t.Fatalf("within the ACL: PUBACK %#x", code)
	}

	// porch's password is set again: its client is disconnected.
	if err := auth.SetPassword(passwd, "porch", "p2", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	if !porch.closedByBroker() {
		t.Fatal("porch's client is still connected with its old password")
	}
	waitFor(t, "the disconnect counted", func() bool { return b.Stats().Limits.ReloadDisconnected == 1 })
	if _, code := login("porch-1", "porch", "p2"); code != 0 {
		t.Fatalf("porch with the new password: CONNACK %#x", code)
	}
	// A bad file leaves the users in force.
	if err := os.WriteFile(passwd, []byte("not a passwd line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(nil); err == nil || !strings.Contains(err.Error(), "passwd_file") {
		t.Fatalf("reload of a bad file: %v", err)
	}
	if _, code := login("shed-2", "shed", "s1"); code != 0 {
		t.Fatalf("after a bad file, shed: CONNACK %#x", code)
	}
}

// TestACLDenialWithoutGrants: an ACL of denials only says no to those
// filters and lets everything else through.
func TestACLDenialWithoutGrants(t *testing.T) {
	b := start(t, Config{AllowAnonymous: true, ACL: []auth.Rule{{Users: []string{"*", "anonymous"}, DenySubscribe: []string{"secret/#"}}}})
	sub := dialRaw(t, b.Addr(), "", 5)
	sub.mustConnect("watcher")
	sub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe}, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "secret/#"}, {Filter: "#"}}})
	if got := sub.expect(packets.Suback).ReasonCodes; !bytes.Equal(got, []byte{packets.ErrNotAuthorized.Code, 0}) {
		t.Fatalf("SUBACK % x, want 87 00", got)
	}
	pub := dialRaw(t, b.Addr(), "", 5)
	pub.mustConnect("pub")
	for i, topic := range []string{"secret/key", "sensors/t"} {
		pub.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: topic, PacketID: uint16(i + 1), Payload: []byte("x")})
		pub.expect(packets.Puback)
	}
	if got := sub.expect(packets.Publish); got.TopicName != "sensors/t" {
		t.Fatalf("watcher got %q, want only sensors/t", got.TopicName)
	}
}
