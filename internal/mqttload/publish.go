package mqttload

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Defaults of Options.
const (
	DefaultClients      = 10
	DefaultMaxInflight  = 256
	DefaultAckTimeout   = 30 * time.Second
	DefaultWriteTimeout = 5 * time.Second
	connectTimeout      = 10 * time.Second
	writeTimeout        = 10 * time.Second // collector and probe
)

// Options configures Publish.
type Options struct {
	// URL of the gateway broker, mqtt://127.0.0.1:PORT (or tcp://).
	// Only loopback addresses are accepted.
	URL string
	// Clients is the number of concurrent paho clients, each with its own
	// connection. Default 10.
	Clients int
	// FirstClient is the number of the first client: clients are numbered
	// FirstClient … FirstClient+Clients-1, and ids, topics and client ids
	// use these numbers. Use disjoint ranges to tell runs apart on one
	// collector.
	FirstClient int
	// PerClient is the number of messages each client publishes.
	PerClient int
	// Total, when above 0, replaces PerClient: Total messages spread over
	// the clients (the first Total%Clients clients send one more).
	Total int
	// QoS is 0 or 1.
	QoS byte
	// Topic returns the topic of message i of client. Default
	// sensors/c<client>/m.
	Topic func(client, i int) string
	// Payload returns the payload of message i of client. Default the
	// decimal ID(client, i).
	Payload func(client, i int) []byte
	// MaxInflight is the window of outstanding publishes per client: the
	// client waits for the oldest to complete before sending more.
	// Default 256 (at most 65535).
	MaxInflight int
	// ClientIDPrefix prefixes the MQTT client ids (<prefix>-<client>).
	// Default "mqttload-<pid>-<n>", unique in the process.
	ClientIDPrefix string
	// Persistent connects with CleanSession false and lets paho reconnect
	// and resend unacknowledged publishes. By default sessions are clean
	// and a lost connection ends that client's run: its outstanding
	// publishes are not acknowledged.
	Persistent bool
	// AckTimeout bounds the wait for one publish to complete; a publish
	// still open after it is counted as an error, not acknowledged.
	// Default 30s.
	AckTimeout time.Duration
	// WriteTimeout bounds a socket write and paho's hand-over of one
	// publish to its writer. When the connection dies, a publish in that
	// hand-over blocks for this long (paho), so it bounds how long Publish
	// takes to return after the broker dies. Default 5s.
	WriteTimeout time.Duration
	// AfterLastAck, if set, is called on the caller's goroutine once every
	// client has finished (its last PUBACK arrived or it gave up), before
	// the clients disconnect; not when ctx is done. KillAfterAck uses it to kill the gateway
	// right after the last PUBACK.
	AfterLastAck func()
}

// Result is what Publish did.
type Result struct {
	// Sent counts publishes handed to paho.
	Sent int64
	// Acked counts publishes completed without error: PUBACK received at
	// QoS 1, written to the connection at QoS 0.
	Acked int64
	// AckedIDs holds the ids of the acknowledged publishes.
	AckedIDs *IDSet
	// Errors counts publishes that were sent but not acknowledged: the
	// token failed, did not complete within AckTimeout, or was abandoned
	// because the connection was lost or ctx was done.
	Errors int64
	// FirstError is the first of those failures (or of a lost connection).
	FirstError error
	// Duration runs from the first publish to the last client finishing.
	Duration time.Duration
}

// Rate returns acknowledged publishes per second.
func (r Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Acked) / r.Duration.Seconds()
}

var prefixSeq atomic.Int64

