package routeout

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edged-gateway/edged/reading"
)

// influxPoint is one parsed line.
type influxPoint struct {
	measurement string
	tags        map[string]string
	value       float64
	ns          int64
}

// parseInflux is a strict reader of the lines InfluxEncoder writes: every
// line ends in \n; measurement and tags end at an unescaped , or space; a
// backslash escapes the next byte; exactly one field, value=<float>; a
// timestamp in ns.
func parseInflux(body string) ([]influxPoint, error) {
	if body == "" {
		return nil, nil
	}
	if !strings.HasSuffix(body, "\n") {
		return nil, errors.New("body does not end in a newline")
	}
	var out []influxPoint
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		p, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %q: %w", line, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// token reads up to an unescaped byte in stops, unescaping.
func token(s string, stops string) (tok, rest string, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' {
			if i+1 == len(s) {
				return "", "", errors.New("dangling backslash")
			}
			i++
			b.WriteByte(s[i])
			continue
		}
		if strings.IndexByte(stops, c) >= 0 {
			return b.String(), s[i:], nil
		}
		if c == '\n' || c < 0x20 {
			return "", "", fmt.Errorf("raw control byte %#x", c)
		}
		b.WriteByte(c)
	}
	return b.String(), "", nil
}

func parseLine(line string) (influxPoint, error) {
	p := influxPoint{tags: map[string]string{}}
	if strings.HasPrefix(line, "#") {
		return p, errors.New("a comment")
	}
	var err error
	if p.measurement, line, err = token(line, ", "); err != nil {
		return p, err
	}
	if p.measurement == "" {
		return p, errors.New("empty measurement")
	}
	for strings.HasPrefix(line, ",") {
		var k, v string
		if k, line, err = token(line[1:], "=, "); err != nil {
			return p, err
		}
		if !strings.HasPrefix(line, "=") {
			return p, fmt.Errorf("tag %q without =", k)
		}
		if v, line, err = token(line[1:], "=, "); err != nil {
			return p, err
		}
		if k == "" || v == "" {
			return p, fmt.Errorf("empty tag key or value %q=%q", k, v)
		}
		if _, dup := p.tags[k]; dup {
			return p, fmt.Errorf("tag %q twice", k)
		}
		p.tags[k] = v
	}
	fields, ok := strings.CutPrefix(line, " value=")
	if !ok {
		return p, fmt.Errorf("no value field at %q", line)
	}
	val, ts, ok := strings.Cut(fields, " ")
	if !ok {
		return p, errors.New("no timestamp")
	}
	if p.value, err = strconv.ParseFloat(val, 64); err != nil || math.IsNaN(p.value) || math.IsInf(p.value, 0) {
		return p, fmt.Errorf("value %q: %v", val, err)
	}
	if p.ns, err = strconv.ParseInt(ts, 10, 64); err != nil {
		return p, fmt.Errorf("timestamp %q: %w", ts, err)
	}
	return p, nil
}

func TestInfluxLineIsTheDocumentedFormat(t *testing.T) {
	ts := time.Unix(1764000000, 123456789)
	rs := []reading.Reading{
		{Device: "boiler room", Metric: "temperature", Unit: "C", Value: 21.5, Time: ts},
		{Device: "a,b=c", Metric: "flow rate", Value: -1e-7, Time: ts, Source: "svc:agg", Simulated: true},
		{Device: "x", Metric: "nan", Value: math.NaN(), Time: ts}, // left out
		{Device: `C:\`, Metric: "#hash", Unit: "line\nbreak", Value: 3, Time: ts},
	}
	got := string(InfluxEncoder("")(nil, "epoch", rs))
	want := "temperature,device=boiler\\ room,unit=C value=21.5 1764000000123456789\n" +
		"flow\\ rate,device=a\\,b\\=c,simulated=true,source=svc:agg value=-1e-07 1764000000123456789\n" +
		"\\#hash,device=C:\\\\,unit=line\uFFFDbreak value=3 1764000000123456789\n"
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := string(InfluxEncoder("edged")(nil, "", rs[:1])); !strings.HasPrefix(got, "edged,device=boiler\\ room,") {
		t.Fatalf("configured measurement: %q", got)
	}
	ps, err := parseInflux(want)
	if err != nil || len(ps) != 3 || ps[1].tags["device"] != "a,b=c" || ps[2].tags["device"] != `C:\` || ps[2].measurement != "#hash" {
		t.Fatalf("parse back: %+v, %v", ps, err)
	}
}

// clean is what the encoder can carry of s: control characters and each
// invalid byte become U+FFFD.
func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r == 0x7f || (r == utf8.RuneError && size == 1) {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// FuzzInfluxLine: whatever the device, metric, unit and source, the line is
// one line that parses back, strictly, to the same strings (as far as line
// protocol can carry them) and value.
func FuzzInfluxLine(f *testing.F) {
	f.Add("boiler", "temperature", "C", "", 21.5, int64(1764000000123456789))
	f.Add("a b,c=d\\", "#m,x y", "\n\r\t", "svc\\", -0.0, int64(0))
	f.Add("\xff\xfe", "\\", "=", ",", 1e300, int64(-1))
	f.Fuzz(func(t *testing.T, device, metric, unit, source string, value float64, ns int64) {
		r := reading.Reading{Device: device, Metric: metric, Unit: unit, Source: source, Value: value, Time: time.Unix(0, ns)}
		line := string(AppendInfluxLine(nil, "", &r))
		if math.IsNaN(value) || math.IsInf(value, 0) {
			if line != "" {
				t.Fatalf("non-finite value written: %q", line)
			}
			return
		}
		if strings.Count(line, "\n") != 1 || !utf8.ValidString(line) {
			t.Fatalf("not one valid UTF-8 line: %q", line)
		}
		ps, err := parseInflux(line)
		if err != nil {
			t.Fatalf("%q does not parse: %v", line, err)
		}
		p := ps[0]
		wantM := clean(metric)
		if metric == "" {
			wantM = "reading"
		}
		if p.measurement != wantM {
			t.Fatalf("measurement %q, want %q (line %q)", p.measurement, wantM, line)
		}
		for k, v := range map[string]string{"device": device, "unit": unit, "source": source} {
			if p.tags[k] != clean(v) {
				t.Fatalf("tag %s %q, want %q (line %q)", k, p.tags[k], clean(v), line)
			}
		}
		if p.value != value || p.ns != ns {
			t.Fatalf("value %v at %d, want %v at %d", p.value, p.ns, value, ns)
		}
	})
}
