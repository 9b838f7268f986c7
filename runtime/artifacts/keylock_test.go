package artifacts

import (
	"context"
	"errors"
	"testing"
)

func TestSumLocks(t *testing.T) {
	var l sumLocks
	unlockA, err := l.lock(t.Context(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.tryLock("a"); ok {
		t.Error("tryLock took a held lock")
	}
	unlockB, ok := l.tryLock("b")
	if !ok {
		t.Fatal("tryLock of a free sum failed")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.lock(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("lock with an ended context = %v, want context.Canceled", err)
	}
	unlockA()
	unlockB()
	if n := l.size(); n != 0 {
		t.Errorf("%d locks left after unlocking all", n)
	}
	unlock, ok := l.tryLock("a")
	if !ok {
		t.Fatal("tryLock after unlock failed")
	}
	unlock()
}
