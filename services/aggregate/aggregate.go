package aggregate

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/edged-gateway/edged/services/internal/series"
)

// Reading is a reading as the service consumes and emits it.
type Reading = series.Reading

// Command is an actuator command; aggregate never sends one.
type Command = series.Command

// Source is the Source of every reading the service emits.
const Source = "aggregate"

// Summary is the aggregation's counts in a few words (for the health detail).
func (s *Service) Summary() string {
	st := s.Stats()
	return fmt.Sprintf("%d readings aggregated, %d windows closed, %d series open, %d late", st.Aggregated, st.Windows, st.OpenSeries, st.Late)
}

// Stats counts what the service has done since New.
type Stats struct {
	// Aggregated counts readings folded into a window.
	Aggregated uint64
	// Late counts readings dropped because their window had closed.
	Late uint64
	// Future counts readings dropped for being dated a window or more
	// after now.
	Future uint64
	// Invalid counts readings dropped for a NaN or infinite value or a
	// time outside 1970–2262.
	Invalid uint64
	// SeriesDropped counts readings dropped because MaxSeries series
	// already had an open window.
	SeriesDropped uint64
	// Windows counts the windows closed and emitted.
	Windows uint64
	// OpenSeries is the number of series with an open window now.
	OpenSeries int
}

// Service aggregates readings into tumbling windows. Create it with New.
type Service struct {
	cfg     Config
	window  int64 // ns
	grace   time.Duration
	filters series.Filters
	stats   []string
	names   map[string][]string // metric → emitted names, in stats order

	open     map[series.Key]*bucket
	closedTo int64 // ns: every window ending at or before it is closed
	minEnd   int64 // ns: no open window ends before it
	counts   Stats
}

// bucket is one series' open window.
type bucket struct {
	start, end    int64 // ns since the epoch
	n             int
	min, max      float64
	sum           float64
	first, last   float64
	tFirst, tLast int64
	unit          string
}

// New returns a Service for cfg, or the error cfg.Validate gives.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	filters, _ := series.NewFilters("match", cfg.Match) // validated
	return &Service{
		cfg:     cfg,
		window:  int64(cfg.Window),
		grace:   *cfg.Grace,
		filters: filters,
		stats:   cfg.Stats,
		names:   map[string][]string{},
		open:    map[series.Key]*bucket{},
		minEnd:  math.MaxInt64,
	}, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Matches reports whether the service aggregates device/metric; the host
// uses it to apply ForwardRaw.
func (s *Service) Matches(device, metric string) bool { return s.filters.Match(device, metric) }

// Stats returns the counters since New.
func (s *Service) Stats() Stats {
	c := s.counts
	c.OpenSeries = len(s.open)
	return c
}

// valid times are those UnixNano represents: 1970 to 2262.
func validTime(t time.Time) bool {
	u := t.Unix()
	return u >= 0 && u < math.MaxInt64/int64(time.Second)
}

// Process folds batch into the open windows. It emits the windows that a
// reading from a later window closes; it never emits a command.
func (s *Service) Process(batch []Reading, now time.Time) (emit []Reading, cmds []Command) {
	horizon := now.Add(s.cfg.Window) // readings at or after it are from the future
	for i := range batch {
		r := &batch[i]
		if r.Source == Source {
			continue
		}
		k := series.KeyOf(*r)
		b := s.open[k]
		if b == nil && !s.filters.Match(r.Device, r.Metric) {
			continue
		}
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || !validTime(r.Time) {
			s.counts.Invalid++
			continue
		}
		if !r.Time.Before(horizon) {
			s.counts.Future++
			continue
		}
		t := r.Time.UnixNano()
		if t < s.closedTo || (b != nil && t < b.start) {
			s.counts.Late++
			continue
		}
		start := t - mod(t, s.window)
		switch {
		case b == nil:
			if len(s.open) >= s.cfg.MaxSeries {
				s.counts.SeriesDropped++
				continue
			}
			b = &bucket{}
			s.open[k] = b
			b.reset(start, s.window)
		case start >= b.end:
			emit = s.appendWindow(emit, k, b)
			b.reset(start, s.window)
		}
		s.minEnd = min(s.minEnd, b.end)
		b.add(r.Value, t, r.Unit)
		s.counts.Aggregated++
	}
	return emit, nil
}

// Tick closes and emits every window that ended at least grace before now,
// in order of window end, then device, then metric.
func (s *Service) Tick(now time.Time) (emit []Reading, cmds []Command) {
	if !validTime(now) {
		return nil, nil
	}
	cut := now.Add(-s.grace).UnixNano()
	cut -= mod(cut, s.window) // windows ending at or before cut are over
	if cut <= s.closedTo {
		return nil, nil
	}
	s.closedTo = cut
	if s.minEnd > cut {
		return nil, nil
	}
	var done []series.Key
	s.minEnd = math.MaxInt64
	for k, b := range s.open {
		if b.end <= cut {
			done = append(done, k)
		} else {
			s.minEnd = min(s.minEnd, b.end)
		}
	}
	slices.SortFunc(done, func(a, b series.Key) int {
		if c := cmp.Compare(s.open[a].end, s.open[b].end); c != 0 {
			return c
		}
		if c := strings.Compare(a.Device, b.Device); c != 0 {
			return c
		}
		return strings.Compare(a.Metric, b.Metric)
	})
	for _, k := range done {
		emit = s.appendWindow(emit, k, s.open[k])
		delete(s.open, k)
	}
	return emit, nil
}

// appendWindow appends the statistics of b, the window of k, to out.
func (s *Service) appendWindow(out []Reading, k series.Key, b *bucket) []Reading {
	s.counts.Windows++
	names := s.names[k.Metric]
	if names == nil {
		names = make([]string, len(s.stats))
		for i, st := range s.stats {
			names[i] = strings.NewReplacer("{metric}", k.Metric, "{stat}", st).Replace(s.cfg.Naming)
		}
		if len(s.names) < s.cfg.MaxSeries { // bounded like the series
			s.names[k.Metric] = names
		}
	}
	end := time.Unix(0, b.end).UTC()
	for i, st := range s.stats {
		r := Reading{Device: k.Device, Metric: names[i], Unit: b.unit, Time: end, Source: Source}
		switch st {
		case StatMin:
			r.Value = b.min
		case StatMax:
			r.Value = b.max
		case StatMean:
			r.Value = b.sum / float64(b.n)
		case StatSum:
			r.Value = b.sum
		case StatCount:
			r.Value, r.Unit = float64(b.n), ""
		case StatFirst:
			r.Value = b.first
		case StatLast:
			r.Value = b.last
		}
		out = append(out, r)
	}
	return out
}

func (b *bucket) reset(start, window int64) {
	*b = bucket{start: start, end: start + window}
}

func (b *bucket) add(v float64, t int64, unit string) {
	if b.n == 0 {
		b.min, b.max, b.first, b.last, b.tFirst, b.tLast, b.unit = v, v, v, v, t, t, unit
		b.n, b.sum = 1, v
		return
	}
	b.n++
	b.sum += v
	b.min = min(b.min, v)
	b.max = max(b.max, v)
	if t < b.tFirst {
		b.first, b.tFirst = v, t
	}
	if t >= b.tLast {
		b.last, b.tLast, b.unit = v, t, unit
	}
}

// mod is the floor modulo: the result has the sign of m (positive).
func mod(t, m int64) int64 {
	r := t % m
	if r < 0 {
		r += m
	}
	return r
}
