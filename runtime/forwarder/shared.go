package forwarder

import (
	"context"
	"fmt"
	"sync"
)

// Shared lets several routes use one Link (two routes to the cloud uplink,
// say) with one in-flight window between them. A route asks for a slot
// before each publish and gives it back when the delivery completes; when
// routes compete for slots, the one with the higher priority (the lower
// number, 0 first) gets them first, routes of equal priority in the order
// they asked. A route that finds no slot waits, without holding up
// anything else; a route's failures never take slots from the others for
// longer than its deliveries take to complete.
//
// A route that probes for a poison reading (publishing it alone, counting
// each failure as one of its attempts) takes the whole window for that
// publish: over MQTT 3.1.1 a refusal drops the connection, which would
// fail the other routes' messages in flight too and count against their
// readings.
type Shared struct {
	link  Link
	slots int

	mu      sync.Mutex
	inUse   int
	waiters []*waiter // in grant order: priority, then arrival
}

type waiter struct {
	priority int
	n        int           // slots wanted: 1, or all of them for a probe
	ready    chan struct{} // closed when the slots are granted
}

// NewShared returns a Shared over link with slots publishes in flight at
// most, across all its routes (default 32 when slots <= 0).
func NewShared(link Link, slots int) *Shared {
	if slots <= 0 {
		slots = 32
	}
	return &Shared{link: link, slots: slots}
}

// Route returns the Link one route publishes through, with its priority
// (0 is the highest). Give it to that route's forwarder.
func (s *Shared) Route(priority int) Link {
	return &sharedRoute{s: s, priority: priority}
}

// Waiting reports how many publishes wait for a slot.
func (s *Shared) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiters)
}

// InUse reports how many slots are held by deliveries in flight.
func (s *Shared) InUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUse
}

// acquire takes n slots, waiting behind every waiter of the same or higher
// priority, until ctx ends.
func (s *Shared) acquire(ctx context.Context, priority, n int) error {
	s.mu.Lock()
	if s.inUse+n <= s.slots && len(s.waiters) == 0 {
		s.inUse += n
		s.mu.Unlock()
		return nil
	}
	w := &waiter{priority: priority, n: n, ready: make(chan struct{})}
	i := len(s.waiters)
	for i > 0 && s.waiters[i-1].priority > priority {
		i--
	}
	s.waiters = append(s.waiters, nil)
	copy(s.waiters[i+1:], s.waiters[i:])
	s.waiters[i] = w
	s.grantLocked()
	s.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		for j, o := range s.waiters {
			if o == w {
				s.waiters = append(s.waiters[:j], s.waiters[j+1:]...)
				return ctx.Err()
			}
		}
		// Granted as ctx ended: hand the slots on.
		s.inUse -= n
		s.grantLocked()
		return ctx.Err()
	}
}

// release gives n slots back, to the next waiters.
func (s *Shared) release(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inUse -= n
	s.grantLocked()
}

// grantLocked serves the waiters in order; the first one that does not fit
// (a probe waiting for the whole window) holds up those behind it.
func (s *Shared) grantLocked() {
	for len(s.waiters) > 0 && s.inUse+s.waiters[0].n <= s.slots {
		w := s.waiters[0]
		s.waiters = s.waiters[1:]
		s.inUse += w.n
		close(w.ready)
	}
}

// sharedRoute is one route's view of a Shared link.
type sharedRoute struct {
	s        *Shared
	priority int
}

func (r *sharedRoute) WaitConnected(ctx context.Context) (uint64, error) {
	return r.s.link.WaitConnected(ctx)
}

// Publish without a slot: the forwarder calls acquire first (see gate);
// another caller gets one here, waiting as long as it takes.
func (r *sharedRoute) Publish(topic string, payload []byte) (Delivery, error) {
	if err := r.s.acquire(context.Background(), r.priority, 1); err != nil {
		return nil, err
	}
	return r.publishHeld(0, topic, payload, false)
}

// publishHeld publishes with the slots already held (all of them when
// alone), and returns them when the delivery completes (or at once when
// Publish fails).
func (r *sharedRoute) publishHeld(epoch uint64, topic string, payload []byte, alone bool) (Delivery, error) {
	n := r.slots(alone)
	var d Delivery
	var err error
	if epoch == 0 {
		d, err = r.s.link.Publish(topic, payload)
	} else {
		d, err = publishOn(r.s.link, epoch, topic, payload)
	}
	if err != nil {
		r.s.release(n)
		return nil, err
	}
	go func() {
		<-d.Done()
		r.s.release(n)
	}()
	return d, nil
}

func (r *sharedRoute) slots(alone bool) int {
	if alone {
		return r.s.slots
	}
	return 1
}

// gate is the part of a shared route the forwarder uses: it waits for a
// slot (or, alone, the whole window) with its own context, so a route that
// waits can still stop.
type gate interface {
	acquire(ctx context.Context, alone bool) error
	publishHeld(epoch uint64, topic string, payload []byte, alone bool) (Delivery, error)
}

func (r *sharedRoute) acquire(ctx context.Context, alone bool) error {
	if err := r.s.acquire(ctx, r.priority, r.slots(alone)); err != nil {
		return fmt.Errorf("wait for a slot on the shared link: %w", err)
	}
	return nil
}
