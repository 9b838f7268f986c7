package history

import (
	"sync"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// MaxAlerts is how many alerts Alerts keeps (the newest).
const MaxAlerts = 200

// Alert is a reading a rules or anomaly service emitted: a rule firing
// (value 1, or its alert.value) or clearing (0), or an anomaly score.
type Alert struct {
	Device string    `json:"device"`
	Metric string    `json:"metric"`
	Value  float64   `json:"value"`
	Unit   string    `json:"unit,omitempty"`
	Time   time.Time `json:"ts"`
	// Source is the service instance that emitted it; Kind its kind
	// (rules or anomaly).
	Source string `json:"source"`
	Kind   string `json:"kind"`
	Seq    uint64 `json:"seq"`
}

// Alerts keeps the newest MaxAlerts alerts; safe for concurrent use.
type Alerts struct {
	mu    sync.Mutex
	buf   []Alert // a ring once full
	next  int
	total uint64
}

// Add keeps the readings kindOf names a kind for ("" skips the reading).
func (a *Alerts) Add(rs []reading.Reading, kindOf func(reading.Reading) string) {
	for _, r := range rs {
		k := kindOf(r)
		if k == "" {
			continue
		}
		al := Alert{Device: r.Device, Metric: r.Metric, Value: r.Value, Unit: r.Unit, Time: r.Time, Source: r.Source, Kind: k, Seq: r.Seq}
		a.mu.Lock()
		if len(a.buf) < MaxAlerts {
			a.buf = append(a.buf, al)
		} else {
			a.buf[a.next] = al
			a.next = (a.next + 1) % MaxAlerts
		}
		a.total++
		a.mu.Unlock()
	}
}

// Newest returns up to limit alerts, newest first, and how many were
// seen since start.
func (a *Alerts) Newest(limit int) (out []Alert, total uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out = []Alert{}
	n := len(a.buf)
	for i := 0; i < n && len(out) < limit; i++ {
		out = append(out, a.buf[((a.next-1-i)%n+n)%n])
	}
	return out, a.total
}
