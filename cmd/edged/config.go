package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/hardware"
	"github.com/edged-gateway/edged/internal/topic"
	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/runtime/localapi"
	"github.com/edged-gateway/edged/runtime/poller"
	"github.com/edged-gateway/edged/runtime/supervisor"
	"github.com/edged-gateway/edged/sync/uplink"
)

// Config is the daemon's configuration file. Every field has a default, so
// an empty file (or none) runs a gateway with one simulated device that
// buffers readings locally until cloud.url is set.
type Config struct {
	Gateway GatewayConfig  `yaml:"gateway"`
	DataDir string         `yaml:"data_dir"`
	Cloud   CloudConfig    `yaml:"cloud"`
	Outbox  OutboxConfig   `yaml:"outbox"`
	Devices []DeviceConfig `yaml:"devices"`
	// Services run as plugin processes inside their budgets.
	Services []ServiceConfig `yaml:"services"`
	// ServiceUsage turns services' memory and CPU into readings; off by default.
	ServiceUsage ServiceUsageConfig `yaml:"service_usage"`
	// ServiceChain bounds how far readings pass from service to service.
	ServiceChain ServiceChainConfig `yaml:"service_chain"`
	// LocalMQTT is the broker on the gateway that sensors publish to.
	LocalMQTT LocalMQTTConfig `yaml:"local_mqtt"`
	Hardware  hardware.Config `yaml:"hardware"`
	HTTP      HTTPConfig      `yaml:"http"`
	Log       LogConfig       `yaml:"log"`
	// Plans are orchestration plans pushed from the cloud.
	Plans PlansConfig `yaml:"plans"`
	// Commands bounds command execution and its run-once memory.
	Commands CommandsConfig `yaml:"commands"`
	// Integrations connect edged to other systems (Home Assistant).
	Integrations IntegrationsConfig `yaml:"integrations"`
	// Metrics shapes /metrics (device gauges).
	Metrics MetricsConfig `yaml:"metrics"`
	// Routes send readings to more destinations than the cloud (another
	// MQTT broker, an HTTP endpoint or InfluxDB), each from its own cursor
	// in the log; see RouteConfig. Empty: the cloud route only.
	Routes []RouteConfig `yaml:"routes"`

	specs        []supervisor.Spec // services[], checked by validate
	cloudMetrics []string          // a plan's sync.metrics
	path         string            // the file it was read from, "" for none (SIGHUP reads it again)
}

