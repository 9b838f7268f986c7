package routeout

import (
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/edged-gateway/edged/reading"
)

// InfluxEncoder returns a forwarder Encode func that writes readings as
// InfluxDB line protocol, one line per reading:
//
//	<measurement>,device=<device>[,simulated=true][,source=<source>][,unit=<unit>] value=<value> <unix ns>
//
// The measurement is the reading's metric, or measurement when that is not
// empty. Tags come in key order (what InfluxDB prefers); an empty tag is
// left out (line protocol has no empty tag values). Measurement, tag values
// are escaped per the line-protocol spec: comma and space (and = in tags)
// get a backslash, a backslash is doubled so it can never escape the
// separator after it, a leading # (a comment) is escaped, and characters
// line protocol cannot carry at all (newline and the other control
// characters, invalid UTF-8) become U+FFFD. A value that is not a finite
// number (NaN, ±Inf) cannot be written as a float field: that reading's
// line is left out. The epoch is not written (InfluxDB dedups points on
// measurement, tags and time).
func InfluxEncoder(measurement string) func(dst []byte, epoch string, rs []reading.Reading) []byte {
	return func(dst []byte, _ string, rs []reading.Reading) []byte {
		for i := range rs {
			dst = AppendInfluxLine(dst, measurement, &rs[i])
		}
		return dst
	}
}

// AppendInfluxLine appends r's line (with its newline) to dst, with
// measurement or, when "", r.Metric as the measurement; see InfluxEncoder.
func AppendInfluxLine(dst []byte, measurement string, r *reading.Reading) []byte {
	if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
		return dst
	}
	if measurement == "" {
		measurement = r.Metric
	}
	if measurement == "" {
		measurement = "reading"
	}
	if measurement[0] == '#' {
		dst = append(dst, '\\')
	}
	dst = appendEscaped(dst, measurement, false)
	if r.Device != "" {
		dst = append(dst, ",device="...)
		dst = appendEscaped(dst, r.Device, true)
	}
	if r.Simulated {
		dst = append(dst, ",simulated=true"...)
	}
	if r.Source != "" {
		dst = append(dst, ",source="...)
		dst = appendEscaped(dst, r.Source, true)
	}
	if r.Unit != "" {
		dst = append(dst, ",unit="...)
		dst = appendEscaped(dst, r.Unit, true)
	}
	dst = append(dst, " value="...)
	dst = strconv.AppendFloat(dst, r.Value, 'g', -1, 64)
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, r.Time.UnixNano(), 10)
	return append(dst, '\n')
}

// appendEscaped writes s escaped for a measurement (tag false) or a tag
// key or value (tag true).
func appendEscaped(dst []byte, s string, tag bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch {
		case c < 0x20 || c == 0x7f:
			dst = utf8.AppendRune(dst, utf8.RuneError)
		case c == ',' || c == ' ' || c == '\\' || (tag && c == '='):
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
		i++
	}
	return dst
}
