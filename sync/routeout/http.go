package routeout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/edged-gateway/edged/internal/lasterr"
	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/runtime/forwarder"
)

// Defaults and bounds of an HTTP destination.
const (
	DefaultHTTPTimeout     = 10 * time.Second
	DefaultHTTPConcurrency = 4
	// maxErrorBody is how much of a refusal's body is read for its text.
	maxErrorBody = 4 << 10
	// maxDrain is how much of a response body is read to keep the
	// connection for the next request; more and it is closed.
	maxDrain = 64 << 10
	// maxHeaders bounds the configured headers.
	maxHeaders = 32
	// queueLen is the most messages waiting per sender.
	queueLen = 1024
)

// Payload formats of an HTTP destination.
const (
	FormatJSON   = "json"   // the forwarder's telemetry JSON array, application/json
	FormatInflux = "influx" // InfluxDB line protocol, for /api/v2/write
)

// HTTPConfig is an HTTP destination (routes[].http).
type HTTPConfig struct {
	// URL receives a POST per message, http:// or https://. For InfluxDB
	// v2: http://host:8086/api/v2/write?org=ORG&bucket=BUCKET&precision=ns.
	URL string `yaml:"url"`
	// Format is "json" (default) or "influx".
	Format string `yaml:"format"`
	// Measurement, for format influx, is the measurement of every line;
	// empty means each reading's metric.
	Measurement string `yaml:"measurement"`
	// Headers are sent with every request (e.g. Authorization).
	Headers map[string]string `yaml:"headers"`
	// AuthorizationFile, when set, names a file whose content (trimmed)
	// is sent as the Authorization header, e.g. "Token <influx token>",
	// so the secret stays out of the configuration file.
	AuthorizationFile string `yaml:"authorization_file"`
	// Timeout bounds one request, connect to the end of the response;
	// default 10s.
	Timeout time.Duration `yaml:"timeout"`
	// Concurrency is the most requests at once (default 4). A device's
	// messages always go one after the other, in order.
	Concurrency int `yaml:"concurrency"`
	// TLS verifies an https:// server and, with a client certificate,
	// authenticates to it (mutual TLS).
	TLS TLSConfig `yaml:"tls"`
}

// Validate reports every problem, each naming its field relative to the
// destination ("url: ...").
func (c HTTPConfig) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	u, err := parseHTTPURL(c.URL)
	if err != nil {
		errs = append(errs, err)
	}
	switch c.Format {
	case "", FormatJSON:
		if c.Measurement != "" {
			add("measurement: set but format is %q; it applies to format influx only", c.format())
		}
	case FormatInflux:
	default:
		add("format: %q unknown, use json or influx", c.Format)
	}
	if len(c.Headers) > maxHeaders {
		add("headers: %d headers, at most %d", len(c.Headers), maxHeaders)
	}
	for k, v := range c.Headers {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		switch {
		case !validHeaderName(k):
			add("headers: %q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~)", k)
		case ck == "Content-Type" || ck == "Content-Length" || ck == "Host":
			add("headers: %s is set by edged (format and url decide it); remove it", ck)
		case ck == "Authorization" && c.AuthorizationFile != "":
			add("headers: Authorization set and authorization_file too; keep one")
		case len(v) > 8<<10 || strings.ContainsAny(v, "\r\n\x00"):
			add("headers: value of %s must be one line of at most 8 KiB", k)
		}
	}
	if c.AuthorizationFile != "" {
		if _, err := os.Stat(c.AuthorizationFile); err != nil {
			add("authorization_file: %w", err)
		}
	}
	if c.Timeout < 0 {
		add("timeout: must be > 0 (or 0 for the default %s), got %s", DefaultHTTPTimeout, c.Timeout)
	}
	if c.Concurrency < 0 || c.Concurrency > 64 {
		add("concurrency: %d must be between 1 and 64 (or 0 for the default %d)", c.Concurrency, DefaultHTTPConcurrency)
	}
	errs = append(errs, c.TLS.validate(u != nil && u.Scheme == "https", "https")...)
	return errors.Join(errs...)
}

func (c HTTPConfig) format() string {
	if c.Format == "" {
		return FormatJSON
	}
	return c.Format
}

// Encoder is the forwarder Encode func of the configured format: give it
// to the route's forwarder.Config.Encode.
func (c HTTPConfig) Encoder() func(dst []byte, epoch string, rs []reading.Reading) []byte {
	if c.format() == FormatInflux {
		return InfluxEncoder(c.Measurement)
	}
	return forwarder.AppendPayload
}

func parseHTTPURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("url: required, e.g. http://127.0.0.1:8086/api/v2/write?org=site&bucket=edged&precision=ns")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("url: %q is not a URL: %w", raw, errors.Unwrap(err))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("url: scheme must be http or https, got %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("url: %q has no host", raw)
	case u.User != nil:
		return nil, errors.New("url: credentials in the URL are not supported, use headers or authorization_file")
	case u.Fragment != "":
		return nil, fmt.Errorf("url: %q has a fragment (#...), remove it", raw)
	}
	return u, nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// HTTP is an HTTP destination as a forwarder.Link. Its senders start with
// Run; a message published before waits for them.
type HTTP struct {
	url         string
	contentType string
	header      http.Header
	client      *http.Client
	queues      []chan *httpDelivery

	// A failed delivery breaks the link like a lost MQTT connection: the
	// messages waiting, and those published until the forwarder's next
	// WaitConnected (its next session), fail at once without being sent,
	// so its resend from the oldest keeps each device's messages in order.
	// WaitConnected mends it and starts a new generation.
	mu     sync.Mutex
	gen    uint64
	broken bool
	closed bool

	requests atomic.Int64
	failures atomic.Int64
	lastErr  lasterr.Record
}

// HTTPStats counts an HTTP destination's requests.
type HTTPStats struct {
	Requests  int64         // requests sent
	Failures  int64         // requests that failed (any reason)
	LastError lasterr.Error // the last failure; recovered by a later success
}

// ErrClosed fails deliveries still waiting when Run has returned.
var ErrClosed = errors.New("route link closed")

// errCancelled fails a message that waited behind one that failed.
var errCancelled = errors.New("not sent: an earlier message failed; the forwarder resends from the oldest")

// NewHTTP checks cfg and returns its link; call Run.
func NewHTTP(cfg HTTPConfig) (*HTTP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u, _ := parseHTTPURL(cfg.URL)
	tr := &http.Transport{
		Proxy:                 nil, // like the uplink: no proxy from the environment
		MaxIdleConnsPerHost:   max(cfg.Concurrency, DefaultHTTPConcurrency),
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 0, // the client's Timeout bounds it all
		ForceAttemptHTTP2:     true,
	}
	if u.Scheme == "https" {
		tc, err := cfg.TLS.load(u.Hostname())
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	}
	h := &HTTP{
		url:    u.String(),
		header: http.Header{},
		client: &http.Client{
			Transport: tr,
			Timeout:   cmp(cfg.Timeout, DefaultHTTPTimeout),
			// A redirect would turn the POST into a GET or resend the
			// body elsewhere: report it instead (transient, so nothing
			// is lost while the url is fixed).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	for k, v := range cfg.Headers {
		h.header.Set(k, v)
	}
	if cfg.AuthorizationFile != "" {
		b, err := os.ReadFile(cfg.AuthorizationFile)
		if err != nil {
			return nil, fmt.Errorf("authorization_file: %w", err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" || strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("authorization_file: %s must hold one non-empty line", cfg.AuthorizationFile)
		}
		h.header.Set("Authorization", v)
	}
	h.header.Set("User-Agent", "edged")
	if cfg.format() == FormatInflux {
		h.contentType = "text/plain; charset=utf-8"
	} else {
		h.contentType = "application/json"
	}
	h.header.Set("Content-Type", h.contentType)
	n := cmp(cfg.Concurrency, DefaultHTTPConcurrency)
	for range n {
		h.queues = append(h.queues, make(chan *httpDelivery, queueLen))
	}
	return h, nil
}

func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Run sends the published messages, Concurrency at once, until ctx ends;
// then it fails the ones still waiting with ErrClosed and returns nil once
// every request has ended.
func (h *HTTP) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range h.queues {
		wg.Go(func() { h.send(ctx, q) })
	}
	<-ctx.Done()
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	wg.Wait()
	for _, q := range h.queues {
		for {
			select {
			case d := <-q:
				d.finish(ErrClosed)
				continue
			default:
			}
			break
		}
	}
	h.client.CloseIdleConnections()
	return nil
}

// WaitConnected returns at once (HTTP has no connection to wait for); a
// link broken by a failed delivery is mended, and the epoch, which counts
// those, moves on.
func (h *HTTP) WaitConnected(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.broken {
		h.gen++
		h.broken = false
	}
	return h.gen + 1, nil
}

// Publish queues one POST of payload. Messages with the same topic (the
// forwarder's topic names the device) are sent one after the other in
// the order published. It fails at once when Run has ended or too many
// messages wait.
func (h *HTTP) Publish(topic string, payload []byte) (forwarder.Delivery, error) {
	d := &httpDelivery{topic: topic, payload: payload, done: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	d.gen = h.gen
	switch {
	case h.closed:
		return nil, fmt.Errorf("post to %s: %w", h.url, ErrClosed)
	case h.broken:
		d.finish(errCancelled)
		return d, nil
	case len(payload) == 0: // e.g. influx lines of readings that were all NaN
		d.finish(nil)
		return d, nil
	}
	f := fnv.New32a()
	f.Write([]byte(topic))
	select {
	case h.queues[int(f.Sum32()%uint32(len(h.queues)))] <- d:
		return d, nil
	default:
		return nil, fmt.Errorf("post to %s: %d messages already wait; retry later", h.url, queueLen)
	}
}

// Stats returns the counters.
func (h *HTTP) Stats() HTTPStats {
	return HTTPStats{Requests: h.requests.Load(), Failures: h.failures.Load(), LastError: h.lastErr.Get()}
}

// send is one sender: it posts its queue's messages in order.
func (h *HTTP) send(ctx context.Context, q chan *httpDelivery) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-q:
			h.mu.Lock()
			stale := d.gen != h.gen || h.broken
			if stale {
				d.finish(errCancelled)
			}
			h.mu.Unlock()
			if stale {
				continue
			}
			err := h.post(ctx, d)
			if err != nil {
				h.failures.Add(1)
				h.lastErr.Set(err.Error(), time.Now())
			} else {
				h.lastErr.Recovered(time.Now())
			}
			// The failure completes before any message it cancels does,
			// so the forwarder finds it (and its kind) first.
			h.mu.Lock()
			if err != nil && d.gen == h.gen && !errors.Is(err, ErrClosed) {
				h.broken = true
			}
			d.finish(err)
			h.mu.Unlock()
		}
	}
}

