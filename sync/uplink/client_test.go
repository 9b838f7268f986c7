package uplink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// liveness bounds how long tests wait for something that must happen; it
// only turns a hang into a failure and asserts no speed.
const liveness = 15 * time.Second

// testConfig returns a Config for broker b with fast backoff.
func testConfig(t testing.TB, b *mosquittotest.Broker) Config {
	return Config{
		URL:        b.URL(),
		ClientID:   "gw-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()),
		BackoffMin: 10 * time.Millisecond,
		BackoffMax: 100 * time.Millisecond,
	}
}

// newClient returns a Client for cfg; fatal on error.
func newClient(t testing.TB, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// run starts c.Run and returns a function that cancels it and waits for it
// to return (also registered as cleanup, where it is a no-op once called).
func run(t testing.TB, c *Client) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var stopped atomic.Bool
	stop = func() {
		if stopped.Swap(true) {
			return
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
		case <-time.After(liveness):
			t.Errorf("Run did not return within %s of cancel", liveness)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitConnected waits for a connection and returns its epoch.
func waitConnected(t testing.TB, c *Client) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	epoch, err := c.WaitConnected(ctx)
	if err != nil {
		t.Fatalf("WaitConnected: %v (stats %+v)", err, c.Stats())
	}
	return epoch
}

// waitEpochAbove waits until the client is connected with an epoch > prev.
func waitEpochAbove(t testing.TB, c *Client, prev uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for time.Now().Before(deadline) {
		if st := c.Stats(); st.Connected && st.Epoch > prev {
			return st.Epoch
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no connection with epoch > %d within %s (stats %+v)", prev, liveness, c.Stats())
	return 0
}

// message is what a test peer received.
type message struct {
	topic, payload string
	retained       bool
}

// peer is an independent paho client on the same broker: it watches what
// the Client publishes and publishes to it.
type peer struct {
	cli  paho.Client
	msgs chan message
}

var peerSeq atomic.Int64

// newPeer connects a plain paho client to addr (loopback only: it dials
// itself rather than let paho consult proxy variables).
func newPeer(t testing.TB, addr string) *peer {
	t.Helper()
	p := &peer{msgs: make(chan message, 1000)}
	o := paho.NewClientOptions().
		AddBroker("mqtt://" + addr).
		SetClientID(fmt.Sprintf("peer-%d", peerSeq.Add(1))).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(*url.URL, paho.ClientOptions) (net.Conn, error) {
			return net.DialTimeout("tcp", addr, 5*time.Second)
		})
	p.cli = paho.NewClient(o)
	if tok := p.cli.Connect(); !tok.WaitTimeout(liveness) || tok.Error() != nil {
		t.Fatalf("peer connect %s: %v", addr, tok.Error())
	}
	t.Cleanup(func() { p.cli.Disconnect(100) })
	return p
}

// watch subscribes the peer to filter.
func (p *peer) watch(t testing.TB, filter string) *peer {
	t.Helper()
	tok := p.cli.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		p.msgs <- message{m.Topic(), string(m.Payload()), m.Retained()}
	})
	if !tok.WaitTimeout(liveness) || tok.Error() != nil {
		t.Fatalf("peer subscribe %s: %v", filter, tok.Error())
	}
	return p
}

// publish publishes a QoS 1 message and waits for its PUBACK.
func (p *peer) publish(t testing.TB, topic, payload string, retained bool) {
	t.Helper()
	if tok := p.cli.Publish(topic, 1, retained, payload); !tok.WaitTimeout(liveness) || tok.Error() != nil {
		t.Fatalf("peer publish %s: %v", topic, tok.Error())
	}
}

// expect waits for a message equal to want, skipping others.
func (p *peer) expect(t testing.TB, want message) {
	t.Helper()
	timeout := time.After(liveness)
	var seen []message
	for {
		select {
		case m := <-p.msgs:
			if m == want {
				return
			}
			seen = append(seen, m)
		case <-timeout:
			t.Fatalf("peer did not receive %+v within %s; got %+v", want, liveness, seen)
		}
	}
}

func TestStatusOnlineAndOfflineRetained(t *testing.T) {
	b := mosquittotest.Start(t)
	cfg := testConfig(t, b)
	cfg.StatusTopic = "edged/gw-1/status"
	c := newClient(t, cfg)
	stop := run(t, c)
	if epoch := waitConnected(t, c); epoch != 1 {
		t.Fatalf("first epoch = %d, want 1", epoch)
	}
	// A subscriber that arrives later sees the retained "online".
	newPeer(t, b.Addr()).watch(t, cfg.StatusTopic).expect(t, message{cfg.StatusTopic, "online", true})

	live := newPeer(t, b.Addr()).watch(t, cfg.StatusTopic)
	live.expect(t, message{cfg.StatusTopic, "online", true})
	stop()
	live.expect(t, message{cfg.StatusTopic, "offline", false})
	newPeer(t, b.Addr()).watch(t, cfg.StatusTopic).expect(t, message{cfg.StatusTopic, "offline", true})

	if c.Connected() {
		t.Fatal("Connected() after Run returned")
	}
	if _, err := c.WaitConnected(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitConnected after Run returned: %v, want ErrClosed", err)
	}
	if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Run: %v, want ErrClosed", err)
	}
	if st := c.Stats(); st.Published != 2 || st.PublishErrors != 0 {
		t.Fatalf("stats %+v, want 2 published (online, offline) and no errors", st)
	}
}

