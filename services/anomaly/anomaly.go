package anomaly

import (
	"fmt"
	"math"
	"time"

	"github.com/edged-gateway/edged/services/internal/series"
)

// Reading is a reading as the service consumes and emits it.
type Reading = series.Reading

// Command is an actuator command; anomaly never sends one.
type Command = series.Command

// Source is the Source of every reading the service emits.
const Source = "anomaly"

// Suffix is appended to a metric's name to name its score.
const Suffix = "_anomaly_score"

// MaxScore caps scores: a reading off a constant signal scores MaxScore.
const MaxScore = 1e6

// RestartHalfLives is the silence, in half-lives, after which a series
// weighed by HalfLife starts over (the old statistics weigh under 0.4%).
const RestartHalfLives = 8

// Summary is the scoring's counts in a few words (for the health detail):
// nothing scored yet means no series has finished its warmup.
func (s *Service) Summary() string {
	st := s.Stats()
	return fmt.Sprintf("%d series, %d readings scored (after warmup), %d anomalies", st.Series, st.Scored, st.Anomalies)
}

// Stats counts what the service has done since New.
type Stats struct {
	// Scored counts readings scored (after their series' warmup).
	Scored uint64
	// Anomalies counts readings that scored above the threshold.
	Anomalies uint64
	// Invalid counts readings ignored for a NaN or infinite value.
	Invalid uint64
	// OutOfOrder counts readings ignored for being older than their
	// series' previous one.
	OutOfOrder uint64
	// SeriesDropped counts readings ignored because MaxSeries series were
	// already tracked.
	SeriesDropped uint64
	// Series is the number of series tracked now.
	Series int
}

// Service scores readings against their series' rolling statistics. Create
// it with New.
type Service struct {
	cfg     Config
	filters series.Filters
	series  map[series.Key]*stat
	counts  Stats
}

// stat is the rolling state of one series.
type stat struct {
	name    string // the score's metric
	n       int    // readings folded in since the (re)start
	mean, v float64
	last    time.Time
}

// New returns a Service for cfg, or the error cfg.Validate gives.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	filters, _ := series.NewFilters("match", cfg.Match) // validated
	return &Service{cfg: cfg, filters: filters, series: map[series.Key]*stat{}}, nil
}

// Config returns the configuration in force, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// Stats returns the counters since New.
func (s *Service) Stats() Stats {
	c := s.counts
	c.Series = len(s.series)
	return c
}

// Process scores each reading of batch and folds it into its series. It
// emits the scores above the threshold (every score with EmitAllScores);
// it never sends a command. now is unused: scores carry the readings' time.
func (s *Service) Process(batch []Reading, now time.Time) (emit []Reading, cmds []Command) {
	for i := range batch {
		r := &batch[i]
		if r.Source == Source {
			continue
		}
		k := series.KeyOf(*r)
		st := s.series[k]
		if st == nil {
			if !s.filters.Match(r.Device, r.Metric) {
				continue
			}
			if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
				s.counts.Invalid++
				continue
			}
			if len(s.series) >= s.cfg.MaxSeries {
				s.counts.SeriesDropped++
				continue
			}
			st = &stat{name: r.Metric + Suffix}
			s.series[k] = st
		}
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			s.counts.Invalid++
			continue
		}
		if st.n > 0 && r.Time.Before(st.last) {
			s.counts.OutOfOrder++
			continue
		}
		alpha := s.cfg.Alpha
		if hl := s.cfg.HalfLife; hl > 0 && st.n > 0 {
			dt := r.Time.Sub(st.last)
			if dt > RestartHalfLives*hl {
				st.n = 0
			}
			alpha = -math.Expm1(-math.Ln2 * dt.Seconds() / hl.Seconds()) // 1 − 2^(−dt/hl)
		}
		if st.n >= s.cfg.Warmup {
			z := s.score(st, r.Value)
			s.counts.Scored++
			if z > s.cfg.Threshold {
				s.counts.Anomalies++
			}
			if z > s.cfg.Threshold || s.cfg.EmitAllScores {
				emit = append(emit, Reading{Device: r.Device, Metric: st.name, Value: z, Time: r.Time, Source: Source})
			}
		}
		st.fold(r.Value, alpha)
		st.last = r.Time
	}
	return emit, nil
}

// Tick returns nothing: the service has no time-driven outputs.
func (s *Service) Tick(now time.Time) (emit []Reading, cmds []Command) { return nil, nil }

// score is |x − mean| / stddev, floored and capped as the package doc says.
func (s *Service) score(st *stat, x float64) float64 {
	d := math.Abs(x - st.mean)
	sd := max(math.Sqrt(st.v), s.cfg.MinStddev)
	switch {
	case d == 0:
		return 0
	case sd == 0 || d/sd > MaxScore:
		return MaxScore
	}
	return d / sd
}

// fold adds x with weight alpha to the exponentially weighted mean and
// variance (Finch 2009, "Incremental calculation of weighted mean and
// variance"). The first reading of a (re)start sets the mean.
func (st *stat) fold(x, alpha float64) {
	if st.n == 0 {
		st.mean, st.v, st.n = x, 0, 1
		return
	}
	diff := x - st.mean
	incr := alpha * diff
	st.mean += incr
	st.v = (1 - alpha) * (st.v + diff*incr)
	st.n++
	if math.IsInf(st.mean, 0) || math.IsNaN(st.mean) || math.IsInf(st.v, 0) || math.IsNaN(st.v) {
		st.n = 0 // overflowed on extreme values: start over
	}
}
