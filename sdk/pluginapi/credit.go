package pluginapi

import (
	"fmt"
	"sync/atomic"
)

// window is the credit one side holds: how many more batches the peer has
// allowed it to send. Taking a token from C spends one credit.
type window struct {
	tokens chan struct{}
}

func newWindow() *window {
	return &window{tokens: make(chan struct{}, MaxWindow)}
}

// C yields one token per credit.
func (w *window) C() <-chan struct{} { return w.tokens }

// grant adds n credits from the peer. Holding more than MaxWindow means the
// peer grants credit it was never owed: a protocol violation.
func (w *window) grant(n uint32) error {
	if n > MaxWindow {
		return fmt.Errorf("%w: credit of %d batches, the most is %d", ErrProtocol, n, MaxWindow)
	}
	for range n {
		select {
		case w.tokens <- struct{}{}:
		default:
			return fmt.Errorf("%w: credit beyond %d batches", ErrProtocol, MaxWindow)
		}
	}
	return nil
}

// refund returns a credit taken but not spent.
func (w *window) refund() {
	select {
	case w.tokens <- struct{}{}:
	default:
	}
}

// grants is the credit one side owes the peer, sent by its writer goroutine:
// add never blocks, and credits go out together once a quarter of the
// window has piled up (like TCP's delayed ACK: a quarter of the messages,
// the same bound). This cannot stall the peer: it waits only with the
// whole window outstanding, and finishing those owes it the whole window.
type grants struct {
	n         atomic.Uint32
	threshold uint32
	wake      chan struct{}
}

func newGrants(window int) *grants {
	return &grants{threshold: uint32(max(1, window/4)), wake: make(chan struct{}, 1)}
}

func (g *grants) add(n uint32) {
	if g.n.Add(n) < g.threshold {
		return
	}
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

func (g *grants) take() uint32 { return g.n.Swap(0) }
