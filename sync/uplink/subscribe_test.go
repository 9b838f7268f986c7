package uplink

import (
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

func TestSubscribeWhileConnected(t *testing.T) {
	b := mosquittotest.Start(t)
	c := newClient(t, testConfig(t, b))
	run(t, c)
	waitConnected(t, c)
	pub := newPeer(t, b.Addr())
	pub.publish(t, "edged/plan", "v7", true) // retained before the subscription

	got := make(chan string, 10)
	if err := c.Subscribe("edged/plan", 1, func(topic string, payload []byte) { got <- string(payload) }); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	// Subscribe returns after the SUBACK, so the retained plan and later
	// messages arrive, in order.
	pub.publish(t, "edged/plan", "v8", false)
	for _, want := range []string{"v7", "v8"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("handler got %q, want %q", m, want)
			}
		case <-time.After(liveness):
			t.Fatalf("handler did not get %q", want)
		}
	}

	// Replacing the handler for the same filter.
	got2 := make(chan string, 10)
	if err := c.Subscribe("edged/plan", 1, func(topic string, payload []byte) { got2 <- string(payload) }); err != nil {
		t.Fatalf("Subscribe again: %v", err)
	}
	pub.publish(t, "edged/plan", "v9", false)
	for {
		select {
		case m := <-got2:
			if m == "v9" {
				return
			}
		case <-time.After(liveness):
			t.Fatal("replacement handler did not get v9")
		}
	}
}

func TestSubscribeRejectsBadArguments(t *testing.T) {
	b := mosquittotest.Start(t)
	c := newClient(t, testConfig(t, b))
	h := func(string, []byte) {}
	tests := []struct {
		filter  string
		qos     byte
		handler func(string, []byte)
		want    string
	}{
		{"a/#/b", 1, h, `uplink: subscribe: "a/#/b": # must be the last level`},
		{"", 1, h, "uplink: subscribe: empty filter"},
		{"a", 3, h, "uplink: subscribe a: qos 3 not supported, use 0, 1 or 2"},
		{"a", 1, nil, "uplink: subscribe a: nil handler"},
	}
	for _, tt := range tests {
		if err := c.Subscribe(tt.filter, tt.qos, tt.handler); err == nil || err.Error() != tt.want {
			t.Errorf("Subscribe(%q, %d) = %v, want %q", tt.filter, tt.qos, err, tt.want)
		}
	}
	if len(c.subs) != 0 {
		t.Fatalf("invalid subscriptions were registered: %d", len(c.subs))
	}
}

func TestSubscribeRejectedByBroker(t *testing.T) {
	c := newClient(t, Config{
		URL: fakeBroker(t, 0), ClientID: "gw-reject",
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	h := func(string, []byte) {}
	// Registered before the connection: the rejection is reported in
	// Stats and the log, and the connection still comes up.
	if err := c.Subscribe("forbidden/early", 1, h); err != nil {
		t.Fatalf("Subscribe before Run: %v", err)
	}
	run(t, c)
	waitConnected(t, c)
	if st := c.Stats(); st.LastError.Message != "uplink: subscribe forbidden/early: rejected by the broker" {
		t.Fatalf("LastError = %q, want the rejected subscription", st.LastError)
	}

	err := c.Subscribe("forbidden/late", 1, h)
	if want := "uplink: subscribe forbidden/late: rejected by the broker"; err == nil || err.Error() != want {
		t.Fatalf("Subscribe = %v, want %q", err, want)
	}
	if err := c.Subscribe("allowed/x", 1, h); err != nil {
		t.Fatalf("allowed Subscribe: %v", err)
	}
	c.mu.Lock()
	var filters []string
	for _, s := range c.subs {
		filters = append(filters, s.filter)
	}
	c.mu.Unlock()
	if got := strings.Join(filters, ","); got != "forbidden/early,allowed/x" {
		t.Fatalf("registered filters = %s, want the late rejected one removed", got)
	}
}