// HTTPConfig is the local API and web console.
type HTTPConfig struct {
	// Listen is host:port; default 127.0.0.1:8080; "" turns the API off
	// (and with it the console, `edged device set` and `edged status`).
	// Beyond loopback every request needs the token.
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token for commands and for requests from
	// other hosts; default data_dir/api.token, created on first start.
	TokenFile string `yaml:"token_file"`
	// TLS serves HTTPS with this certificate and key.
	TLS HTTPTLSConfig `yaml:"tls"`
	// AllowedHosts are names, besides IP addresses, localhost and this
	// host's name (and name.local), that requests may carry in Host;
	// others get 421 (a defence against DNS rebinding).
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// HTTPTLSConfig is the local API's certificate.
type HTTPTLSConfig struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// GatewayConfig identifies this gateway.
type GatewayConfig struct {
	// ID names the gateway in topics; default: the host name.
	ID string `yaml:"id"`
	// Labels describe the gateway (site: plant-3); a plan may pick
	// gateways by labels instead of id.
	Labels map[string]string `yaml:"labels"`
}

// CloudConfig is the link to the cloud MQTT broker.
type CloudConfig struct {
	// URL is mqtt://host:port or mqtts://host:port; empty keeps readings in
	// the outbox without sending them.
	URL string `yaml:"url"`
	// ClientID defaults to edged-<gateway.id>.
	ClientID string `yaml:"client_id"`
	Username string `yaml:"username"`
	// PasswordFile holds the password (one line), kept out of the config.
	PasswordFile string    `yaml:"password_file"`
	TLS          TLSConfig `yaml:"tls"`
	// TopicPrefix starts every topic; default "edged".
	TopicPrefix string `yaml:"topic_prefix"`
	// Batch is the most readings per MQTT message; default 64.
	Batch int `yaml:"batch"`
	// Inflight is the most unacknowledged publishes at once; default 32.
	Inflight int `yaml:"inflight"`
	// MaxAttempts: a batch the cloud refuses is split and its readings
	// sent one at a time; one refused this many times alone (too large
	// for the broker's max packet size, or not allowed) goes to the dead
	// letters (data_dir/deadletters.db) and the rest flows. Default 3.
	MaxAttempts int `yaml:"max_attempts"`
	// DeadLetters is the most dead letters kept; past it the oldest are
	// dropped (counted). Default 10000.
	DeadLetters int `yaml:"dead_letters"`
}

// TLSConfig holds PEM files; mutual TLS when cert_file and key_file are set.
type TLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// CommandsConfig bounds command execution; zero values mean the defaults.
type CommandsConfig struct {
	// Remember is how many command ids the run-once memory keeps
	// (data_dir/commands.db, and in memory); default 4096.
	Remember int `yaml:"remember"`
	// RememberFor forgets ids older than this; default 24h.
	RememberFor time.Duration `yaml:"remember_for"`
	// Timeout bounds one command's execution; default 10s.
	Timeout time.Duration `yaml:"timeout"`
}

// OutboxConfig caps the local buffer.
type OutboxConfig struct {
	// MaxBytes: oldest readings are dropped (and counted) beyond it; 256Mi.
	MaxBytes yamlconf.Size `yaml:"max_bytes"`
	// MaxAge: readings older than this are dropped (and counted); 168h.
	MaxAge time.Duration `yaml:"max_age"`
	// Fsync makes every append durable before it returns; default true.
	Fsync bool `yaml:"fsync"`
	// MaxFuture: pushed readings (MQTT sensors) timed further ahead of
	// the gateway clock are refused at ingest (counted); 10m.
	MaxFuture time.Duration `yaml:"max_future"`
}

// DeviceConfig is one device to poll; Options depend on Kind.
type DeviceConfig struct {
	Name     string        `yaml:"name"`
	Kind     string        `yaml:"kind"`
	Interval time.Duration `yaml:"interval"`
	// Bus is an I2C bus (i2c1) or SPI port (spi0.0) for chip kinds.
	Bus string `yaml:"bus"`
	// Address is the chip's 7-bit I2C address, e.g. 0x76.
	Address uint16 `yaml:"address"`
	// Pin is a GPIO pin (GPIO17) for gpio kinds.
	Pin string `yaml:"pin"`
	// Scale maps every value v to v*factor+offset (and sets the unit).
	Scale *ScaleConfig `yaml:"scale"`
	// Precision is how many decimals the device's values show in logs:
	// its sensor's resolution. Unset: by unit (precision.go).
	Precision *int      `yaml:"precision"`
	Options   yaml.Node `yaml:"options"`

	// fromDefaults marks the devices of the built-in defaults; a file
	// that sets devices replaces them all.
	fromDefaults bool
}

// ScaleConfig converts raw values into engineering units.
type ScaleConfig struct {
	Factor float64 `yaml:"factor"` // default 1
	Offset float64 `yaml:"offset"`
	Unit   string  `yaml:"unit"`
}

// LogConfig sets log verbosity and format.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // text (default) or json
	// Services bounds each service's output in edged's log.
	Services ServiceLogConfig `yaml:"services"`
}

// ServiceLogConfig is how much of one service's output (log calls, stderr,
// stdout) reaches edged's log; lines over it are dropped and counted.
type ServiceLogConfig struct {
	LinesPerSecond float64       `yaml:"lines_per_second"` // 50
	BytesPerSecond yamlconf.Size `yaml:"bytes_per_second"` // 16Ki
}

