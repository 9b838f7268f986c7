package broker

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pubLines publishes one message per line of input from one client.
func pubLines(t *testing.T, b *Broker, pub, id, topic string, n int, qos string) error {
	t.Helper()
	host, port, _ := strings.Cut(b.Addr(), ":")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pub, "-h", host, "-p", port, "-i", id, "-t", topic, "-q", qos, "-l")
	cmd.Stdin = strings.NewReader(strings.Repeat("1\n", n))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Logf("%s: %s", id, out)
	}
	return err
}

func TestRateLimitShedsAFloodWithoutStarvingOthers(t *testing.T) {
	pub, sub := clients(t)
	b := start(t, Config{AllowAnonymous: true, RateLimit: 50, Burst: 50})
	wait := subscribe(t, b, sub, 9999, "-t", "sensors/#", "-W", "4")
	flood := make(chan error, 1)
	go func() { flood <- pubLines(t, b, pub, "flood", "sensors/flood/t", 5000, "0") }()
	if err := pubLines(t, b, pub, "calm", "sensors/calm/t", 20, "0"); err != nil {
		t.Fatal(err)
	}
	if err := <-flood; err != nil {
		t.Fatal(err)
	}
	got := wait()
	calm, flooded := strings.Count(got, "sensors/calm/t"), strings.Count(got, "sensors/flood/t")
	if calm != 20 {
		t.Errorf("the calm client got %d of its 20 messages through: the flood starved it", calm)
	}
	st := b.Stats()
	if flooded >= 5000 || st.RateDropped == 0 || uint64(flooded)+st.RateDropped != 5000 {
		t.Errorf("flood: %d delivered, %d dropped by the limit; want drops, and the two to add up to 5000", flooded, st.RateDropped)
	}
	if st.RateLimit != 50 {
		t.Errorf("RateLimit %v, want 50", st.RateLimit)
	}
}

func TestRateLimitSlowsQoS1InsteadOfDropping(t *testing.T) {
	pub, sub := clients(t)
	b := start(t, Config{AllowAnonymous: true, RateLimit: 200, Burst: 10})
	wait := subscribe(t, b, sub, 300, "-t", "sensors/#")
	if err := pubLines(t, b, pub, "steady", "sensors/steady/t", 300, "1"); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(wait(), "sensors/steady/t"); n != 300 {
		t.Errorf("%d of 300 QoS 1 messages delivered; over the limit they must wait, not vanish", n)
	}
	if st := b.Stats(); st.RateDelayed == 0 || st.RateDropped != 0 {
		t.Errorf("stats delayed=%d dropped=%d; want delays and no drops", st.RateDelayed, st.RateDropped)
	}
}
