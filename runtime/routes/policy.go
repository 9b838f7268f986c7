package routes

import "github.com/edged-gateway/edged/reading"

// Policy is the sync policy of the cloud routes: which readings stay on
// the gateway. It decides at send time, so readings already in the log
// follow the policy in force when their turn comes.
type Policy struct {
	// Local are "device/metric" filters of raw series that stay local
	// (an aggregate's forward_raw: false); what services emit always goes.
	Local []string
	// Only, when set, are the filters of the readings that go (a plan's
	// sync.metrics); the rest stay.
	Only []string
}

// Empty reports whether the policy sends everything.
func (p *Policy) Empty() bool { return p == nil || len(p.Local) == 0 && len(p.Only) == 0 }

// Keeps reports whether r stays on the gateway under p.
func (p *Policy) Keeps(r *reading.Reading) bool {
	if p == nil {
		return false
	}
	t := r.Device + "/" + r.Metric
	if len(p.Only) > 0 && !matchAny(p.Only, t) {
		return true
	}
	return r.Source == "" && matchAny(p.Local, t)
}
