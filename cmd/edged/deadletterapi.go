package main

// The dead-letter store (sync/deadletter) and the outbox its replays go to,
// as the local API's DeadLetterStore: the runtime reaches sync only through
// interfaces it defines, wired here.

import (
	"context"

	"github.com/edged-gateway/edged/runtime/localapi"
	"github.com/edged-gateway/edged/sync/deadletter"
)

// dlStore is a dead-letter store with the outbox replays append to.
type dlStore struct {
	S      *deadletter.Store
	Append deadletter.AppendFunc
}

// newDLStore returns s as the API wants it, or nil when there is no store
// (so the API answers 404).
func newDLStore(s *deadletter.Store, appendTo deadletter.AppendFunc) localapi.DeadLetterStore {
	if s == nil {
		return nil
	}
	return dlStore{S: s, Append: appendTo}
}

func dlEntry(e deadletter.Entry) localapi.DeadLetter {
	return localapi.DeadLetter{ID: e.ID, Route: e.Route, Reason: e.Reason, Attempts: e.Attempts, At: e.At, Replaying: e.Replaying, Reading: e.Reading}
}

func dlSelection(s localapi.DeadLetterSelection) deadletter.Selection {
	return deadletter.Selection{IDs: s.IDs, All: s.All, Before: s.Before}
}

func dlResult(r deadletter.Result) localapi.DeadLetterResult {
	out := localapi.DeadLetterResult{Dropped: r.Dropped, NotFound: r.NotFound}
	for _, p := range r.Replayed {
		out.Replayed = append(out.Replayed, localapi.DeadLetterReplayed{ID: p.ID, OriginalSeq: p.OriginalSeq, Seq: p.Seq, MaybeDuplicate: p.MaybeDuplicate})
	}
	return out
}

// Page implements localapi.DeadLetterStore.
func (s dlStore) Page(after uint64, limit int) ([]localapi.DeadLetter, uint64, error) {
	es, next, err := s.S.Page(after, limit)
	out := make([]localapi.DeadLetter, len(es))
	for i, e := range es {
		out[i] = dlEntry(e)
	}
	return out, next, err
}

// Newest implements localapi.DeadLetterStore.
func (s dlStore) Newest(before uint64, limit int) ([]localapi.DeadLetter, uint64, error) {
	es, next, err := s.S.Newest(before, limit)
	out := make([]localapi.DeadLetter, len(es))
	for i, e := range es {
		out[i] = dlEntry(e)
	}
	return out, next, err
}

// CountByRoute implements localapi.DeadLetterStore.
func (s dlStore) CountByRoute() map[string]int { return s.S.Stats().CountByRoute }

// Get implements localapi.DeadLetterStore.
func (s dlStore) Get(id uint64) (localapi.DeadLetter, bool, error) {
	e, ok, err := s.S.Get(id)
	return dlEntry(e), ok, err
}

// Count implements localapi.DeadLetterStore.
func (s dlStore) Count() int { return s.S.Stats().Count }

// Check implements localapi.DeadLetterStore.
func (s dlStore) Check(sel localapi.DeadLetterSelection) error { return dlSelection(sel).Check() }

// Replay implements localapi.DeadLetterStore.
func (s dlStore) Replay(ctx context.Context, sel localapi.DeadLetterSelection) (localapi.DeadLetterResult, error) {
	r, err := s.S.Replay(ctx, dlSelection(sel), s.Append)
	return dlResult(r), err
}

// Drop implements localapi.DeadLetterStore.
func (s dlStore) Drop(sel localapi.DeadLetterSelection) (localapi.DeadLetterResult, error) {
	r, err := s.S.Drop(dlSelection(sel))
	return dlResult(r), err
}
