package localapi

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/edged-gateway/edged/runtime/commands"
)

// Executor runs a command on a device (runtime/commands.Executor).
type Executor interface {
	Execute(ctx context.Context, device string, payload []byte) commands.Result
}

// Config says where to listen and what to serve.
type Config struct {
	// Listen is host:port, e.g. 127.0.0.1:8080 (port 0 picks one). An
	// address beyond loopback needs Token.
	Listen string
	// Token is the bearer token that every non-GET request needs, and
	// every request from beyond loopback. Empty refuses those requests.
	Token string
	// CertFile and KeyFile, when set, serve HTTPS.
	CertFile, KeyFile string
	// Status returns the document served at /api/v1/status.
	Status func() any
	// Devices returns the document served at /api/v1/devices.
	Devices func() any
	// Readings returns a device's recent readings since a time, for
	// /api/v1/devices/{name}/readings; ok is false for an unknown device.
	Readings func(device string, since time.Time) (doc any, ok bool)
	// Services returns the document served at /api/v1/services.
	Services func() any
	// RestartService restarts a service (POST /api/v1/services/{name}/restart).
	RestartService func(name string) error
	// Plan returns the plan status served at GET /api/v1/plan.
	Plan func() any
	// ApplyPlan applies a signed plan envelope (POST /api/v1/plan, at
	// most MaxPlanBody bytes) and returns its final status; ok false
	// means the plan was not applied (rejected or rolled back).
	ApplyPlan func(ctx context.Context, envelope []byte) (doc any, ok bool, err error)
	// ReloadConfig reads the daemon's config file again and applies it
	// (POST /api/v1/config/reload); ok false means it was refused or
	// rolled back (doc says why, with every problem).
	ReloadConfig func(ctx context.Context) (doc any, ok bool, err error)
	// Ready reports whether the daemon is ready (/readyz).
	Ready func() bool
	// NotReady, when set, gives the reason the daemon cannot do its work
	// now although it started (the outbox refuses appends); "" is none.
	// /readyz answers 503 with it.
	NotReady func() string
	// Hosts are names, besides IP addresses and localhost, that requests
	// may carry in their Host header (http.allowed_hosts and the host's own
	// name); other names get 421.
	Hosts    []string
	Commands Executor
	// Metrics, when set, is served at GET /metrics.
	Metrics http.Handler
	// Console, when set, is served at GET / (the web console).
	Console http.Handler
	// ConsoleAPI are the sources of the console's own endpoints (console_api.go).
	ConsoleAPI ConsoleAPI
	// DeadLetters are the sources of /api/v1/deadletters (deadletters_api.go).
	DeadLetters DeadLetterAPI
	Logger      *slog.Logger
}

// Validate checks Listen against Token and the TLS files.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: %q is not host:port, use e.g. 127.0.0.1:8080", c.Listen)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) && c.Token == "" {
		return fmt.Errorf("http.listen: %q is reachable from other hosts, which needs a token: set http.token_file (and tls) or listen on 127.0.0.1", c.Listen)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("http.tls: cert_file and key_file go together: set both or neither")
	}
	return nil
}

// Server is the local API.
type Server struct {
	cfg      Config
	ln       net.Listener
	srv      *http.Server
	patterns []string // the mux's patterns, as routes registered them
}

// New returns a server for cfg that is not listening yet: its Handler can
// be served by any http.Server (tests use httptest).
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg}
}

// Listen binds the address in cfg; Run then serves on it.
func Listen(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("http.listen: %s is in use by another program (another edged, or a web server?): "+
				"set http.listen to a free port (e.g. 127.0.0.1:8081, and --api http://127.0.0.1:8081 or --config for the CLI), or \"\" to serve no local API: %w", cfg.Listen, err)
		}
		return nil, fmt.Errorf("http.listen: %w", err)
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("http.tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s := New(cfg)
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Close stops listening; for a server whose Run never started.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	return s.ln.Close()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Run serves until ctx ends, then shuts down within 2s.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("local API: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// Handler returns the API's routes, behind the Host and token checks.
func (s *Server) Handler() http.Handler {
	return s.checkHost(s.authorize(s.routes()))
}

// routes registers every endpoint through handle, which records its
// pattern: the OpenAPI test checks the document against that list.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	s.patterns = nil
	handle := func(pattern string, h http.Handler) {
		s.patterns = append(s.patterns, pattern)
		mux.Handle(pattern, h)
	}
	handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	}))
	handle("GET /readyz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if s.cfg.Ready != nil && !s.cfg.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		if s.cfg.NotReady != nil {
			if why := s.cfg.NotReady(); why != "" {
				http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ready\n")
	}))
	handle("GET /api/v1/openapi.json", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	}))
	handle("GET /api/v1/status", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var doc any = map[string]any{}
		if s.cfg.Status != nil {
			doc = s.cfg.Status()
		}
		writeJSON(w, http.StatusOK, doc)
	}))
	handle("GET /api/v1/devices", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var doc any = map[string]any{"devices": []any{}}
		if s.cfg.Devices != nil {
			doc = s.cfg.Devices()
		}
		writeJSON(w, http.StatusOK, doc)
	}))
	handle("GET /api/v1/devices/{name}/readings", http.HandlerFunc(s.readings))
	handle("GET /api/v1/services", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var doc any = map[string]any{"services": []any{}}
		if s.cfg.Services != nil {
			doc = s.cfg.Services()
		}
		writeJSON(w, http.StatusOK, doc)
	}))
	handle("POST /api/v1/devices/{name}/commands", http.HandlerFunc(s.command))
	handle("POST /api/v1/services/{name}/restart", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if s.cfg.RestartService == nil {
			writeError(w, http.StatusNotFound, "this gateway runs no services", "services come from the config file's services: or from a plan")
			return
		}
		if err := s.cfg.RestartService(name); err != nil {
			writeError(w, http.StatusNotFound, err.Error(), "GET /api/v1/services lists the services")
			return
		}
		s.cfg.Logger.Info("local service restart", "service", name)
		writeJSON(w, http.StatusOK, map[string]string{"service": name, "state": "restarting"})
	}))
	handle("GET /api/v1/plan", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if s.cfg.Plan == nil {
			writeError(w, http.StatusNotFound, plansOff, plansOffHint)
			return
		}
		writeJSON(w, http.StatusOK, s.cfg.Plan())
	}))
	handle("POST /api/v1/plan", http.HandlerFunc(s.applyPlan))
	handle("POST /api/v1/config/reload", http.HandlerFunc(s.reloadConfig))
	s.consoleRoutes(handle)
	s.deadLetterRoutes(handle)
	if s.cfg.Metrics != nil {
		handle("GET /metrics", s.cfg.Metrics)
	}
	if s.cfg.Console != nil {
		handle("GET /", s.cfg.Console)
	}
	return mux
}

