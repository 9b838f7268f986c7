package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/runtime/forwarder"
	"github.com/edged-gateway/edged/runtime/routes"
	"github.com/edged-gateway/edged/sync/routeout"
)

// RouteConfig is one route: which readings go where, besides or instead
// of the default cloud route. Every route reads the durable log through a
// cursor of its own (data_dir/outbox.db), so a route whose destination is
// down or slow lags on its own and catches up, in order, when it is back;
// it never delays another route.
type RouteConfig struct {
	// Name is unique among routes (letters, digits, '.', '_', '-'); it
	// names the route's cursor, its dead letters and its metrics.
	Name string `yaml:"name"`
	// To is the destination: cloud (the uplink of cloud.*, the default
	// route), mqtt (another MQTT broker) or http (POST of JSON batches,
	// or InfluxDB line protocol).
	To string `yaml:"to"`
	// Filter picks the readings; empty: all of them.
	Filter routes.Filter `yaml:"filter"`
	// MQTT is the broker of a "to: mqtt" route (url, client_id,
	// username, password_file, tls, keep_alive, connect_timeout,
	// backoff_min, backoff_max).
	MQTT routeout.MQTTConfig `yaml:"mqtt"`
	// HTTP is the endpoint of a "to: http" route (url, format: json or
	// influx, measurement, headers, authorization_file, timeout,
	// concurrency, tls).
	HTTP routeout.HTTPConfig `yaml:"http"`
	// TopicPrefix of an mqtt route's topics,
	// <topic_prefix>/<gateway.id>/telemetry/<device>; default cloud.topic_prefix.
	TopicPrefix string `yaml:"topic_prefix"`
	// Priority orders routes that share a destination (two routes to the
	// cloud): 0 first; default 5.
	Priority *int `yaml:"priority"`
	// TTL: a reading older than this when its turn comes is not sent but
	// moved to the dead letters (reason "ttl"); 0 (default) never.
	TTL time.Duration `yaml:"ttl"`
	// Batch is the most readings per message (default: cloud.batch).
	Batch int `yaml:"batch"`
	// Inflight is the most messages unacknowledged at once (default: cloud.inflight).
	Inflight int `yaml:"inflight"`
	// Retry is the back-off between tries after a failure.
	Retry RetryConfig `yaml:"retry"`
	// MaxAttempts: for the cloud, refusals of a reading sent alone before
	// it goes to the dead letters (cloud.max_attempts); for mqtt and http
	// routes, refused-for-good answers (4xx, MQTT 5 reason codes) go
	// there at once and failures that may pass (network, 5xx) are retried
	// with back-off for as long as the TTL allows.
	MaxAttempts int `yaml:"max_attempts"`
}

// RetryConfig is a route's back-off after a failed delivery: from Initial,
// doubling with jitter, up to Max; reset by a delivery.
type RetryConfig struct {
	Initial time.Duration `yaml:"initial"` // default 200ms
	Max     time.Duration `yaml:"max"`     // default 30s
}

// Route destinations.
const (
	routeToCloud = "cloud"
	routeToMQTT  = "mqtt"
	routeToHTTP  = "http"
)

// defaultCloudRoute names the route edged makes from cloud.* when no route
// goes to the cloud.
const defaultCloudRoute = "cloud"

// defaultRoutePriority is a route's priority when it gives none.
const defaultRoutePriority = 5

var routeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$`)

// validateRoutes checks routes[] (path is "routes", or a plan's).
func validateRoutes(rs []RouteConfig, path string, errs *yamlconf.Errors) {
	seen := map[string]int{}
	for i, r := range rs {
		p := yamlconf.Index(path, i)
		if !routeNameRE.MatchString(r.Name) {
			errs.Add(p+".name", "%q is not a valid route name: use 1 to 48 letters, digits, '.', '_' and '-', starting with a letter or digit", r.Name)
		} else if j, dup := seen[r.Name]; dup {
			errs.Add(p+".name", "%q is also the name of %s: route names must be unique", r.Name, yamlconf.Index(path, j))
		} else {
			seen[r.Name] = i
		}
		switch r.To {
		case routeToCloud, routeToMQTT, routeToHTTP:
		case "":
			errs.Add(p+".to", "missing: say where the route goes: cloud, mqtt or http")
		default:
			errs.Add(p+".to", "%q is not a destination: use cloud, mqtt or http", r.To)
		}
		for _, pr := range r.Filter.Check() {
			errs.Add(p+".filter."+pr.Field, "%s", pr.Msg)
		}
		if r.Priority != nil && (*r.Priority < 0 || *r.Priority > 9) {
			errs.Add(p+".priority", "%d is out of range: use 0 (first) to 9", *r.Priority)
		}
		if r.TTL < 0 {
			errs.Add(p+".ttl", "%s is negative: use a duration such as 24h, or leave it out for no TTL", r.TTL)
		}
		if r.Batch < 0 || r.Batch > 10000 {
			errs.Add(p+".batch", "%d is out of range: use 1 to 10000 readings per message", r.Batch)
		}
		if r.Inflight < 0 || r.Inflight > 65535 {
			errs.Add(p+".inflight", "%d is out of range: use 1 to 65535 messages in flight", r.Inflight)
		}
		if r.MaxAttempts < 0 || r.MaxAttempts > 1000 {
			errs.Add(p+".max_attempts", "%d is out of range: use 1 to 1000", r.MaxAttempts)
		}
		if r.Retry.Initial < 0 || r.Retry.Max < 0 || (r.Retry.Max > 0 && r.Retry.Initial > r.Retry.Max) {
			errs.Add(p+".retry", "initial %s and max %s: both positive, initial at most max (e.g. initial: 1s, max: 1m)", r.Retry.Initial, r.Retry.Max)
		}
		validateRouteDestination(r, p, errs)
	}
}

func (r RouteConfig) priority() int {
	if r.Priority == nil {
		return defaultRoutePriority
	}
	return *r.Priority
}

// cursorName is the log cursor of the route.
func routeCursor(name string) string { return "route:" + name }

func (r RouteConfig) String() string { return fmt.Sprintf("%s → %s", r.Name, r.To) }

// validateRoutes checks routes[] against the rest of the config.
func (c *Config) validateRoutes(errs *yamlconf.Errors) {
	validateRoutes(c.Routes, "routes", errs)
	toCloud := false
	for i, r := range c.Routes {
		if r.To == routeToCloud {
			toCloud = true
			if c.Cloud.URL == "" {
				errs.Add(yamlconf.Index("routes", i)+".to", "cloud: set cloud.url (the cloud broker), or send this route elsewhere")
			}
		}
	}
	if !toCloud && c.Cloud.URL != "" {
		for i, r := range c.Routes {
			if r.Name == defaultCloudRoute {
				errs.Add(yamlconf.Index("routes", i)+".name", "%q is the name of the default cloud route (cloud.url is set and no route goes to the cloud): name this one otherwise", r.Name)
			}
		}
	}
}

// validateRouteDestination checks the destination block the route's "to"
// needs, and that it gives no other.
func validateRouteDestination(r RouteConfig, p string, errs *yamlconf.Errors) {
	hasMQTT := r.MQTT != (routeout.MQTTConfig{})
	hasHTTP := r.HTTP.URL != "" || r.HTTP.Format != "" || len(r.HTTP.Headers) > 0 || r.HTTP.AuthorizationFile != ""
	add := func(block string, err error) {
		if err == nil {
			return
		}
		for _, line := range strings.Split(err.Error(), "\n") {
			field, msg, ok := strings.Cut(line, ": ")
			if !ok {
				errs.Add(p+"."+block, "%s", line)
				continue
			}
			errs.Add(p+"."+block+"."+field, "%s", msg)
		}
	}
	switch r.To {
	case routeToMQTT:
		add("mqtt", r.MQTT.Validate())
	case routeToHTTP:
		add("http", r.HTTP.Validate())
	}
	if hasMQTT && r.To != routeToMQTT {
		errs.Add(p+".mqtt", "given, but the route goes to %q: remove it or set to: mqtt", r.To)
	}
	if hasHTTP && r.To != routeToHTTP {
		errs.Add(p+".http", "given, but the route goes to %q: remove it or set to: http", r.To)
	}
	if r.TopicPrefix != "" && (strings.ContainsAny(r.TopicPrefix, "+#") || strings.HasPrefix(r.TopicPrefix, "/") || strings.HasSuffix(r.TopicPrefix, "/")) {
		errs.Add(p+".topic_prefix", "%q must be without + or #, and not start or end with /", r.TopicPrefix)
	}
}

// routeLinkParts is a route's own destination link and what runs it.
type routeLinkParts struct {
	link forwarder.Link
	also []func(context.Context) error
}

// routeLink makes the link of an mqtt or http route and adjusts fc to it.
func (d *daemon) routeLink(rc RouteConfig, fc *forwarder.Config) (routeLinkParts, error) {
	switch rc.To {
	case routeToMQTT:
		if rc.TopicPrefix != "" {
			fc.TopicPrefix = rc.TopicPrefix
		}
		m, err := routeout.NewMQTT(rc.MQTT, "edged-"+d.cfg.Gateway.ID+"-"+rc.Name, d.log.With("component", "route", "route", rc.Name))
		if err != nil {
			return routeLinkParts{}, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		// MQTT 3.1.1 has no refusal codes: a refused message drops the
		// connection, so refusals of a reading alone are counted.
		return routeLinkParts{link: m, also: []func(context.Context) error{m.Run}}, nil
	case routeToHTTP:
		h, err := routeout.NewHTTP(rc.HTTP)
		if err != nil {
			return routeLinkParts{}, fmt.Errorf("route %s: %w", rc.Name, err)
		}
		fc.Encode = rc.HTTP.Encoder()
		fc.ClassifyFailures = true // 4xx are refusals for good, the rest may pass
		return routeLinkParts{link: h, also: []func(context.Context) error{h.Run}}, nil
	}
	return routeLinkParts{}, fmt.Errorf("route %s: unknown destination %q", rc.Name, rc.To)
}
