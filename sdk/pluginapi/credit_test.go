package pluginapi

import (
	"errors"
	"testing"

	"github.com/edged-gateway/edged/sdk/pluginapi/internal/pluginpb"
)

func TestWindowRefusesCreditBeyondMax(t *testing.T) {
	w := newWindow()
	if err := w.grant(MaxWindow); err != nil {
		t.Fatal(err)
	}
	if err := w.grant(1); !errors.Is(err, ErrProtocol) {
		t.Errorf("credit beyond MaxWindow: %v, want ErrProtocol", err)
	}
	if err := newWindow().grant(MaxWindow + 1); !errors.Is(err, ErrProtocol) {
		t.Errorf("one grant beyond MaxWindow: %v", err)
	}
	<-w.C()
	w.refund()
	if len(w.tokens) != MaxWindow {
		t.Errorf("after take and refund: %d tokens", len(w.tokens))
	}
}

func TestGrantsCoalesce(t *testing.T) {
	g := newGrants(16) // a quarter is 4
	g.add(3)
	select {
	case <-g.wake:
		t.Error("woken below a quarter of the window")
	default:
	}
	g.add(4)
	<-g.wake
	if n := g.take(); n != 7 {
		t.Errorf("take = %d, want 7", n)
	}
	select {
	case <-g.wake:
		t.Error("a second wake-up for one batch of grants")
	default:
	}
}

func TestProtocolVersionMatchesProto(t *testing.T) {
	highest := int32(0)
	for v := range pluginpb.ProtocolVersion_name {
		highest = max(highest, v)
	}
	if highest != ProtocolVersion {
		t.Errorf("ProtocolVersion is %d, pluginapi.proto's highest is %d", ProtocolVersion, highest)
	}
}

func TestChunks(t *testing.T) {
	for _, n := range []int{0, 1, MaxBatch, MaxBatch + 1, 3*MaxBatch + 5} {
		parts := chunks(make([]Reading, n))
		total := 0
		for _, p := range parts {
			if len(p) > MaxBatch {
				t.Errorf("n=%d: part of %d", n, len(p))
			}
			total += len(p)
		}
		if total != n || len(parts) != max(1, (n+MaxBatch-1)/MaxBatch) {
			t.Errorf("n=%d: %d parts, %d readings", n, len(parts), total)
		}
	}
}
