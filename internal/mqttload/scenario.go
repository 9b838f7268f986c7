package mqttload

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Defaults of the scenarios.
const (
	DefaultIdle         = 3 * time.Second
	DefaultFirstWait    = 30 * time.Second
	DefaultReadyTimeout = 30 * time.Second
)

// ScenarioOption adjusts a scenario.
type ScenarioOption func(*scenario)

type scenario struct {
	idle         time.Duration
	firstWait    time.Duration
	readyTimeout time.Duration
	clients      int
	firstClient  int
	tune         []func(*Options)
}

// WithIdle sets how long a scenario waits for more deliveries after the
// last new id arrived before it counts the rest as lost. Default 3s.
func WithIdle(d time.Duration) ScenarioOption { return func(s *scenario) { s.idle = d } }

// WithFirstWait sets how long a scenario waits for the first delivery
// after publishing started (Throughput) or after the fault ended (KillAfterAck,
// Outage) before it counts everything outstanding as lost. Default 30s;
// it must exceed the gateway's reconnect delay (a mosquitto 2.0 bridge
// with restart_timeout 1 reconnects 5-6s after the cloud returns).
func WithFirstWait(d time.Duration) ScenarioOption { return func(s *scenario) { s.firstWait = d } }

// WithReadyTimeout bounds the probe that checks the path to the cloud
// before a scenario starts. Default 30s.
func WithReadyTimeout(d time.Duration) ScenarioOption {
	return func(s *scenario) { s.readyTimeout = d }
}

// WithClients sets the number of publishing clients of KillAfterAck and
// Outage, which spread n messages over them. Default 10.
func WithClients(n int) ScenarioOption { return func(s *scenario) { s.clients = n } }

// WithFirstClient numbers the clients from n, so that the ids of
// successive scenarios on one collector do not overlap.
func WithFirstClient(n int) ScenarioOption { return func(s *scenario) { s.firstClient = n } }

// WithPublishOptions lets f adjust the publish options (Topic, Payload,
// MaxInflight, Persistent, …) after the scenario set its own; the probe
// uses the same Topic and Payload.
func WithPublishOptions(f func(*Options)) ScenarioOption {
	return func(s *scenario) { s.tune = append(s.tune, f) }
}

func newScenario(opts []ScenarioOption) scenario {
	s := scenario{idle: DefaultIdle, firstWait: DefaultFirstWait, readyTimeout: DefaultReadyTimeout, clients: DefaultClients}
	for _, opt := range opts {
		opt(&s)
	}
	return s
}

func (s *scenario) options(url string, qos byte) Options {
	o := Options{URL: url, Clients: s.clients, FirstClient: s.firstClient, QoS: qos}
	for _, f := range s.tune {
		f(&o)
	}
	return o
}

// Report is the outcome of a scenario.
type Report struct {
	Publish Result
	// Received counts acked ids that reached the collector; Lost those
	// that did not (Received + Lost == Publish.Acked).
	Received, Lost int
	// ReceivedAtFault counts the ids the collector had right after the
	// kill (KillAfterAck only). Ids already in the cloud broker but not
	// yet at the collector arrive later, so it is a lower bound of what
	// had left the gateway.
	ReceivedAtFault int
	Duplicates      int64
	DecodeErrors    int64
	// Delivery runs from the first publish to the last new id; Recovery
	// from the end of the fault (restart, cloud start) to the last new id.
	Delivery, Recovery time.Duration
	// DeliveryRate is Received per second of Delivery: end-to-end
	// throughput.
	DeliveryRate float64
}

func (r Report) String() string {
	return fmt.Sprintf("sent %d acked %d received %d lost %d (%.2f%%) dup %d decode_err %d publish %.0f msg/s in %s, delivery %.0f msg/s in %s, received_at_fault %d recovery %s",
		r.Publish.Sent, r.Publish.Acked, r.Received, r.Lost, 100*float64(r.Lost)/max(1, float64(r.Publish.Acked)),
		r.Duplicates, r.DecodeErrors, r.Publish.Rate(), r.Publish.Duration.Round(time.Millisecond),
		r.DeliveryRate, r.Delivery.Round(time.Millisecond), r.ReceivedAtFault, r.Recovery.Round(time.Millisecond))
}

// finish waits for the acked ids and fills the report.
func (s *scenario) finish(ctx context.Context, c *Collector, res Result, start, recoverAt time.Time) (Report, error) {
	r := Report{Publish: res}
	since := start
	if !recoverAt.IsZero() {
		since = recoverAt
	}
	lost, err := c.waitFor(ctx, res.AckedIDs, since, s.firstWait, s.idle)
	st := c.Stats()
	r.Lost = lost
	r.Received = res.AckedIDs.Len() - lost
	r.Duplicates, r.DecodeErrors = st.Duplicates, st.DecodeErrors
	if st.Last.After(start) {
		r.Delivery = st.Last.Sub(start)
		r.DeliveryRate = float64(r.Received) / r.Delivery.Seconds()
	}
	if !recoverAt.IsZero() && st.Last.After(recoverAt) {
		r.Recovery = st.Last.Sub(recoverAt)
	}
	if err != nil {
		return r, fmt.Errorf("mqttload: wait for %d acked ids: %w", res.AckedIDs.Len(), err)
	}
	return r, nil
}