// defaultConfig is what edged runs with when the file says nothing.
func defaultConfig() Config {
	return Config{
		Gateway:   GatewayConfig{ID: defaultGatewayID()},
		DataDir:   "./data",
		Cloud:     CloudConfig{TopicPrefix: "edged", Batch: 64, Inflight: 32},
		Outbox:    OutboxConfig{MaxBytes: 256 << 20, MaxAge: 168 * time.Hour, Fsync: true, MaxFuture: 10 * time.Minute},
		Devices:   []DeviceConfig{demoDevice(), lanDevice()},
		LocalMQTT: defaultLocalMQTT(),
		HTTP:      HTTPConfig{Listen: defaultAPI},
		Log:       LogConfig{Level: "info", Format: "text", Services: ServiceLogConfig{LinesPerSecond: 50, BytesPerSecond: 16 << 10}},

		Integrations: defaultIntegrations(),
		Metrics:      defaultMetrics(),
	}
}

func demoDevice() DeviceConfig {
	var opts yaml.Node
	_ = yaml.Unmarshal([]byte("{metric: temperature, unit: C, waveform: sine, min: 18, max: 26, period: 10m, seed: 1}"), &opts)
	return DeviceConfig{Name: "demo-temp", Kind: "sim", Interval: time.Second, Options: *opts.Content[0], fromDefaults: true}
}

// lanDevice takes what sensors publish on sensors/<device>/<metric> to the
// local broker, as a plain number or {"value": 21.5, "unit": "C"}.
func lanDevice() DeviceConfig {
	var opts yaml.Node
	_ = yaml.Unmarshal([]byte("{topic: sensors/+device/+metric, format: auto}"), &opts)
	return DeviceConfig{Name: "lan", Kind: "mqttsensor", Options: *opts.Content[0], fromDefaults: true}
}

// dropDefaultSensors removes the built-in lan sensor when there is no local
// broker for it (local_mqtt.mode: off) in a file that kept the default
// devices.
func (c *Config) dropDefaultSensors() {
	if c.LocalMQTT.Mode != localOff {
		return
	}
	kept := c.Devices[:0:0]
	for _, d := range c.Devices {
		if !(d.fromDefaults && d.Kind == "mqttsensor") {
			kept = append(kept, d)
		}
	}
	c.Devices = kept
}

// userSensors reports whether the configuration names an mqttsensor device
// of its own (not only the default lan sensor).
func (c *Config) userSensors() bool {
	for _, d := range c.Devices {
		if d.Kind == "mqttsensor" && !d.fromDefaults {
			return true
		}
	}
	return false
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// defaultGatewayID is the host name made safe for MQTT topics.
func defaultGatewayID() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "edged"
	}
	return unsafeID.ReplaceAllString(h, "-")
}

