package recent

import (
	"slices"
	"sync"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// Config bounds the memory used. The zero value is usable.
type Config struct {
	// PerDevice is how many readings each device keeps; default 600.
	PerDevice int
	// MaxAge drops readings older than this from answers; default 10m.
	MaxAge time.Duration
	// MaxDevices caps how many devices are tracked (MQTT sensors name
	// devices in their topics); past it new names are ignored; default 1024.
	MaxDevices int
}

// Recent holds the rings. It is safe for concurrent use.
type Recent struct {
	cfg     Config
	mu      sync.Mutex
	devices map[string]*ring
	ignored uint64
}

type ring struct {
	buf  []reading.Reading
	next int // where the next reading goes once buf is full
	last map[string]reading.Reading
}

// New returns an empty Recent.
func New(cfg Config) *Recent {
	if cfg.PerDevice <= 0 {
		cfg.PerDevice = 600
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 10 * time.Minute
	}
	if cfg.MaxDevices <= 0 {
		cfg.MaxDevices = 1024
	}
	return &Recent{cfg: cfg, devices: map[string]*ring{}}
}

// Add records readings (after they are durable, so they carry seqs).
func (r *Recent) Add(rs []reading.Reading) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rd := range rs {
		g := r.devices[rd.Device]
		if g == nil {
			if len(r.devices) >= r.cfg.MaxDevices {
				r.ignored++
				continue
			}
			g = &ring{buf: make([]reading.Reading, 0, min(r.cfg.PerDevice, 64)), last: map[string]reading.Reading{}}
			r.devices[rd.Device] = g
		}
		if len(g.buf) < r.cfg.PerDevice {
			g.buf = append(g.buf, rd)
		} else {
			g.buf[g.next] = rd
			g.next = (g.next + 1) % len(g.buf)
		}
		g.last[rd.Metric] = rd
	}
}

// Since returns the device's readings newer than since (and within
// MaxAge of now), oldest first; ok is false for a device never seen.
func (r *Recent) Since(device string, since, now time.Time) (rs []reading.Reading, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.devices[device]
	if g == nil {
		return nil, false
	}
	floor := now.Add(-r.cfg.MaxAge)
	if since.Before(floor) {
		since = floor
	}
	rs = []reading.Reading{}
	for i := range len(g.buf) {
		rd := g.buf[(g.next+i)%len(g.buf)]
		if rd.Time.After(since) {
			rs = append(rs, rd)
		}
	}
	return rs, true
}

// Last returns the device's latest reading per metric, by metric name.
func (r *Recent) Last(device string) []reading.Reading {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.devices[device]
	if g == nil {
		return []reading.Reading{}
	}
	out := make([]reading.Reading, 0, len(g.last))
	for _, rd := range g.last {
		out = append(out, rd)
	}
	slices.SortFunc(out, func(a, b reading.Reading) int { return cmpString(a.Metric, b.Metric) })
	return out
}

// Devices lists the devices seen, sorted.
func (r *Recent) Devices() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.devices))
	for n := range r.devices {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Forget drops a device's readings (a plan removed it), so it is no longer
// listed.
func (r *Recent) Forget(device string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.devices, device)
}
