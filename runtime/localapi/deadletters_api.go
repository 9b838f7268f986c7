package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// DeadLetterAPI are the sources of /api/v1/deadletters. A nil Store (or
// one that returns nil) answers 404: the gateway keeps no dead letters.
type DeadLetterAPI struct {
	// Store returns the dead-letter store; it is asked on each request, as
	// the daemon opens the store after the API. cmd/edged adapts
	// sync/deadletter to it (the runtime reaches sync only through
	// interfaces it defines).
	Store func() DeadLetterStore
}

// DeadLetterStore is what the API needs of the dead letters.
type DeadLetterStore interface {
	// Page returns up to limit entries after the id after, oldest first,
	// and the after of the next page (0 on the last).
	Page(after uint64, limit int) ([]DeadLetter, uint64, error)
	// Newest returns up to limit entries with an id below before (0: from
	// the newest), newest first, and the before of the next page (0 on the
	// last).
	Newest(before uint64, limit int) ([]DeadLetter, uint64, error)
	Get(id uint64) (DeadLetter, bool, error)
	Count() int
	// CountByRoute is Count per route, for a bounded number of routes (the
	// rest summed under one name).
	CountByRoute() map[string]int
	// Check refuses a selection the store would not take (ids and all
	// together, too many ids), naming the field.
	Check(DeadLetterSelection) error
	// Replay appends the selected readings to the outbox again and deletes
	// them once durable; Drop deletes them.
	Replay(context.Context, DeadLetterSelection) (DeadLetterResult, error)
	Drop(DeadLetterSelection) (DeadLetterResult, error)
}

// DeadLetter is one reading a destination refused for good.
type DeadLetter struct {
	ID        uint64
	Route     string
	Reason    string
	Attempts  int
	At        time.Time
	Replaying bool // a replay was cut short: it may be in the outbox already
	Reading   reading.Reading
}

// DeadLetterSelection names dead letters: IDs, or All; Before (when set)
// narrows it to those dead-lettered before then.
type DeadLetterSelection struct {
	IDs    []uint64
	All    bool
	Before time.Time
}

// DeadLetterReplayed pairs a replayed dead letter with its new seq.
type DeadLetterReplayed struct {
	ID             uint64 `json:"id"`
	OriginalSeq    uint64 `json:"original_seq"`
	Seq            uint64 `json:"seq"`
	MaybeDuplicate bool   `json:"maybe_duplicate,omitempty"`
}

// DeadLetterResult is what a replay or drop did.
type DeadLetterResult struct {
	Replayed []DeadLetterReplayed
	Dropped  []uint64
	NotFound []uint64
}

// MaxDeadLetterPage bounds one page of GET /api/v1/deadletters.
const MaxDeadLetterPage = 500

// MaxDeadLetterBody bounds the body of the replay and drop requests (1000
// ids of 20 digits fit well).
const MaxDeadLetterBody = 64 << 10

// deadLetterDoc is one dead letter in the API.
type deadLetterDoc struct {
	ID             uint64     `json:"id"`
	Route          string     `json:"route"`
	Reason         string     `json:"reason"`
	Attempts       int        `json:"attempts"`
	DeadLetteredAt time.Time  `json:"dead_lettered_at"`
	Replaying      bool       `json:"replaying,omitempty"`
	Reading        readingDoc `json:"reading"`
}

// readingDoc is a reading in snake_case.
type readingDoc struct {
	Device    string    `json:"device"`
	Metric    string    `json:"metric"`
	Value     float64   `json:"value"`
	Unit      string    `json:"unit,omitempty"`
	Time      time.Time `json:"time"`
	Seq       uint64    `json:"seq"`
	Source    string    `json:"source,omitempty"`
	Simulated bool      `json:"simulated,omitempty"`
}

func deadLetterOf(e DeadLetter) deadLetterDoc {
	r := e.Reading
	return deadLetterDoc{ID: e.ID, Route: e.Route, Reason: e.Reason, Attempts: e.Attempts, DeadLetteredAt: e.At, Replaying: e.Replaying,
		Reading: readingDoc{Device: r.Device, Metric: r.Metric, Value: r.Value, Unit: r.Unit, Time: r.Time, Seq: r.Seq, Source: r.Source, Simulated: r.Simulated}}
}

// deadLettersDoc is GET /api/v1/deadletters.
type deadLettersDoc struct {
	DeadLetters []deadLetterDoc `json:"dead_letters"`
	// Next is the after= (the before= with order=newest) of the next
	// page; 0 when this is the last.
	Next    uint64         `json:"next"`
	Count   int            `json:"count"`    // entries kept in all
	ByRoute map[string]int `json:"by_route"` // entries kept per route
}

// actionDoc answers a replay ({"replayed", "not_found"}) or a drop
// ({"dropped", "not_found"}); error says why it stopped or what was not
// found.
type actionDoc struct {
	Replayed []DeadLetterReplayed `json:"replayed,omitzero"`
	Dropped  []uint64             `json:"dropped,omitzero"`
	NotFound []uint64             `json:"not_found"`
	Error    string               `json:"error,omitempty"`
}

func orEmpty(ids []uint64) []uint64 {
	if ids == nil {
		return []uint64{}
	}
	return ids
}

// selectionDoc is the body of the replay and drop requests.
type selectionDoc struct {
	IDs []uint64 `json:"ids"`
	All bool     `json:"all"`
	// OlderThan, a Go duration ("24h"), narrows the selection to the
	// entries dead-lettered at least that long ago.
	OlderThan string `json:"older_than"`
}

