package main

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/edged-gateway/edged/drivers/ads1115"
	"github.com/edged-gateway/edged/drivers/bme280"
	"github.com/edged-gateway/edged/drivers/gpioin"
	"github.com/edged-gateway/edged/drivers/gpioout"
	"github.com/edged-gateway/edged/drivers/mcp3008"
	"github.com/edged-gateway/edged/drivers/modbus"
	"github.com/edged-gateway/edged/drivers/modbus/modbussim"
	"github.com/edged-gateway/edged/drivers/mqttsensor"
	"github.com/edged-gateway/edged/drivers/pwm"
	"github.com/edged-gateway/edged/drivers/scale"
	"github.com/edged-gateway/edged/drivers/sht3x"
	"github.com/edged-gateway/edged/drivers/sim"
	"github.com/edged-gateway/edged/internal/yamlconf"
	"github.com/edged-gateway/edged/runtime/poller"
)

// defaultInterval is a device's interval when its entry gives none.
const defaultInterval = time.Second

// deviceKind is one entry of the built-in device table: how to turn a
// device's config into something the poller can read.
type deviceKind struct {
	help string
	// conn is what the kind connects through: connNone, connI2C, connSPI,
	// connI2C|connSPI or connPin.
	conn connection
	// options decodes and checks a device's options block; it touches no
	// hardware, so `edged config check` runs anywhere.
	options func(d DeviceConfig, optionsPath string) (any, error)
	// open builds the device from its checked options on the board, at
	// daemon start.
	open func(d DeviceConfig, options any, hw *board) (poller.Device, error)
	// sensor, instead of open, builds a device that is not polled: its
	// readings arrive on the local MQTT broker.
	sensor func(d DeviceConfig, options any) (*mqttsensor.Sensor, error)
	// actuator: the kind takes commands (and has a safe state), so a
	// device of it is listed for commands even while it is not open.
	actuator bool
}

// connection is a set of the ways a device kind attaches to hardware.
type connection uint8

const (
	connNone connection = 0
	connI2C  connection = 1 << iota
	connSPI
	connPin
)

// device is a checked device entry, ready to open.
type device struct {
	cfg      DeviceConfig
	kind     deviceKind
	options  any
	interval time.Duration
	scale    *poller.Scale
}

// Name is the device's configured name.
func (d device) Name() string { return d.cfg.Name }

// needsBoard reports whether the device attaches to a bus or pin.
func (d device) needsBoard() bool { return d.kind.conn != connNone }

// open builds the device.
func (d device) open(hw *board) (poller.Device, error) {
	dev, err := d.kind.open(d.cfg, d.options, hw)
	if err != nil {
		return nil, fmt.Errorf("device %s: %w", d.cfg.Name, err)
	}
	return dev, nil
}