// loadConfig reads and checks the file at path ("" means defaults only). It
// returns every problem found, each with its field path.
func loadConfig(path string, kinds map[string]deviceKind) (Config, []device, error) {
	return loadConfigEnv(path, kinds, os.Environ())
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validate checks every field, builds the devices and returns all problems.
func (c *Config) validate(kinds map[string]deviceKind) ([]device, yamlconf.Errors) {
	var errs yamlconf.Errors
	if !nameRE.MatchString(c.Gateway.ID) {
		errs.Add("gateway.id", "%q is not a valid id: use letters, digits, '.', '_' and '-' (it becomes part of MQTT topics)", c.Gateway.ID)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		errs.Add("data_dir", "must name a directory, e.g. /var/lib/edged")
	}
	c.validateCloud(&errs)
	c.validateRoutes(&errs)
	if c.Outbox.MaxBytes < 1<<20 {
		errs.Add("outbox.max_bytes", "%s is too small to buffer anything useful: use at least 1Mi", c.Outbox.MaxBytes)
	}
	if c.Outbox.MaxAge <= 0 {
		errs.Add("outbox.max_age", "must be positive, e.g. 168h")
	}
	if c.Outbox.MaxFuture <= 0 {
		errs.Add("outbox.max_future", "must be positive, e.g. 10m (how far ahead of the gateway clock a sensor's reading time may be)")
	}
	if c.Commands.Remember < 0 {
		errs.Add("commands.remember", "%d is negative: use a count such as 4096 (or leave it out)", c.Commands.Remember)
	}
	if c.Commands.RememberFor < 0 {
		errs.Add("commands.remember_for", "%s is negative: use a duration such as 24h (or leave it out)", c.Commands.RememberFor)
	}
	if c.Commands.Timeout < 0 {
		errs.Add("commands.timeout", "%s is negative: use a duration such as 10s (or leave it out)", c.Commands.Timeout)
	}
	if err := c.Hardware.Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			path, msg, _ := strings.Cut(line, ": ")
			errs.Add("hardware."+path, "%s", msg)
		}
	}
	if c.HTTP.Listen != "" {
		// The daemon always has a token (data_dir/api.token by default).
		if err := (localapi.Config{Listen: c.HTTP.Listen, Token: "checked-at-start", CertFile: c.HTTP.TLS.CertFile, KeyFile: c.HTTP.TLS.KeyFile}).Validate(); err != nil {
			path, msg, _ := strings.Cut(err.Error(), ": ")
			errs.Add(path, "%s", msg)
		}
		for path, f := range map[string]string{"http.token_file": c.HTTP.TokenFile, "http.tls.cert_file": c.HTTP.TLS.CertFile, "http.tls.key_file": c.HTTP.TLS.KeyFile} {
			if f != "" {
				if _, err := os.Stat(f); err != nil {
					errs.Add(path, "cannot read %s: %v", f, pathErr(err))
				}
			}
		}
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		errs.Add("log.level", "%q is not a level: use debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Services.LinesPerSecond <= 0 {
		errs.Add("log.services.lines_per_second", "%v must be positive, e.g. 50", c.Log.Services.LinesPerSecond)
	}
	if c.Log.Services.BytesPerSecond <= 0 {
		errs.Add("log.services.bytes_per_second", "%d must be positive, e.g. 16Ki", c.Log.Services.BytesPerSecond)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		errs.Add("log.format", "%q is not a format: use text or json", c.Log.Format)
	}
	devs := c.validateDevices(kinds, &errs)
	sensors := 0
	for _, d := range devs {
		if d.kind.sensor != nil {
			sensors++
		}
	}
	c.validateLocalMQTT(&errs, sensors)
	c.checkSensorTopics(devs, &errs)
	c.specs = c.validateServices(&errs)
	c.validatePlans(&errs)
	c.validateIntegrations(&errs)
	c.validateMetrics(&errs)
	return devs, errs
}