func (o *Options) setDefaults() {
	if o.Clients == 0 {
		o.Clients = DefaultClients
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.AckTimeout == 0 {
		o.AckTimeout = DefaultAckTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.Topic == nil {
		o.Topic = DefaultTopic
	}
	if o.Payload == nil {
		o.Payload = DefaultPayload
	}
	if o.ClientIDPrefix == "" {
		o.ClientIDPrefix = fmt.Sprintf("mqttload-%d-%d", os.Getpid(), prefixSeq.Add(1))
	}
}

// Validate reports the first invalid field. Call it after the defaults are
// applied (Publish does both).
func (o *Options) Validate() error {
	switch {
	case o.Clients < 1:
		return fmt.Errorf("mqttload: clients %d: want at least 1", o.Clients)
	case o.FirstClient < 0 || o.FirstClient+o.Clients-1 > MaxClient:
		return fmt.Errorf("mqttload: clients %d…%d: want 0…%d", o.FirstClient, o.FirstClient+o.Clients-1, MaxClient)
	case o.PerClient < 0 || o.PerClient >= idsPerClient || o.Total < 0:
		return fmt.Errorf("mqttload: per_client %d, total %d: want 0 ≤ per_client < 1e9 and total ≥ 0", o.PerClient, o.Total)
	case o.QoS > 1:
		return fmt.Errorf("mqttload: qos %d: want 0 or 1", o.QoS)
	case o.MaxInflight < 1 || o.MaxInflight > 65535:
		return fmt.Errorf("mqttload: max_inflight %d: want 1…65535", o.MaxInflight)
	case o.AckTimeout < 0 || o.WriteTimeout < 0:
		return fmt.Errorf("mqttload: ack_timeout %s, write_timeout %s: want > 0", o.AckTimeout, o.WriteTimeout)
	}
	if o.Total > 0 && (o.Total+o.Clients-1)/o.Clients >= idsPerClient {
		return fmt.Errorf("mqttload: total %d: more than 1e9 messages per client", o.Total)
	}
	return checkLoopback(o.URL)
}

// count returns how many messages client k (0-based) publishes.
func (o *Options) count(k int) int {
	if o.Total > 0 {
		n := o.Total / o.Clients
		if k < o.Total%o.Clients {
			n++
		}
		return n
	}
	return o.PerClient
}

// DefaultTopic is sensors/c<client>/m.
func DefaultTopic(client, _ int) string { return "sensors/c" + strconv.Itoa(client) + "/m" }

// DefaultPayload is the decimal ID(client, i).
func DefaultPayload(client, i int) []byte { return strconv.AppendInt(nil, ID(client, i), 10) }

// DecodeID is the decoder of DefaultPayload: the payload is one decimal id.
func DecodeID(_ string, payload []byte) ([]int64, error) {
	id, err := strconv.ParseInt(string(payload), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("mqttload: decode %q: %w", payload, err)
	}
	return []int64{id}, nil
}

// checkLoopback accepts mqtt:// or tcp:// URLs whose host is a loopback IP.
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("mqttload: url %q: %w", raw, err)
	}
	if u.Scheme != "mqtt" && u.Scheme != "tcp" {
		return fmt.Errorf("mqttload: url %q: scheme must be mqtt or tcp", raw)
	}
	return checkLoopbackHost(u.Host)
}

func checkLoopbackHost(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("mqttload: address %q: %w", hostport, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || port == "" {
		return fmt.Errorf("mqttload: address %q: only loopback IP addresses with a port are allowed", hostport)
	}
	return nil
}

// Publish connects o.Clients clients to o.URL and publishes from all of
// them at once, each keeping up to o.MaxInflight publishes outstanding.
// It returns when every client has finished, ctx is done (then with
// ctx.Err() and the partial result) or a client fails to connect (then
// with that error and nothing published). A lost connection ends that
// client's run; it is reported in Result, not as an error.
func Publish(ctx context.Context, o Options) (Result, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return Result{AckedIDs: &IDSet{}}, err
	}
	clients := make([]*pubClient, o.Clients)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.client.Disconnect(0)
			}
		}
	}()
	for k := range clients {
		c, err := connectPublisher(ctx, &o, o.FirstClient+k)
		if err != nil {
			return Result{AckedIDs: &IDSet{}}, err
		}
		clients[k] = c
	}

	start := time.Now()
	var wg sync.WaitGroup
	for k, c := range clients {
		wg.Go(func() { c.run(ctx, &o, o.count(k)) })
	}
	wg.Wait()
	res := Result{AckedIDs: &IDSet{}, Duration: time.Since(start)}
	for _, c := range clients {
		res.Sent += c.sent
		res.Acked += int64(c.acked.Len())
		res.Errors += c.errors
		res.AckedIDs.AddSet(&c.acked)
		if res.FirstError == nil {
			res.FirstError = c.firstErr
		}
	}
	if o.AfterLastAck != nil && ctx.Err() == nil {
		o.AfterLastAck()
	}
	return res, ctx.Err()
}

