package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/edged-gateway/edged/sync/uplink"
)

// healthEvery is how often the health document is republished unchanged.
const healthEvery = 30 * time.Second

// healthPublisher publishes the status document, retained, on
// <prefix>/<gateway>/health: on every (re)connect, every healthEvery, and
// within a second when any device's health changes.
type healthPublisher struct {
	link   *uplink.Client
	topic  string
	status func() statusDoc
	log    *slog.Logger
}

// Run publishes until ctx ends.
func (h *healthPublisher) Run(ctx context.Context) error {
	check := time.NewTicker(time.Second)
	defer check.Stop()
	var lastEpoch uint64
	var lastHealth string
	lastSent := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-check.C:
		}
		if !h.link.Connected() {
			continue
		}
		doc := h.status()
		health := healthKey(doc)
		epoch := h.link.Stats().Epoch
		if epoch == lastEpoch && health == lastHealth && time.Since(lastSent) < healthEvery {
			continue
		}
		b, _ := json.Marshal(healthDoc(doc))
		if _, err := h.link.Publish(h.topic, b, 1, true); err != nil {
			h.log.Debug("health not published", "err", err)
			continue
		}
		lastEpoch, lastHealth, lastSent = epoch, health, time.Now()
	}
}

// maxHealthError bounds each error text in the health document: a cloud
// broker with a small maximum packet size must not refuse the document (a
// 3.1.1 broker drops the connection, and the readings with it) because a
// device or service wrote a long error.
const maxHealthError = 256

// healthDoc is the status document as published on the health topic: the
// same document, with each error text cut to maxHealthError bytes and
// without the per-sensor metric lists (up to 1024 entries each; they stay
// in edged status and the API). It copies what it changes.
func healthDoc(doc statusDoc) statusDoc {
	doc.Plan.Error = cutError(doc.Plan.Error)
	doc.Cloud.LastError = cutError(doc.Cloud.LastError)
	doc.Routes = slices.Clone(doc.Routes)
	for i := range doc.Routes {
		doc.Routes[i].LastError = cutError(doc.Routes[i].LastError)
	}
	// One entry per service and per route: edged status and the API
	// have them; the services and routes above say how each does.
	doc.ServiceFeeds, doc.Outbox.Cursors = nil, nil
	doc.Devices = slices.Clone(doc.Devices)
	for i := range doc.Devices {
		doc.Devices[i].LastError = cutError(doc.Devices[i].LastError)
	}
	doc.Services = slices.Clone(doc.Services)
	for i := range doc.Services {
		doc.Services[i].LastError = cutError(doc.Services[i].LastError)
	}
	doc.ConfigReload = nil // its problem list is unbounded; edged status and the API have it
	doc.LocalMQTT.Sensors = slices.Clone(doc.LocalMQTT.Sensors)
	for i := range doc.LocalMQTT.Sensors {
		doc.LocalMQTT.Sensors[i].Metrics = nil
	}
	return doc
}

// cutError cuts s to maxHealthError bytes on a rune boundary, marking the cut.
func cutError(s string) string {
	if len(s) <= maxHealthError {
		return s
	}
	cut := maxHealthError - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// healthKey summarises which devices are healthy, to notice changes.
func healthKey(doc statusDoc) string {
	b := make([]byte, 0, len(doc.Devices))
	for _, d := range doc.Devices {
		if d.Healthy {
			b = append(b, '1')
		} else {
			b = append(b, '0')
		}
	}
	return string(b)
}