func (c *Config) validateCloud(errs *yamlconf.Errors) {
	first := len(*errs)
	defer func() { sortErrs((*errs)[first:]) }() // file checks come from a map
	cl := &c.Cloud
	if cl.TopicPrefix == "" || strings.ContainsAny(cl.TopicPrefix, "+#") || strings.HasPrefix(cl.TopicPrefix, "/") || strings.HasSuffix(cl.TopicPrefix, "/") {
		errs.Add("cloud.topic_prefix", "%q must be non-empty, without + or #, and not start or end with /", cl.TopicPrefix)
	}
	if cl.Batch < 1 || cl.Batch > 10000 {
		errs.Add("cloud.batch", "%d is out of range: use 1 to 10000 readings per message", cl.Batch)
	}
	if cl.Inflight < 1 || cl.Inflight > 65535 {
		errs.Add("cloud.inflight", "%d is out of range: use 1 to 65535 publishes in flight", cl.Inflight)
	}
	if cl.MaxAttempts < 0 || cl.MaxAttempts > 1000 {
		errs.Add("cloud.max_attempts", "%d is out of range: use 1 to 1000 refusals of a reading sent alone before it goes to the dead letters (default 3)", cl.MaxAttempts)
	}
	if cl.DeadLetters < 0 || cl.DeadLetters > 10_000_000 {
		errs.Add("cloud.dead_letters", "%d is out of range: use 1 to 10000000 dead letters kept (default 10000)", cl.DeadLetters)
	}
	if cl.URL == "" {
		for path, v := range map[string]string{"cloud.password_file": cl.PasswordFile, "cloud.tls.ca_file": cl.TLS.CAFile, "cloud.tls.cert_file": cl.TLS.CertFile} {
			if v != "" {
				errs.Add(path, "is set but cloud.url is empty, so nothing connects: set cloud.url or remove it")
			}
		}
		return
	}
	scheme, rest, ok := strings.Cut(cl.URL, "://")
	switch {
	case !ok || rest == "":
		errs.Add("cloud.url", "%q is not a broker URL: use mqtt://host:1883 or mqtts://host:8883", cl.URL)
	case scheme != "mqtt" && scheme != "mqtts":
		errs.Add("cloud.url", "scheme %q is not supported: use mqtt:// (plain) or mqtts:// (TLS)", scheme)
	case scheme == "mqtt" && (cl.TLS.CAFile != "" || cl.TLS.CertFile != ""):
		errs.Add("cloud.tls", "TLS files are set but cloud.url uses mqtt:// (plain): use mqtts://")
	}
	if (cl.TLS.CertFile == "") != (cl.TLS.KeyFile == "") {
		errs.Add("cloud.tls", "cert_file and key_file go together for mutual TLS: set both or neither")
	}
	for path, f := range map[string]string{"cloud.password_file": cl.PasswordFile, "cloud.tls.ca_file": cl.TLS.CAFile,
		"cloud.tls.cert_file": cl.TLS.CertFile, "cloud.tls.key_file": cl.TLS.KeyFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			errs.Add(path, "cannot read %s: %v", f, pathErr(err))
		}
	}
	if len(*errs) > first {
		return
	}
	// The uplink checks the rest (client id, credentials, TLS pairing);
	// its messages already start with the field path.
	uc, err := c.uplinkConfig()
	if err == nil {
		err = uc.Validate()
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			path, msg, ok := strings.Cut(line, ": ")
			if !ok || !strings.HasPrefix(path, "cloud.") {
				path, msg = "cloud", line
			}
			errs.Add(path, "%s", msg)
		}
	}
}

// uplinkConfig builds the uplink's configuration from cloud.*, reading
// the password file.
func (c *Config) uplinkConfig() (uplink.Config, error) {
	cl := c.Cloud
	password, err := readSecret("cloud.password_file", cl.PasswordFile)
	if err != nil {
		return uplink.Config{}, err
	}
	clientID := cl.ClientID
	if clientID == "" {
		clientID = "edged-" + c.Gateway.ID
	}
	return uplink.Config{
		URL: cl.URL, ClientID: clientID, Username: cl.Username, Password: password,
		CAFile: cl.TLS.CAFile, CertFile: cl.TLS.CertFile, KeyFile: cl.TLS.KeyFile,
		StatusTopic: cl.TopicPrefix + "/" + c.Gateway.ID + "/status",
		// The broker keeps the command and plan subscriptions while the
		// gateway is away, and the QoS 1 commands sent meanwhile; they
		// arrive on reconnect (expired ones are answered as expired).
		Persistent: true,
	}, nil
}