var probeSeq atomic.Int64

// Ready publishes probe messages (client ProbeClient, QoS 1, with the
// scenario's Topic and Payload) to the gateway every 250ms until the
// collector has one, so that a measurement does not start before the
// gateway's link to the cloud is up. It fails after the ready timeout.
func Ready(ctx context.Context, gatewayURL string, c *Collector, opts ...ScenarioOption) error {
	s := newScenario(opts)
	o := s.options(gatewayURL, 1)
	o.setDefaults()
	if err := checkLoopback(gatewayURL); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.readyTimeout)
	defer cancel()
	cl := paho.NewClient(paho.NewClientOptions().AddBroker(gatewayURL).
		SetClientID(o.ClientIDPrefix + "-probe" + strconv.FormatInt(probeSeq.Add(1), 10)).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(250 * time.Millisecond).SetMaxReconnectInterval(250 * time.Millisecond).
		SetConnectTimeout(time.Second).SetWriteTimeout(time.Second))
	defer cl.Disconnect(0)
	cl.Connect() // retries in the background until ctx ends
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var sent []int64
	for {
		if cl.IsConnectionOpen() {
			i := int(probeSeq.Add(1) % idsPerClient)
			cl.Publish(o.Topic(ProbeClient, i), 1, false, o.Payload(ProbeClient, i))
			sent = append(sent, ID(ProbeClient, i))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("mqttload: path from %s to the collector not up: %d probes sent, none arrived: %w", gatewayURL, len(sent), ctx.Err())
		case <-tick.C:
		}
		for _, id := range sent {
			if c.Has(id) {
				return nil
			}
		}
	}
}

// Throughput publishes clients×perClient messages at qos to the gateway
// and waits until the collector has every acknowledged one, or nothing new
// arrived for the idle time. Report.DeliveryRate is the end-to-end rate;
// Report.Lost counts acknowledged messages that never arrived.
func Throughput(ctx context.Context, gatewayURL string, c *Collector, clients, perClient int, qos byte, opts ...ScenarioOption) (Report, error) {
	s := newScenario(append(slices.Clip(opts), WithClients(clients)))
	c.Reset()
	if err := Ready(ctx, gatewayURL, c, opts...); err != nil {
		return Report{}, err
	}
	o := s.options(gatewayURL, qos)
	o.PerClient = perClient
	start := time.Now()
	res, err := Publish(ctx, o)
	if err != nil {
		return Report{Publish: res}, err
	}
	return s.finish(ctx, c, res, start, time.Time{})
}

// KillAfterAck publishes n QoS 1 messages to the gateway, calls kill right
// after the last PUBACK (meant to be kill -9 of the gateway), then
// restart, and waits for deliveries. Report.Lost counts messages the
// gateway acknowledged and the cloud never got. kill and restart run on
// the caller's goroutine.
func KillAfterAck(ctx context.Context, gatewayURL string, n int, kill, restart func(), c *Collector, opts ...ScenarioOption) (Report, error) {
	s := newScenario(opts)
	c.Reset()
	if err := Ready(ctx, gatewayURL, c, opts...); err != nil {
		return Report{}, err
	}
	o := s.options(gatewayURL, 1)
	o.Total = n
	var r Report
	killed := false
	o.AfterLastAck = func() {
		kill()
		killed = true
		r.ReceivedAtFault = c.Stats().Unique
	}
	start := time.Now()
	res, err := Publish(ctx, o)
	if killed {
		restart()
	}
	if err != nil {
		return Report{Publish: res}, err
	}
	recoverAt := time.Now()
	out, err := s.finish(ctx, c, res, start, recoverAt)
	out.ReceivedAtFault = r.ReceivedAtFault
	return out, err
}

// Outage checks the path, calls cloudStop, publishes n QoS 1 messages to
// the gateway, calls cloudStart and waits for deliveries. Report.Lost
// counts messages the gateway acknowledged and the cloud never got. The
// collector should be Persistent on a cloud broker with persistence, so
// that its subscription survives the restart. cloudStop and cloudStart
// run on the caller's goroutine.
func Outage(ctx context.Context, gatewayURL string, n int, cloudStop, cloudStart func(), c *Collector, opts ...ScenarioOption) (Report, error) {
	s := newScenario(opts)
	c.Reset()
	if err := Ready(ctx, gatewayURL, c, opts...); err != nil {
		return Report{}, err
	}
	o := s.options(gatewayURL, 1)
	o.Total = n
	cloudStop()
	start := time.Now()
	res, err := Publish(ctx, o)
	cloudStart()
	if err != nil {
		return Report{Publish: res}, err
	}
	return s.finish(ctx, c, res, start, time.Now())
}