// post sends one message and classifies its outcome: nil for 2xx, a
// forwarder.Permanent error for a 4xx but 408 and 429, a transient one
// (with the server's Retry-After) for the rest.
func (h *HTTP) post(ctx context.Context, d *httpDelivery) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(d.payload))
	if err != nil {
		return forwarder.Permanent(fmt.Errorf("post to %s: %w", h.url, err))
	}
	req.Header = h.header.Clone()
	h.requests.Add(1)
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("post to %s: %w", h.url, ErrClosed)
		}
		return fmt.Errorf("post %d bytes to %s: %w", len(d.payload), h.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil
	}
	return classify(resp, len(d.payload), h.url)
}

// classify turns a response that is not 2xx into the delivery's error,
// with up to 4 KiB of its body as text.
func classify(resp *http.Response, size int, where string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	err := fmt.Errorf("post %d bytes to %s: %s%s", size, where, resp.Status, bodyText(body))
	code := resp.StatusCode
	switch {
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		if after := retryAfter(resp.Header.Get("Retry-After"), time.Now()); after > 0 {
			return forwarder.RetryAfter(err, after)
		}
		return err
	case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusNotFound:
		// The route's credentials or URL are wrong, not the reading:
		// refusing it for good would dead-letter the whole backlog. The
		// route lags (its error in status) until the config is fixed.
		return fmt.Errorf("%w (check the route's url and authorization)", err)
	case code >= 400:
		return forwarder.Permanent(err)
	case code >= 300:
		return fmt.Errorf("%w (redirect to %q not followed: set url to the final address)", err, resp.Header.Get("Location"))
	}
	return err // 1xx: not a final answer
}

// bodyText is a refusal's body as one short printable line.
func bodyText(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "\uFFFD"))
	if s == "" {
		return ""
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 512 {
		cut := 512
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return ": " + s
}

// retryAfter parses a Retry-After header (seconds or an HTTP date).
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// httpDelivery is one message of an HTTP destination.
type httpDelivery struct {
	topic   string
	payload []byte
	gen     uint64
	done    chan struct{}
	err     error
}

func (d *httpDelivery) Done() <-chan struct{} { return d.done }

func (d *httpDelivery) Err() error {
	select {
	case <-d.done:
		return d.err
	default:
		return nil
	}
}

func (d *httpDelivery) finish(err error) {
	d.err = err
	close(d.done)
}