// readSecret reads a password file (one line; "" when path is empty).
func readSecret(field, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// sortErrs orders problems by path, for output that does not depend on
// map iteration.
func sortErrs(es yamlconf.Errors) {
	slices.SortStableFunc(es, func(a, b yamlconf.FieldError) int { return strings.Compare(a.Path, b.Path) })
}

func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (c *Config) validateDevices(kinds map[string]deviceKind, errs *yamlconf.Errors) []device {
	var devs []device
	names := map[string]int{}
	claims := map[string]string{} // bus:address or pin → the field path that claimed it
	for i, d := range c.Devices {
		p := yamlconf.Index("devices", i)
		if !nameRE.MatchString(d.Name) {
			errs.Add(p+".name", "%q is not a valid name: use letters, digits, '.', '_' and '-' (it becomes part of MQTT topics)", d.Name)
		} else if j, dup := names[d.Name]; dup {
			errs.Add(p+".name", "%q is already used by devices[%d]: names must be unique", d.Name, j)
		} else {
			names[d.Name] = i
		}
		polled := d.Interval != 0
		if d.Interval == 0 {
			d.Interval = defaultInterval
		}
		if d.Interval < poller.MinInterval {
			errs.Add(p+".interval", "%s is below the minimum of %s: set e.g. interval: 1s", d.Interval, poller.MinInterval)
		}
		k, ok := kinds[d.Kind]
		if !ok {
			errs.Add(p+".kind", "%q is not a device kind%s: use one of %s", d.Kind, didYouMean(d.Kind, kindNames(kinds)), strings.Join(kindNames(kinds), ", "))
			continue
		}
		if k.sensor != nil && polled {
			errs.Add(p+".interval", "%s devices are not polled (their sensors publish when they like): remove interval", d.Kind)
		}
		connected := checkConnection(d, k.conn, p, claims, errs)
		opts, err := k.options(d, p+".options")
		if err == nil && !connected {
			continue
		}
		if err != nil {
			if fe, ok := err.(yamlconf.Errors); ok {
				*errs = append(*errs, fe...)
			} else {
				errs.Add(p+".options", "%v", err)
			}
			continue
		}
		if d.Precision != nil && (*d.Precision < 0 || *d.Precision > maxPrecision) {
			errs.Add(p+".precision", "%d decimals is out of range: use 0 to %d (e.g. 2 for a sensor that resolves 0.01)", *d.Precision, maxPrecision)
		}
		var scale *poller.Scale
		if d.Scale != nil {
			scale = &poller.Scale{Factor: d.Scale.Factor, Offset: d.Scale.Offset, Unit: d.Scale.Unit}
			if scale.Factor == 0 {
				scale.Factor = 1
			}
		}
		devs = append(devs, device{cfg: d, kind: k, options: opts, interval: d.Interval, scale: scale})
	}
	return devs
}

// checkSensorTopics refuses an mqttsensor device whose topic an earlier
// one's covers: a message goes to the first sensor whose topic matches, so
// the later device would never get one.
func (c *Config) checkSensorTopics(devs []device, errs *yamlconf.Errors) {
	index := make(map[string]int, len(c.Devices))
	for i, d := range c.Devices {
		index[d.Name] = i
	}
	type seen struct{ name, topic, filter string }
	var earlier []seen
	for _, d := range devs {
		opts, ok := d.options.(mqttsensor.Config)
		if d.kind.sensor == nil || !ok {
			continue
		}
		p, err := mqttsensor.ParsePattern(opts.EffectiveTopic())
		if err != nil {
			continue // reported with the device's options
		}
		for _, e := range earlier {
			if topic.Covers(e.filter, p.Filter()) {
				errs.Add(fmt.Sprintf("devices[%d].options.topic", index[d.cfg.Name]),
					"%s is covered by device %s's topic %s: every message goes to %s (the first match), so this device would get none; make the topics disjoint or put the narrower device first",
					opts.EffectiveTopic(), e.name, e.topic, e.name)
				break
			}
		}
		earlier = append(earlier, seen{d.cfg.Name, opts.EffectiveTopic(), p.Filter()})
	}
}