// builtinKinds is the one table of device kinds this binary knows.
func builtinKinds() map[string]deviceKind {
	// Modbus devices on one rtu:// port or rtuovertcp:// gateway share its
	// connection through this pool.
	modbusPool := modbus.NewPool(nil)
	return map[string]deviceKind{
		"modbus": {
			help:    "one Modbus slave over tcp://, rtu:// or rtuovertcp:// with a register map (options: url, unit, baud, parity, registers, max_registers, max_gap, …)",
			options: checkedOptions[modbus.Config],
			open: func(d DeviceConfig, opts any, _ *board) (poller.Device, error) {
				dev, err := modbus.New(d.Name, opts.(modbus.Config), modbusPool, nil)
				if err != nil || dev.Writable() {
					return dev, err
				}
				return readOnly{dev, dev, dev}, nil // no writable register: not an actuator
			},
		},
		"modbus-sim": {
			help:    "a simulated Modbus TCP slave on loopback: a meter and a VFD driven by waveforms (options: listen, slaves)",
			options: checkedOptions[modbussim.Config],
			open: func(d DeviceConfig, opts any, _ *board) (poller.Device, error) {
				return modbussim.New(d.Name, opts.(modbussim.Config), nil, nil)
			},
		},
		"mqttsensor": {
			help:    "readings that sensors publish on the local MQTT broker (options: topic with +device/+metric, format plain|json|senml|auto, path, fields, metric, unit)",
			options: mqttSensorOptions,
			sensor: func(d DeviceConfig, opts any) (*mqttsensor.Sensor, error) {
				return mqttsensor.New(d.Name, opts.(mqttsensor.Config))
			},
		},
		"sim": {
			help:    "a deterministic waveform source (options: metric, unit, waveform sine|square|random_walk|constant, min, max, period, seed)",
			options: checkedOptions[sim.Config],
			open: func(d DeviceConfig, opts any, _ *board) (poller.Device, error) {
				return sim.New(d.Name, opts.(sim.Config), nil)
			},
		},
		"gpio-in": {
			help:    "a digital input: level, and debounced edge counts (options: metric, pull, edge, debounce)",
			conn:    connPin,
			options: checkedOptions[gpioin.Config],
			open: func(d DeviceConfig, opts any, hw *board) (poller.Device, error) {
				p, err := hw.Pin(d.Pin)
				if err != nil {
					return nil, err
				}
				return gpioin.New(d.Name, p, opts.(gpioin.Config), nil)
			},
		},
		"gpio-out": {
			help:     "a relay or LED; commands set on/off; safe_state applied at start and stop (options: safe_state, active_low)",
			conn:     connPin,
			actuator: true,
			options:  checkedOptions[gpioout.Config],
			open: func(d DeviceConfig, opts any, hw *board) (poller.Device, error) {
				p, err := hw.Pin(d.Pin)
				if err != nil {
					return nil, err
				}
				return gpioout.New(d.Name, p, opts.(gpioout.Config), nil)
			},
		},
		"pwm": {
			help:     "a PWM output; commands set the duty cycle (options: frequency, min_duty, max_duty, safe_duty)",
			conn:     connPin,
			actuator: true,
			options:  checkedOptions[pwm.Config],
			open: func(d DeviceConfig, opts any, hw *board) (poller.Device, error) {
				p, err := hw.Pin(d.Pin)
				if err != nil {
					return nil, err
				}
				return pwm.New(d.Name, p, opts.(pwm.Config), nil)
			},
		},
		"bme280": {
			help:    "temperature, pressure and humidity over I2C (address 0x76/0x77) or SPI",
			conn:    connI2C | connSPI,
			options: checkedOptions[bme280.Config],
			open: func(d DeviceConfig, opts any, hw *board) (poller.Device, error) {
				if spiBusRE.MatchString(d.Bus) {
					port, err := hw.SPI(d.Bus)
					if err != nil {
						return nil, err
					}
					dev, err := bme280.NewSPI(d.Name, port, opts.(bme280.Config), nil)
					return closeOnError(port, dev, err)
				}
				bus, err := hw.I2C(d.Bus)
				if err != nil {
					return nil, err
				}
				dev, err := bme280.NewI2C(d.Name, bus, d.Address, opts.(bme280.Config), nil)
				return closeOnError(bus, dev, err)
			},
		},
		"ads1115": {
			help:    "a 4-channel 16-bit ADC over I2C, with gain and per-channel scaling",
			conn:    connI2C,
			options: checkedOptions[ads1115.Config],
			open: func(d DeviceConfig, opts any, hw *board) (poller.Device, error) {
				bus, err := hw.I2C(d.Bus)
				if err != nil {
					return nil, err
				}
				dev, err := ads1115.New(d.Name, bus, d.Address, opts.(ads1115.Config), nil)
				return closeOnError(bus, dev, err)
			},
		},
		"mcp3008": {
			help:    "an 8-channel 10-bit ADC over SPI, with per-channel scaling",
			conn:    connSPI,
			options: checkedOptions[mcp3008.Config],
			open: func(d DeviceConfig, opts any, hw *board) (poller.Device, error) {
				port, err := hw.SPI(d.Bus)
				if err != nil {
					return nil, err
				}
				dev, err := mcp3008.New(d.Name, port, opts.(mcp3008.Config), nil)
				return closeOnError(port, dev, err)
			},
		},
		"sht3x": {
			help:    "temperature and humidity over I2C (address 0x44/0x45), CRC-checked",
			conn:    connI2C,
			options: checkedOptions[sht3x.Config],
			open: func(d DeviceConfig, opts any, hw *board) (poller.Device, error) {
				bus, err := hw.I2C(d.Bus)
				if err != nil {
					return nil, err
				}
				dev, err := sht3x.New(d.Name, bus, d.Address, opts.(sht3x.Config), nil)
				return closeOnError(bus, dev, err)
			},
		},
	}
}

// closeOnError closes the bus handle c when the driver built on it failed
// to start, so a device retried every back-off does not leak a file
// descriptor per attempt.
func closeOnError[D poller.Device](c io.Closer, dev D, err error) (poller.Device, error) {
	if err != nil {
		c.Close()
		return nil, err
	}
	return dev, nil
}

// modbusStatser is a modbus device's counters, for /metrics.
type modbusStatser interface{ Stats() modbus.Stats }

// readOnly hides a modbus device's command methods.
type readOnly struct {
	poller.Device
	io.Closer
	modbusStatser
}

var (
	i2cBusRE = regexp.MustCompile(`^(?i)i2c[0-9]+$`)
	spiBusRE = regexp.MustCompile(`^(?i)spi[0-9]+\.[0-9]+$`)
	pinRE    = regexp.MustCompile(`^(?i)gpio[0-9]+$`)
)