// pubClient is one publishing connection. Its counters are owned by its
// run goroutine until Publish has waited for it.
type pubClient struct {
	num      int
	client   paho.Client
	lost     chan struct{} // closed when the connection is lost (clean sessions only)
	lostErr  atomic.Pointer[error]
	sent     int64
	errors   int64
	acked    IDSet
	firstErr error
}

func connectPublisher(ctx context.Context, o *Options, num int) (*pubClient, error) {
	c := &pubClient{num: num, lost: make(chan struct{})}
	var once sync.Once
	opts := paho.NewClientOptions().
		AddBroker(o.URL).
		SetClientID(o.ClientIDPrefix + "-" + strconv.Itoa(num)).
		SetCleanSession(!o.Persistent).
		SetAutoReconnect(o.Persistent).
		SetMaxReconnectInterval(time.Second).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(o.WriteTimeout).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			err = fmt.Errorf("mqttload: client %d: connection lost: %w", num, err)
			c.lostErr.CompareAndSwap(nil, &err)
			if !o.Persistent {
				once.Do(func() { close(c.lost) })
			}
		})
	c.client = paho.NewClient(opts)
	tok := c.client.Connect()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.client.Disconnect(0)
		return nil, fmt.Errorf("mqttload: connect client %d to %s: %w", num, o.URL, ctx.Err())
	case <-time.After(connectTimeout + time.Second):
		c.client.Disconnect(0)
		return nil, fmt.Errorf("mqttload: connect client %d to %s: no CONNACK after %s", num, o.URL, connectTimeout)
	}
	if err := tok.Error(); err != nil {
		return nil, fmt.Errorf("mqttload: connect client %d to %s: %w", num, o.URL, err)
	}
	return c, nil
}

type pending struct {
	tok paho.Token
	id  int64
}

// run publishes n messages with a window of o.MaxInflight.
func (c *pubClient) run(ctx context.Context, o *Options, n int) {
	window := make([]pending, o.MaxInflight) // ring
	head, size := 0, 0
	timer := time.NewTimer(o.AckTimeout)
	defer timer.Stop()
	stopped := false // connection lost or ctx done: stop sending, stop waiting
	settle := func(p pending) {
		select {
		case <-p.tok.Done():
		default:
			if stopped {
				break
			}
			timer.Reset(o.AckTimeout)
			select {
			case <-p.tok.Done():
			case <-c.lost:
				stopped = true
			case <-ctx.Done():
				stopped = true
			case <-timer.C:
			}
		}
		select {
		case <-p.tok.Done():
			if err := p.tok.Error(); err != nil {
				c.fail(fmt.Errorf("mqttload: client %d: publish %d: %w", c.num, p.id, err))
				return
			}
			c.acked.Add(p.id)
		default:
			c.fail(fmt.Errorf("mqttload: client %d: publish %d: not acknowledged (timeout %s, connection lost or canceled)", c.num, p.id, o.AckTimeout))
		}
	}
	for i := 0; i < n && !stopped; i++ {
		select {
		case <-ctx.Done():
			stopped = true
			continue
		case <-c.lost:
			stopped = true
			continue
		default:
		}
		if size == len(window) {
			settle(window[head])
			head, size = (head+1)%len(window), size-1
			if stopped {
				break
			}
		}
		id := ID(c.num, i)
		window[(head+size)%len(window)] = pending{c.client.Publish(o.Topic(c.num, i), o.QoS, false, o.Payload(c.num, i)), id}
		size++
		c.sent++
	}
	for ; size > 0; size-- {
		settle(window[head])
		head = (head + 1) % len(window)
	}
	if c.firstErr == nil {
		if e := c.lostErr.Load(); e != nil {
			c.firstErr = *e
		}
	}
}

func (c *pubClient) fail(err error) {
	c.errors++
	if c.firstErr == nil {
		if e := c.lostErr.Load(); e != nil {
			err = errors.Join(err, *e)
		}
		c.firstErr = err
	}
}