func TestReconnectAfterBrokerRestart(t *testing.T) {
	b := mosquittotest.Start(t)
	cfg := testConfig(t, b)
	cfg.StatusTopic = "edged/gw-2/status"
	c := newClient(t, cfg)
	got := make(chan string, 10)
	if err := c.Subscribe("edged/gw-2/cmd/#", 1, func(topic string, payload []byte) {
		got <- topic + "=" + string(payload)
	}); err != nil {
		t.Fatalf("Subscribe before Run: %v", err)
	}
	run(t, c)
	e1 := waitConnected(t, c)

	expectCmd := func(want string) {
		t.Helper()
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("handler got %q, want %q", m, want)
			}
		case <-time.After(liveness):
			t.Fatalf("handler did not get %q", want)
		}
	}
	newPeer(t, b.Addr()).publish(t, "edged/gw-2/cmd/reboot", "1", false)
	expectCmd("edged/gw-2/cmd/reboot=1")

	b.Restart() // drops the client's TCP connection; subscriptions and retained messages are gone
	e2 := waitEpochAbove(t, c, e1)
	if e2 != e1+1 {
		t.Fatalf("epoch after one restart = %d, want %d", e2, e1+1)
	}
	newPeer(t, b.Addr()).publish(t, "edged/gw-2/cmd/reboot", "2", false)
	expectCmd("edged/gw-2/cmd/reboot=2")
	// A sender that began on the first connection cannot publish on the
	// second one (PublishIn); on the current one it can.
	if _, err := c.PublishIn(e1, "edged/gw-2/telemetry/x", []byte("[]"), 1, false); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("PublishIn on the gone connection %d: %v, want ErrNotConnected", e1, err)
	}
	d, err := c.PublishIn(e2, "edged/gw-2/telemetry/x", []byte("[]"), 1, false)
	if err != nil {
		t.Fatalf("PublishIn on the current connection %d: %v", e2, err)
	}
	<-d.Done()
	if d.Err() != nil {
		t.Fatalf("PublishIn on the current connection: %v", d.Err())
	}
	newPeer(t, b.Addr()).watch(t, cfg.StatusTopic).expect(t, message{cfg.StatusTopic, "online", true})

	// Whether the last error is the lost connection or a refused reconnect
	// (the client may try before the broker listens again) depends on
	// scheduling; either way it is in the past now, and the loss is counted.
	st := c.Stats()
	if st.Reconnects != 1 || !st.Connected || st.Lost != 1 {
		t.Fatalf("stats %+v, want 1 reconnect, 1 lost connection, connected", st)
	}
	if le := st.LastError; le.Message == "" || le.Current() || le.RecoveredAt.Before(le.At) {
		t.Fatalf("LastError %+v, want an error marked recovered after it happened", le)
	}
}

