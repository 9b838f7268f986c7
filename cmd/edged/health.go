package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

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
		b, _ := json.Marshal(doc)
		if _, err := h.link.Publish(h.topic, b, 1, true); err != nil {
			h.log.Debug("health not published", "err", err)
			continue
		}
		lastEpoch, lastHealth, lastSent = epoch, health, time.Now()
	}
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