// checkConnection checks a device's bus, address and pin against what its
// kind needs, and records what it claims so that two devices on one pin,
// one SPI chip select or one I2C address are refused with both paths. It
// reports whether the device may be built.
func checkConnection(d DeviceConfig, conn connection, p string, claims map[string]string, errs *yamlconf.Errors) bool {
	n := len(*errs)
	claim := func(key, field string) {
		if other, ok := claims[key]; ok {
			errs.Add(field, "%s is already used by %s: one device per pin, chip select or I2C address", strings.TrimPrefix(key, "pin "), other)
			return
		}
		claims[key] = field
	}
	switch {
	case conn == connNone:
		for _, f := range []struct {
			field string
			set   bool
		}{{"bus", d.Bus != ""}, {"address", d.Address != 0}, {"pin", d.Pin != ""}} {
			if f.set {
				errs.Add(p+"."+f.field, "a %s device has no %s: remove it", d.Kind, f.field)
			}
		}
	case conn == connPin:
		if d.Bus != "" || d.Address != 0 {
			errs.Add(p+".bus", "a %s device uses a pin, not a bus: set pin, e.g. pin: GPIO17", d.Kind)
		}
		if !pinRE.MatchString(d.Pin) {
			errs.Add(p+".pin", "%q is not a GPIO pin: use e.g. GPIO17 (BCM numbering)", d.Pin)
		} else {
			claim("pin "+strings.ToUpper(d.Pin), p+".pin")
		}
	default:
		if d.Pin != "" {
			errs.Add(p+".pin", "a %s device is on a bus, not a pin: use bus (and address)", d.Kind)
		}
		isI2C, isSPI := i2cBusRE.MatchString(d.Bus), spiBusRE.MatchString(d.Bus)
		switch {
		case isI2C && conn&connI2C != 0:
			if d.Address < 0x03 || d.Address > 0x77 {
				errs.Add(p+".address", "0x%02x is not a 7-bit I2C address: set the chip's address, e.g. address: 0x76", d.Address)
			} else {
				claim(fmt.Sprintf("%s address 0x%02x", strings.ToLower(d.Bus), d.Address), p+".address")
			}
		case isSPI && conn&connSPI != 0:
			if d.Address != 0 {
				errs.Add(p+".address", "SPI devices have no address: the chip select is in the bus name (spi0.1)")
			}
			claim(strings.ToLower(d.Bus), p+".bus")
		default:
			errs.Add(p+".bus", "%q is not a bus a %s device can use: use %s", d.Bus, d.Kind, busHint(conn))
		}
	}
	return len(*errs) == n
}

func busHint(conn connection) string {
	switch conn {
	case connI2C:
		return "an I2C bus such as i2c1"
	case connSPI:
		return "an SPI port such as spi0.0"
	}
	return "an I2C bus such as i2c1 or an SPI port such as spi0.0"
}

// mqttSensorOptions checks an mqttsensor's options; the device's scale
// block applies to every value it decodes.
func mqttSensorOptions(d DeviceConfig, path string) (any, error) {
	var sc scale.Linear
	if d.Scale != nil {
		sc = scale.Linear{Factor: d.Scale.Factor, Offset: d.Scale.Offset, Unit: d.Scale.Unit}
	}
	return checkedOptionsWith(d, path, func(c *mqttsensor.Config) { c.Scale = sc })
}

// validator is an options type that can check itself.
type validator interface{ Validate() error }

// checkedOptions decodes a device's options block strictly into T and runs
// T's Validate, reporting problems at the options' path.
func checkedOptions[T validator](d DeviceConfig, path string) (any, error) {
	return checkedOptionsWith(d, path, func(*T) {})
}

// checkedOptionsWith is checkedOptions with a step between decoding and
// validating, for settings that come from outside the options block.
func checkedOptionsWith[T validator](d DeviceConfig, path string, set func(*T)) (any, error) {
	var c T
	if d.Options.Kind != 0 {
		if err := yamlconf.DecodeNode(&d.Options, &c, path); err != nil {
			return nil, err
		}
	}
	set(&c)
	if err := c.Validate(); err != nil {
		// Drivers name their fields "options.gain: …"; put them under
		// the device's own path.
		var errs yamlconf.Errors
		for _, line := range strings.Split(err.Error(), "\n") {
			fe := yamlconf.FieldError{Path: path, Line: d.Options.Line, Msg: line}
			if field, msg, ok := strings.Cut(line, ": "); ok && strings.HasPrefix(field, "options.") {
				fe.Path, fe.Msg = path+strings.TrimPrefix(field, "options"), msg
			}
			errs = append(errs, fe)
		}
		return nil, errs
	}
	return c, nil
}

func kindNames(kinds map[string]deviceKind) []string {
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// kindHelp lists the kinds for --help.
func kindHelp(kinds map[string]deviceKind) string {
	s := ""
	for _, k := range kindNames(kinds) {
		s += fmt.Sprintf("  %-10s %s\n", k, kinds[k].help)
	}
	return s
}
