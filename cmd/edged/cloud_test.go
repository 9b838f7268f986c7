package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// cloud is a test subscriber standing in for the cloud side: a persistent
// QoS 1 session on mosquitto that records every telemetry reading and the
// retained gateway status. It checks the delivery contract as messages
// arrive: one device per message, and per device each seq's first arrival
// comes after every smaller seq's (in order, no gap later filled).
type cloud struct {
	t      *testing.T
	client paho.Client

	mu       sync.Mutex
	seen     map[uint64]int
	last     map[string]uint64 // per device, highest seq first seen
	status   string
	health   statusDoc
	values   map[string][]sample // "device/metric" → readings in arrival order
	results  map[string]string   // command id → result JSON
	problems []string
	wake     chan struct{}
}

func newCloud(t *testing.T, brokerAddr, prefix, gateway string) *cloud {
	t.Helper()
	c := &cloud{t: t, seen: map[uint64]int{}, last: map[string]uint64{}, wake: make(chan struct{}, 1),
		values: map[string][]sample{}, results: map[string]string{}}
	subscribed := make(chan struct{}, 1)
	subscribe := func(cl paho.Client) {
		defer func() {
			select {
			case subscribed <- struct{}{}:
			default:
			}
		}()
		cl.Subscribe(prefix+"/"+gateway+"/telemetry/+", 1, c.onTelemetry).Wait()
		cl.Subscribe(prefix+"/"+gateway+"/cmd/+/result", 1, func(_ paho.Client, m paho.Message) {
			var r struct {
				ID string `json:"id"`
			}
			json.Unmarshal(m.Payload(), &r)
			c.mu.Lock()
			c.results[r.ID] = string(m.Payload())
			c.mu.Unlock()
			c.poke()
		})
		cl.Subscribe(prefix+"/"+gateway+"/health", 1, func(_ paho.Client, m paho.Message) {
			var doc statusDoc
			err := json.Unmarshal(m.Payload(), &doc)
			c.mu.Lock()
			if err != nil {
				c.problems = append(c.problems, fmt.Sprintf("health is not JSON: %v", err))
			}
			c.health = doc
			c.mu.Unlock()
			c.poke()
		})
		cl.Subscribe(prefix+"/"+gateway+"/status", 1, func(_ paho.Client, m paho.Message) {
			c.mu.Lock()
			c.status = string(m.Payload())
			c.mu.Unlock()
			c.poke()
		})
	}
	opts := paho.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("cloud-" + strings.ReplaceAll(t.Name(), "/", "-")).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond).
		SetOnConnectHandler(subscribe)
	c.client = paho.NewClient(opts)
	if tok := c.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("cloud subscriber: connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.client.Disconnect(100) })
	select { // the subscriptions are in place before the test publishes
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("cloud subscriber: no SUBACK")
	}
	return c
}

// sample is one reading as the cloud received it.
type sample struct {
	value  float64
	unit   string
	ts     time.Time
	source string // the service that emitted it; "" for a device's own
	// simulated: the payload said "simulated": true.
	simulated bool
}

// cloudWait bounds every wait for the cloud side (a hang guard).
const cloudWait = 90 * time.Second

func (c *cloud) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *cloud) onTelemetry(_ paho.Client, m paho.Message) {
	var rs []struct {
		Seq    uint64  `json:"seq"`
		Device string  `json:"device"`
		Metric string  `json:"metric"`
		Value  float64 `json:"value"`
		Unit   string  `json:"unit"`
		TS     string  `json:"ts"`
		Source string  `json:"source"`
		Sim    bool    `json:"simulated"`
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.poke()
	if err := json.Unmarshal(m.Payload(), &rs); err != nil || len(rs) == 0 {
		c.problems = append(c.problems, fmt.Sprintf("%s: bad payload %q: %v", m.Topic(), m.Payload(), err))
		return
	}
	dev := m.Topic()[strings.LastIndex(m.Topic(), "/")+1:]
	for _, r := range rs {
		if r.Device != dev {
			c.problems = append(c.problems, fmt.Sprintf("reading of %s on topic %s", r.Device, m.Topic()))
		}
		if _, err := time.Parse(time.RFC3339Nano, r.TS); err != nil || r.Metric == "" {
			c.problems = append(c.problems, fmt.Sprintf("seq %d: ts %q metric %q", r.Seq, r.TS, r.Metric))
		}
		if ts, err := time.Parse(time.RFC3339Nano, r.TS); err == nil {
			key := r.Device + "/" + r.Metric
			c.values[key] = append(c.values[key], sample{value: r.Value, unit: r.Unit, ts: ts, source: r.Source, simulated: r.Sim})
		}
		if c.seen[r.Seq] == 0 {
			if r.Seq < c.last[dev] {
				c.problems = append(c.problems, fmt.Sprintf("device %s: seq %d first arrived after %d", dev, r.Seq, c.last[dev]))
			}
			c.last[dev] = max(c.last[dev], r.Seq)
		}
		c.seen[r.Seq]++
	}
}

// waitFor waits until cond holds (checked under the lock), failing the test
// after a generous guard time: a hang guard, not a speed assertion.
func (c *cloud) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(cloudWait)
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			c.t.Fatalf("cloud: timed out waiting for %s; %d distinct seqs seen; problems: %q", what, len(c.seen), c.problems[:min(len(c.problems), 5)])
		}
		select {
		case <-c.wake:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitAll waits until every seq 1..n has arrived.
func (c *cloud) waitAll(n uint64) {
	c.t.Helper()
	c.waitFor(fmt.Sprintf("seqs 1..%d", n), func() bool {
		for s := uint64(1); s <= n; s++ {
			if c.seen[s] == 0 {
				return false
			}
		}
		return true
	})
}

// check fails the test on any contract violation seen so far and reports
// the number of distinct and duplicate readings.
func (c *cloud) check() (distinct, dups int) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.problems {
		c.t.Error(p)
	}
	for _, n := range c.seen {
		distinct++
		dups += n - 1
	}
	return distinct, dups
}

func (c *cloud) statusIs(want string) {
	c.t.Helper()
	c.waitFor("status "+want, func() bool { return c.status == want })
}