func TestBrokerDownAtStart(t *testing.T) {
	b := mosquittotest.Start(t)
	b.Stop()
	cfg := testConfig(t, b)
	c := newClient(t, cfg)
	// Count attempts through the sleep hook instead of measuring time.
	waits := make(chan time.Duration, 1000)
	c.sleep = func(ctx context.Context, d time.Duration) error {
		select {
		case waits <- d:
		default:
		}
		return sleepCtx(ctx, time.Millisecond)
	}
	run(t, c)
	for i := range 5 {
		select {
		case d := <-waits:
			if d < cfg.BackoffMin || d > cfg.BackoffMax {
				t.Fatalf("wait %d = %s, outside [%s, %s]", i, d, cfg.BackoffMin, cfg.BackoffMax)
			}
		case <-time.After(liveness):
			t.Fatalf("only %d connection attempts within %s", i, liveness)
		}
	}
	st := c.Stats()
	if st.Connected || st.ConnectFailures < 5 || st.Epoch != 0 {
		t.Fatalf("stats %+v, want disconnected after >= 5 failures", st)
	}
	if want := "uplink: connect " + b.URL() + ": connection refused"; st.LastError.Message != want || !st.LastError.Current() {
		t.Fatalf("LastError = %+v, want %q, current", st.LastError, want)
	}
	if _, err := c.Publish("t", nil, 1, false); !errors.Is(err, ErrNotConnected) ||
		err.Error() != "uplink: publish t: not connected" {
		t.Fatalf("Publish while down: %v, want ErrNotConnected", err)
	}

	b.Restart()
	if epoch := waitConnected(t, c); epoch != 1 {
		t.Fatalf("epoch = %d, want 1", epoch)
	}
}

func TestWaitConnectedHonoursContext(t *testing.T) {
	b := mosquittotest.Start(t)
	c := newClient(t, testConfig(t, b)) // Run never called
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := c.WaitConnected(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitConnected = %v, want DeadlineExceeded", err)
	}
}

func TestRunReturnsPromptlyWhileConnectingToHungBroker(t *testing.T) {
	b := mosquittotest.Start(t)
	b.Pause() // TCP connects, CONNACK never comes
	cfg := testConfig(t, b)
	cfg.ConnectTimeout = time.Hour // only cancellation can end the attempt
	c := newClient(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // let the attempt reach the handshake
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(liveness):
		t.Fatal("Run did not return after cancel while the handshake hung")
	}
}

// The last-will test runs the client in a child process (this test binary,
// re-executed) and kills it with SIGKILL, so no DISCONNECT is sent.
// TestMain runs the child's part instead of the tests when the variable is
// set, so no test is skipped in either process.
const childEnv = "UPLINK_TEST_WILL_CHILD"

func TestMain(m *testing.M) {
	if env := os.Getenv(childEnv); env != "" {
		os.Exit(lastWillChild(env))
	}
	os.Exit(m.Run())
}

func TestLastWillOnProcessDeath(t *testing.T) {
	b := mosquittotest.Start(t)
	const topic = "edged/gw-will/status"
	watcher := newPeer(t, b.Addr()).watch(t, topic)

	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+b.URL()+" "+topic)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(out)
	for lines.Scan() && lines.Text() != "CHILD CONNECTED" {
	}
	if lines.Err() != nil || ctx.Err() != nil {
		t.Fatalf("child never reported a connection: %v %v", lines.Err(), ctx.Err())
	}
	watcher.expect(t, message{topic, "online", false}) // live, so not flagged retained

	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait()
	watcher.expect(t, message{topic, "offline", false})
	newPeer(t, b.Addr()).watch(t, topic).expect(t, message{topic, "offline", true})
}

// lastWillChild is the child of TestLastWillOnProcessDeath: it connects,
// says so on stdout and then waits to be killed.
func lastWillChild(env string) int {
	brokerURL, topic, _ := strings.Cut(env, " ")
	c, err := New(Config{URL: brokerURL, ClientID: "gw-will", StatusTopic: topic})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), liveness)
	defer cancel()
	go func() { _ = c.Run(ctx) }()
	if _, err := c.WaitConnected(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("CHILD CONNECTED")
	<-ctx.Done() // the parent kills us long before
	return 1
}