func (s *Server) deadLetterRoutes(handle func(pattern string, h http.Handler)) {
	d := s.cfg.DeadLetters
	store := func() DeadLetterStore {
		if d.Store == nil {
			return nil
		}
		return d.Store()
	}
	off := func(w http.ResponseWriter) bool {
		if store() == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "this gateway keeps no dead letters: cloud sync is off (cloud.url is empty)"})
			return true
		}
		return false
	}
	handle("GET /api/v1/deadletters", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if off(w) {
			return
		}
		q := r.URL.Query()
		limit, err := intParam(q, "limit", 100, 1, MaxDeadLetterPage)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		newest := false
		switch o := q.Get("order"); o {
		case "", "oldest":
		case "newest":
			newest = true
		default:
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("order=%.24q: use oldest (the default) or newest", o)})
			return
		}
		from, fromKey := "after", "before"
		if newest {
			from, fromKey = "before", "after"
		}
		if q.Has(fromKey) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("%s: not with order=%s: page with %s=, the next value of the previous answer", fromKey, map[bool]string{false: "oldest", true: "newest"}[newest], from)})
			return
		}
		var at uint64
		if v := q.Get(from); v != "" {
			if at, err = strconv.ParseUint(v, 10, 64); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("%s=%.24q: give the next value of the previous answer (a whole number)", from, v)})
				return
			}
		}
		page := store().Page
		if newest {
			page = store().Newest
		}
		es, next, err := page(at, limit)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		doc := deadLettersDoc{DeadLetters: make([]deadLetterDoc, len(es)), Next: next, Count: store().Count(), ByRoute: store().CountByRoute()}
		if doc.ByRoute == nil {
			doc.ByRoute = map[string]int{}
		}
		for i, e := range es {
			doc.DeadLetters[i] = deadLetterOf(e)
		}
		writeJSON(w, http.StatusOK, doc)
	}))
	handle("GET /api/v1/deadletters/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if off(w) {
			return
		}
		id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
		if err != nil || id == 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("id %.24q: a dead letter id is a whole number from 1 (see GET /api/v1/deadletters)", r.PathValue("id"))})
			return
		}
		e, ok, err := store().Get(id)
		switch {
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		case !ok:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no dead letter %d: it was replayed or dropped, or never existed", id)})
		default:
			writeJSON(w, http.StatusOK, deadLetterOf(e))
		}
	}))
	handle("POST /api/v1/deadletters/replay", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if off(w) {
			return
		}
		s.deadLetterAct(w, r, "replay", store(), store().Replay)
	}))
	handle("POST /api/v1/deadletters/drop", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if off(w) {
			return
		}
		st := store()
		s.deadLetterAct(w, r, "drop", st, func(_ context.Context, sel DeadLetterSelection) (DeadLetterResult, error) { return st.Drop(sel) })
	}))
}

// deadLetterAct decodes a selection and runs a replay or drop: 200 when
// every id named was acted on, 404 when some were not found (the answer
// says which, and what was done with the others), 400 for a bad body, 503
// when the store or the outbox failed part way (the answer says what was
// done before).
func (s *Server) deadLetterAct(w http.ResponseWriter, r *http.Request, what string, st DeadLetterStore, act func(context.Context, DeadLetterSelection) (DeadLetterResult, error)) {
	var sel selectionDoc
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxDeadLetterBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sel); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf(`body: %v: send {"ids":[1,2]} or {"all":true}, at most %d bytes`, err, MaxDeadLetterBody)})
		return
	}
	if dec.More() {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `body: more than one JSON value: send {"ids":[1,2]} or {"all":true}`})
		return
	}
	ds := DeadLetterSelection{IDs: sel.IDs, All: sel.All}
	if sel.OlderThan != "" {
		age, err := time.ParseDuration(sel.OlderThan)
		if err != nil || age <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("body: older_than %.24q: use a positive duration such as 30m or 24h", sel.OlderThan)})
			return
		}
		ds.Before = time.Now().Add(-age)
	}
	if err := st.Check(ds); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
		return
	}
	res, err := act(r.Context(), ds)
	s.cfg.Logger.Info("local dead letters "+what, "ids", len(sel.IDs), "all", sel.All, "older_than", sel.OlderThan, "replayed", len(res.Replayed), "dropped", len(res.Dropped), "not_found", len(res.NotFound), "err", err)
	for _, p := range res.Replayed {
		s.cfg.Logger.Info("dead letter replayed to the outbox", "id", p.ID, "original_seq", p.OriginalSeq, "seq", p.Seq, "maybe_duplicate", p.MaybeDuplicate)
	}
	doc := actionDoc{NotFound: orEmpty(res.NotFound), Error: ""}
	if what == "replay" {
		doc.Replayed = res.Replayed
		if doc.Replayed == nil {
			doc.Replayed = []DeadLetterReplayed{}
		}
	} else {
		doc.Dropped = orEmpty(res.Dropped)
	}
	code := http.StatusOK
	switch {
	case err != nil:
		code, doc.Error = http.StatusServiceUnavailable, err.Error()
	case len(res.NotFound) > 0:
		code, doc.Error = http.StatusNotFound, fmt.Sprintf("%d of the ids are not dead letters here (not_found): they were replayed or dropped, or never existed", len(res.NotFound))
	}
	writeJSON(w, code, doc)
}
