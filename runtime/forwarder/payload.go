package forwarder

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/edged-gateway/edged/reading"
)

// AppendPayload appends the telemetry JSON for rs to dst: an array of
// {"seq":N,"epoch":"…","device":"…","metric":"…","value":1.5,"unit":"C","ts":"RFC3339Nano"},
// where epoch names the outbox file the seqs count in (omitted when ""; the
// cloud dedups on the pair), with ,"source":"…" before the closing brace when Reading.Source is not
// empty (readings a service emitted), so a device's own readings look as
// they did before Source existed, and ,"simulated":true when the reading
// came from a simulated chip or source. A value that JSON cannot carry (NaN, ±Inf)
// is written as null. It allocates only when dst must grow.
func AppendPayload(dst []byte, epoch string, rs []reading.Reading) []byte {
	dst = append(dst, '[')
	for i := range rs {
		r := &rs[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"seq":`...)
		dst = strconv.AppendUint(dst, r.Seq, 10)
		if epoch != "" {
			dst = append(dst, `,"epoch":`...)
			dst = appendString(dst, epoch)
		}
		dst = append(dst, `,"device":`...)
		dst = appendString(dst, r.Device)
		dst = append(dst, `,"metric":`...)
		dst = appendString(dst, r.Metric)
		dst = append(dst, `,"value":`...)
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) {
			dst = append(dst, "null"...)
		} else {
			dst = strconv.AppendFloat(dst, r.Value, 'g', -1, 64)
		}
		dst = append(dst, `,"unit":`...)
		dst = appendString(dst, r.Unit)
		dst = append(dst, `,"ts":"`...)
		dst = r.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, '"')
		if r.Source != "" {
			dst = append(dst, `,"source":`...)
			dst = appendString(dst, r.Source)
		}
		if r.Simulated {
			dst = append(dst, `,"simulated":true`...)
		}
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
