package hass

import "strings"

// class is what Home Assistant should know about a sensor's unit.
type class struct {
	unit   string // unit_of_measurement as Home Assistant spells it
	device string // device_class, "" for none
	state  string // state_class
}

// units maps the units edged's drivers and sensors report (lower-cased)
// to Home Assistant's spelling and device class.
var units = map[string]class{
	"c": {"°C", "temperature", "measurement"}, "°c": {"°C", "temperature", "measurement"}, "degc": {"°C", "temperature", "measurement"},
	"celsius": {"°C", "temperature", "measurement"},
	"f":       {"°F", "temperature", "measurement"}, "°f": {"°F", "temperature", "measurement"},
	"k":  {"K", "temperature", "measurement"},
	"pa": {"Pa", "pressure", "measurement"}, "hpa": {"hPa", "pressure", "measurement"}, "kpa": {"kPa", "pressure", "measurement"},
	"bar": {"bar", "pressure", "measurement"}, "mbar": {"mbar", "pressure", "measurement"}, "psi": {"psi", "pressure", "measurement"},
	"v": {"V", "voltage", "measurement"}, "mv": {"mV", "voltage", "measurement"},
	"a": {"A", "current", "measurement"}, "ma": {"mA", "current", "measurement"},
	"w": {"W", "power", "measurement"}, "kw": {"kW", "power", "measurement"},
	"wh": {"Wh", "energy", "total_increasing"}, "kwh": {"kWh", "energy", "total_increasing"},
	"va": {"VA", "apparent_power", "measurement"}, "var": {"var", "reactive_power", "measurement"},
	"hz": {"Hz", "frequency", "measurement"}, "khz": {"kHz", "frequency", "measurement"},
	"lx": {"lx", "illuminance", "measurement"}, "lux": {"lx", "illuminance", "measurement"},
	"dbm": {"dBm", "signal_strength", "measurement"},
	"s":   {"s", "duration", "measurement"}, "ms": {"ms", "duration", "measurement"},
	"m/s": {"m/s", "wind_speed", "measurement"},
	"l":   {"L", "volume", "measurement"}, "m³": {"m³", "volume", "measurement"}, "m3": {"m³", "volume", "measurement"},
	"ppm": {"ppm", "", "measurement"}, "µg/m³": {"µg/m³", "", "measurement"}, "ug/m3": {"µg/m³", "", "measurement"},
}

// classify says how Home Assistant should show a metric with unit: known
// units get their device class; % is humidity or battery when the metric's
// name says so; any other unit is passed through as it is.
func classify(metric, unit string) class {
	u := strings.TrimSpace(unit)
	if c, ok := units[strings.ToLower(u)]; ok {
		if c.device == "" {
			switch {
			case c.unit == "ppm" && strings.Contains(strings.ToLower(metric), "co2"):
				c.device = "carbon_dioxide"
			case c.unit == "µg/m³" && strings.Contains(strings.ToLower(metric), "pm25"), c.unit == "µg/m³" && strings.Contains(strings.ToLower(metric), "pm2.5"):
				c.device = "pm25"
			}
		}
		return c
	}
	if u == "%" || strings.EqualFold(u, "%rh") || strings.EqualFold(u, "rh") {
		m := strings.ToLower(metric)
		switch {
		case strings.Contains(m, "humid") || strings.EqualFold(u, "%rh") || strings.EqualFold(u, "rh"):
			return class{"%", "humidity", "measurement"}
		case strings.Contains(m, "batt"):
			return class{"%", "battery", "measurement"}
		}
		return class{"%", "", "measurement"}
	}
	return class{unit: u, state: "measurement"}
}
