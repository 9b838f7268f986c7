package modbussim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/edged-gateway/edged/reading"
)

// Config is the options block of a modbus-sim device.
type Config struct {
	// Listen is the loopback address to serve on; default 127.0.0.1:5020.
	Listen string `yaml:"listen"`
	// Slaves are the simulated devices, each behind its unit id; default
	// a meter at unit 1 and a VFD at unit 2.
	Slaves []SlaveConfig `yaml:"slaves"`
}

// SlaveConfig is one simulated device.
type SlaveConfig struct {
	Unit  int    `yaml:"unit"`
	Model string `yaml:"model"` // meter or vfd
	Seed  int64  `yaml:"seed"`
}

// DefaultListen is where a modbus-sim device serves unless told otherwise.
const DefaultListen = "127.0.0.1:5020"

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if len(c.Slaves) == 0 {
		c.Slaves = []SlaveConfig{{Unit: 1, Model: "meter"}, {Unit: 2, Model: "vfd"}}
	}
	return c
}

// Validate reports every problem with c, naming the option.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		errs = append(errs, fmt.Errorf("options.listen: %q is not host:port: %v", c.Listen, err))
	} else if host != "127.0.0.1" && host != "::1" && host != "localhost" {
		errs = append(errs, fmt.Errorf("options.listen: %q: the simulator serves on loopback only, use 127.0.0.1:<port>", c.Listen))
	}
	seen := map[int]bool{}
	for i, s := range c.Slaves {
		p := fmt.Sprintf("options.slaves[%d]", i)
		if s.Unit < 1 || s.Unit > 247 {
			errs = append(errs, fmt.Errorf("%s.unit: %d is not a slave id: use 1 to 247", p, s.Unit))
		} else if seen[s.Unit] {
			errs = append(errs, fmt.Errorf("%s.unit: %d is used twice", p, s.Unit))
		}
		seen[s.Unit] = true
		if s.Model != "meter" && s.Model != "vfd" {
			errs = append(errs, fmt.Errorf("%s.model: %q is not a model: use meter or vfd", p, s.Model))
		}
	}
	return errors.Join(errs...)
}

// Device runs the simulated slaves; its one reading, "requests", is how
// many requests they have answered.
type Device struct {
	name string
	srv  *Server
	now  func() time.Time
}

// New starts serving; Close stops. now and log may be nil.
func New(name string, cfg Config, now func() time.Time, log *slog.Logger) (*Device, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("modbus-sim %s: %w", name, err)
	}
	cfg = cfg.withDefaults()
	if now == nil {
		now = time.Now
	}
	start := now()
	slaves := map[uint8]Slave{}
	for _, s := range cfg.Slaves {
		if s.Model == "meter" {
			slaves[uint8(s.Unit)] = NewMeter(s.Seed, start)
		} else {
			slaves[uint8(s.Unit)] = NewVFD(s.Seed, start)
		}
	}
	srv, err := Listen(cfg.Listen, slaves, now, log)
	if err != nil {
		return nil, fmt.Errorf("modbus-sim %s: %w", name, err)
	}
	return &Device{name: name, srv: srv, now: now}, nil
}

// Name is the device's configured name.
func (d *Device) Name() string { return d.name }

// Addr is where the simulator serves.
func (d *Device) Addr() string { return d.srv.Addr() }

// Read appends the request count.
func (d *Device) Read(_ context.Context, dst []reading.Reading) ([]reading.Reading, error) {
	return append(dst, reading.Reading{Device: d.name, Metric: "requests", Value: float64(d.srv.Requests()), Time: d.now()}), nil
}

// Close stops the server; it is idempotent.
func (d *Device) Close() error { return d.srv.Close() }
