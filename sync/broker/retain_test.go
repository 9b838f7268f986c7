package broker

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// retainAll publishes n retained QoS 1 messages on distinct topics and
// returns how many were acknowledged without an error code.
func retainAll(c *rawClient, prefix string, n int) (ok, quota int) {
	c.t.Helper()
	for i := range n {
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
			TopicName: fmt.Sprintf("%s/%d", prefix, i), PacketID: uint16(i + 1), Payload: []byte("21.5")})
		ack := c.expect(packets.Puback)
		switch ack.ReasonCode {
		case 0:
			ok++
		case packets.ErrQuotaExceeded.Code:
			quota++
		default:
			c.t.Fatalf("PUBACK reason %#x", ack.ReasonCode)
		}
	}
	return ok, quota
}

// storedRetained counts the retained records in a closed broker.db.
func storedRetained(t *testing.T, path string) int {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(_ []byte, bk *bbolt.Bucket) error {
			return bk.ForEach(func(k, _ []byte) error {
				if strings.HasPrefix(string(k), "RET_") {
					n++
				}
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// run starts b and returns a function that stops it and waits.
func run(t *testing.T, b *Broker) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("broker run: %v", err)
		}
	}
}

func TestRetainedMessagesBoundedInAllAndPerUser(t *testing.T) {
	store := filepath.Join(t.TempDir(), "broker.db")
	lim := Limits{MaxRetained: 50, MaxRetainedPerUser: 20}
	b, err := New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true, StorePath: store, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, b)
	before := settledRSS(t)
	// Anonymous clients count per client id: 20 each, then the total.
	for _, step := range []struct {
		id        string
		ok, quota int
	}{{"a", 20, 80}, {"b", 20, 80}, {"c", 10, 90}} {
		c := dialRaw(t, b.Addr(), "", 5)
		c.mustConnect(step.id)
		ok, quota := retainAll(c, "sensors/"+step.id, 100)
		if ok != step.ok || quota != step.quota {
			t.Errorf("client %s: %d retained, %d quota exceeded; want %d and %d", step.id, ok, quota, step.ok, step.quota)
		}
	}
	// MQTT 3.1.1 has no way to say no: delivered, not retained.
	c := dialRaw(t, b.Addr(), "", 4)
	c.mustConnect("d")
	for i := range 100 {
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
			TopicName: fmt.Sprintf("sensors/d/%d", i), PacketID: uint16(i + 1), Payload: []byte("1")})
		c.expect(packets.Puback)
	}
	// Empty retained publishes on topics holding nothing store nothing.
	for i := range 100 {
		c.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
			TopicName: fmt.Sprintf("sensors/empty/%d", i), PacketID: uint16(i + 1)})
		c.expect(packets.Puback)
	}
	// Deleting frees room: a deletes one, b may set one.
	a := dialRaw(t, b.Addr(), "", 5)
	a.mustConnect("a")
	a.send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true}, TopicName: "sensors/a/0", PacketID: 1})
	a.expect(packets.Puback)
	bc := dialRaw(t, b.Addr(), "", 5)
	bc.mustConnect("c")
	if ok, _ := retainAll(bc, "sensors/c-again", 2); ok != 1 {
		t.Errorf("after a delete, %d retained, want 1", ok)
	}
	st := b.Stats()
	t.Logf("RSS before %.1f MiB, after 500 retained publishes %.1f MiB", mib(before), mib(rssBytes(t)))
	if st.Retained != 50 || st.Limits.RetainedRefused != 351 {
		t.Errorf("retained %d, refused %d; want 50 and 351", st.Retained, st.Limits.RetainedRefused)
	}
	stop()
	if n := storedRetained(t, store); n != 50 {
		t.Fatalf("broker.db holds %d retained messages, want 50", n)
	}

	// Across a restart the store comes back within the limits, and the
	// limits still hold.
	b, err = New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true, StorePath: store, Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	stop = run(t, b)
	c = dialRaw(t, b.Addr(), "", 5)
	c.mustConnect("e")
	if ok, _ := retainAll(c, "sensors/e", 10); ok != 0 {
		t.Errorf("after a restart at the limit, %d more retained", ok)
	}
	stop()
	if n := storedRetained(t, store); n != 50 {
		t.Fatalf("after a restart broker.db holds %d retained messages, want 50", n)
	}

	// Lower limits trim the store at start.
	b, err = New(Config{Listen: "127.0.0.1:0", AllowAnonymous: true, StorePath: store, Limits: Limits{MaxRetained: 10}})
	if err != nil {
		t.Fatal(err)
	}
	stop = run(t, b)
	c = dialRaw(t, b.Addr(), "", 5)
	c.mustConnect("f") // Run has loaded and trimmed once a client is in
	st = b.Stats()
	stop()
	if st.Retained != 10 || st.Limits.RetainedTrimmed != 40 {
		t.Errorf("retained %d, trimmed %d; want 10 and 40", st.Retained, st.Limits.RetainedTrimmed)
	}
	if n := storedRetained(t, store); n != 10 {
		t.Fatalf("after trimming broker.db holds %d retained messages, want 10", n)
	}
}

func TestRetainedLimitCountsUsersNotClientIDs(t *testing.T) {
	b := start(t, Config{PasswdFile: writeUsers(t, "porch", "s3cret"), Limits: Limits{MaxRetainedPerUser: 5}})
	total := 0
	for _, id := range []string{"p1", "p2", "p3"} {
		c := dialRaw(t, b.Addr(), "", 5)
		if ack, err := c.connect(id, "porch", "s3cret"); err != nil || ack.ReasonCode != 0 {
			t.Fatalf("connect: %v %#x", err, ack.ReasonCode)
		}
		ok, _ := retainAll(c, "sensors/porch/"+id, 4)
		total += ok
	}
	if total != 5 {
		t.Fatalf("user porch retained %d messages over 3 client ids, want 5", total)
	}
}