const (
	plansOff     = "plans are off on this gateway (plans.trusted_keys is empty)"
	plansOffHint = "set plans.trusted_keys to the operators' public key files (edged plan keygen makes a pair)"
)

// readings serves a device's recent readings; since is RFC 3339 (default:
// as far back as the ring goes).
func (s *Server) readings(w http.ResponseWriter, r *http.Request) {
	var since time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("since=%s is not an RFC 3339 time", quote(v)), "use e.g. since=2026-11-23T10:00:00Z, or leave it out for all the readings kept")
			return
		}
		since = t
	}
	name := r.PathValue("name")
	if s.cfg.Readings == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no readings of device %s", quote(name)), "GET /api/v1/devices lists the devices")
		return
	}
	doc, ok := s.cfg.Readings(name, since)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no readings of device %s: it is not configured or has read nothing yet", quote(name)), "GET /api/v1/devices lists the devices")
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

// command runs one command; 200 when it ran, 422 when it was refused or
// failed (the result says why).
func (s *Server) command(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, commands.MaxPayload+1))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("command is over %d bytes", commands.MaxPayload), `send one command: {"id":"…","action":"set","value":…}`)
		return
	}
	if s.cfg.Commands == nil {
		writeError(w, http.StatusNotFound, "this gateway has no devices that accept commands", "actuators (gpio-out, pwm, …) take commands")
		return
	}
	device := r.PathValue("name")
	res := s.cfg.Commands.Execute(r.Context(), device, body)
	code := http.StatusOK
	if !res.OK {
		code = http.StatusUnprocessableEntity
	}
	s.cfg.Logger.Info("local command", "device", device, "id", res.ID, "ok", res.OK, "err", res.Error)
	writeJSON(w, code, res)
}

// MaxPlanBody bounds POST /api/v1/plan: the largest envelope a plan of
// the maximum size makes.
const MaxPlanBody = 2 << 20

// applyPlan applies a signed envelope and answers with its final status:
// 200 applied, 422 rejected or rolled back.
func (s *Server) applyPlan(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ApplyPlan == nil {
		writeError(w, http.StatusNotFound, plansOff, plansOffHint)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxPlanBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("plan envelope is over %d bytes", MaxPlanBody), "a plan's envelope is what edged plan sign writes")
		return
	}
	doc, ok, err := s.cfg.ApplyPlan(r.Context(), body)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error(), "")
		return
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusUnprocessableEntity
	}
	s.cfg.Logger.Info("local plan apply", "ok", ok)
	writeJSON(w, code, doc)
}

// reloadConfig reads the config file again and applies it: 200 applied
// (or nothing changed), 422 refused or rolled back. The request has no
// body.
func (s *Server) reloadConfig(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ReloadConfig == nil {
		writeError(w, http.StatusNotFound, "this daemon cannot reload its config", "restart edged to change its config")
		return
	}
	doc, ok, err := s.cfg.ReloadConfig(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error(), "")
		return
	}
	code := http.StatusOK
	if !ok {
		code = http.StatusUnprocessableEntity
	}
	s.cfg.Logger.Info("local config reload", "ok", ok)
	writeJSON(w, code, doc)
}

// Error is the body of every error answer: what went wrong and, when
// there is one, what to do about it.
type Error struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

func writeError(w http.ResponseWriter, code int, msg, hint string) {
	writeJSON(w, code, Error{Error: msg, Hint: hint})
}

// writeJSON writes v indented, without HTML escaping: the API's bodies
// are JSON, never HTML, and "Bearer <token>" reads better than
// "Bearer \u003ctoken\u003e".
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
