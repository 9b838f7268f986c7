package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/term"

	"github.com/edged-gateway/edged/runtime/orchestrator"
	"github.com/edged-gateway/edged/runtime/supervisor"
)

// The read commands (status, devices, services, plan status, hardware)
// print their document as a table for people (-o table), as the API's JSON
// unchanged (-o json) or as YAML (-o yaml). Without -o: a table when stdout
// is a terminal, JSON when it is not, so scripts and pipes get JSON.

// Output formats.
const (
	outTable = "table"
	outJSON  = "json"
	outYAML  = "yaml"
)

var outputFormats = []string{outTable, outJSON, outYAML}

// outputFlag is the value of -o/--output.
type outputFlag struct{ v string }

func (o *outputFlag) String() string { return o.v }

func (o *outputFlag) Set(s string) error {
	if !slices.Contains(outputFormats, s) {
		return fmt.Errorf("want table, json or yaml%s", didYouMean(s, outputFormats))
	}
	o.v = s
	return nil
}

// outputFlags adds -o and --output to fs.
func outputFlags(fs *flag.FlagSet) *outputFlag {
	o := new(outputFlag)
	fs.Var(o, "o", "output `format`: table, json or yaml (default: table on a terminal, json otherwise)")
	fs.Var(o, "output", "the same as -o `format`")
	return o
}

// format is the format asked for, or the default for stdout.
func (o *outputFlag) format(stdout io.Writer) string {
	if o.v != "" {
		return o.v
	}
	if isTerminal(stdout) {
		return outTable
	}
	return outJSON
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// cliNow is the time tables measure ages against (tests fix it).
var cliNow = time.Now

// writeDoc prints raw, an API document (JSON), in format; table renders
// it for people.
func writeDoc(w io.Writer, format string, raw []byte, table func(io.Writer, []byte, time.Time) error) error {
	switch format {
	case outYAML:
		y, err := jsonToYAML(raw)
		if err != nil {
			return err
		}
		_, err = w.Write(y)
		return err
	case outTable:
		var buf bytes.Buffer
		if err := table(&buf, raw, cliNow()); err != nil {
			return err
		}
		_, err := w.Write(buf.Bytes())
		return err
	}
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		raw = append(raw[:len(raw):len(raw)], '\n')
	}
	_, err := w.Write(raw)
	return err
}

// The documents the tables read. They are the daemon's own types, so a
// field renamed in the API is renamed here too; only these wrappers name
// the lists' keys.
type (
	devicesList struct {
		Devices []deviceDoc `json:"devices"`
	}
	servicesList struct {
		Services []supervisor.Status `json:"services"`
	}
)

// decodeAPI decodes an API document for a table.
func decodeAPI(raw []byte, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("the API's answer is not the document this edged expects (is the daemon another version?): %w", err)
	}
	return nil
}

func statusTable(w io.Writer, raw []byte, now time.Time) error {
	var st statusDoc
	if err := decodeAPI(raw, &st); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "gateway:\t%s\n", st.Gateway)
	fmt.Fprintf(tw, "build:\t%s %s, board %s\n", st.Version, st.Arch, st.Board)
	fmt.Fprintf(tw, "uptime:\t%s\n", humanDuration(seconds(st.UptimeS)))
	switch p := st.Plan; p.State {
	case "off":
		fmt.Fprintf(tw, "plan:\toff (no plans.trusted_keys)\n")
	case "none", "":
		fmt.Fprintf(tw, "plan:\tnone yet: the config file's devices and services run\n")
	default:
		fmt.Fprintf(tw, "plan:\tversion %d, %s", p.Version, p.State)
		if p.Latest != 0 {
			fmt.Fprintf(tw, " (latest: version %d)", p.Latest)
		}
		fmt.Fprintln(tw)
		if p.Error != "" {
			fmt.Fprintf(tw, "\terror: %s\n", p.Error)
		}
	}
	if c := st.Cloud; !c.Enabled {
		fmt.Fprintf(tw, "cloud:\toff: readings stay in the outbox\n")
	} else {
		link := "DISCONNECTED from"
		if c.Connected {
			link = "connected to"
		}
		fmt.Fprintf(tw, "cloud:\t%s %s, %d delivered, %d dead letters\n", link, c.URL, c.Delivered, c.DeadLetters)
		if c.LastError != "" {
			fmt.Fprintf(tw, "\tlast error %s: %s", humanAge(c.LastErrorAt, now), c.LastError)
			if !c.LastErrorRecoveredAt.IsZero() {
				fmt.Fprintf(tw, " (recovered %s)", humanAge(c.LastErrorRecoveredAt, now))
			}
			fmt.Fprintln(tw)
		}
	}
	o := st.Outbox
	fmt.Fprintf(tw, "outbox:\t%d readings, %s", o.Readings, humanBytes(o.Bytes))
	if o.Readings > 0 {
		fmt.Fprintf(tw, ", oldest %s", humanDuration(seconds(o.OldestAgeS)))
	}
	if o.Dropped > 0 || o.AppendErrors > 0 {
		fmt.Fprintf(tw, ", %d dropped, %d append errors", o.Dropped, o.AppendErrors)
	}
	fmt.Fprintln(tw)
	if o.Failed != "" {
		fmt.Fprintf(tw, "\tFAILED: %s\n", o.Failed)
	}
	for _, r := range st.Routes {
		if r.To == "cloud" && len(st.Routes) == 1 {
			break // the cloud line says it all
		}
		fmt.Fprintf(tw, "route %s:\tto %s, %d delivered, %d behind", r.Name, r.To, r.Delivered, r.Lag)
		if r.DeadLettered+r.Expired > 0 {
			fmt.Fprintf(tw, ", %d dead-lettered, %d expired", r.DeadLettered, r.Expired)
		}
		fmt.Fprintln(tw)
		if r.LastError != "" {
			fmt.Fprintf(tw, "\tlast error %s: %s\n", humanAge(r.LastErrorAt, now), r.LastError)
		}
	}
	for _, f := range st.ServiceFeeds {
		if f.SkippedForLag > 0 {
			fmt.Fprintf(tw, "feed %s:\t%d behind, %d skipped (lagged past max_lag %d)\n", f.Service, f.Lag, f.SkippedForLag, f.MaxLag)
		}
	}
	l := st.LocalMQTT
	switch {
	case l.Broker != nil:
		fmt.Fprintf(tw, "local mqtt:\tembedded broker on %s, %d clients, %d received\n", l.Addr, l.Broker.Clients, l.Broker.Received)
	case l.Off != "":
		fmt.Fprintf(tw, "local mqtt:\t%s, not running: %s\n", l.Mode, l.Off)
	case l.URL != "":
		fmt.Fprintf(tw, "local mqtt:\t%s %s, connected %s\n", l.Mode, l.URL, yesNo(l.Connected))
	default:
		fmt.Fprintf(tw, "local mqtt:\t%s\n", l.Mode)
	}
	for _, s := range l.Sensors {
		fmt.Fprintf(tw, "\tsensors %s: %d messages, %d readings, %d malformed\n", s.Topic, s.Messages, s.Readings, s.Malformed)
	}
	fmt.Fprintf(tw, "services:\t%s\n", serviceSummary(st.Services))
	if st.SafeStateFailures > 0 {
		fmt.Fprintf(tw, "safe states:\t%d failed\n", st.SafeStateFailures)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if len(st.Devices) == 0 {
		fmt.Fprintln(w, "no devices")
		return nil
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tHEALTH\tREADS\tERRORS\tLAST\tAGE")
	var notes []string
	for _, d := range st.Devices {
		last, age := "-", "-"
		if r := d.LastValue; r != nil {
			last = r.Metric + " " + humanValue(r.Value, r.Unit)
			age = humanAge(r.Time, now)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", d.Name, health(d.Healthy, d.Simulated), d.Reads, d.Errors, last, age)
		if d.LastError != "" {
			notes = append(notes, fmt.Sprintf("%s: last error %s: %s", d.Name, humanAge(d.LastErrorAt, now), d.LastError))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printNotes(w, notes)
	return nil
}

func devicesTable(w io.Writer, raw []byte, now time.Time) error {
	var doc devicesList
	if err := decodeAPI(raw, &doc); err != nil {
		return err
	}
	if len(doc.Devices) == 0 {
		fmt.Fprintln(w, "no devices")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tHEALTH\tREADS\tERRORS\tLAST\tAGE")
	var notes []string
	for _, d := range doc.Devices {
		kind := d.Kind
		if d.Actuator {
			kind += " (actuator)"
		}
		var last []string
		var newest time.Time
		for _, r := range d.Last {
			last = append(last, r.Metric+" "+humanValue(r.Value, r.Unit))
			if r.Time.After(newest) {
				newest = r.Time
			}
		}
		lastS := "-"
		if len(last) > 0 {
			lastS = strings.Join(last, ", ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", d.Name, orDash(kind), health(d.Healthy, d.Simulated), d.Reads, d.Errors, lastS, humanAge(newest, now))
		if d.LastError != "" {
			notes = append(notes, fmt.Sprintf("%s: last error %s: %s", d.Name, humanAge(d.LastErrorAt, now), d.LastError))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printNotes(w, notes)
	return nil
}

func servicesTable(w io.Writer, raw []byte, now time.Time) error {
	var doc servicesList
	if err := decodeAPI(raw, &doc); err != nil {
		return err
	}
	if len(doc.Services) == 0 {
		fmt.Fprintln(w, "no services")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSINCE\tPID\tRESTARTS\tHEALTH\tRSS\tPEAK\tCPU\tBUDGET\tENFORCED BY")
	var notes []string
	for _, s := range doc.Services {
		pid := "-"
		if s.Pid != 0 {
			pid = strconv.Itoa(s.Pid)
		}
		h := "ok"
		if !s.Healthy {
			h = "UNHEALTHY"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s%%\t%s\t%s\n", s.Name, s.State, humanAge(s.Since, now), pid, s.Restarts, h,
			humanBytes(s.RSS), humanBytes(s.PeakRSS), humanNumber(s.CPUPercent), budgetText(s.Budget), orDash(s.Enforcement))
		if s.LastError != "" {
			notes = append(notes, fmt.Sprintf("%s: last error %s: %s", s.Name, humanAge(s.LastErrorAt, now), s.LastError))
		}
		if s.HealthDetail != "" && !s.Healthy {
			notes = append(notes, fmt.Sprintf("%s: health: %s", s.Name, s.HealthDetail))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printNotes(w, notes)
	return nil
}

func planTable(w io.Writer, raw []byte, _ time.Time) error {
	var st orchestrator.Status
	if err := decodeAPI(raw, &st); err != nil {
		return err
	}
	if st.State == "" || st.State == "none" { // "none": the API's word for no plan yet
		fmt.Fprintln(w, "no plan yet: the daemon runs its config file's devices and services")
		return nil
	}
	printStatus(w, st)
	return nil
}

func budgetText(b supervisor.BudgetDoc) string {
	var parts []string
	if b.MemoryBytes > 0 {
		parts = append(parts, humanBytes(b.MemoryBytes))
	}
	if b.CPU > 0 {
		parts = append(parts, humanNumber(b.CPU)+" cpu")
	}
	if b.Pids > 0 {
		parts = append(parts, strconv.FormatInt(b.Pids, 10)+" pids")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

func serviceSummary(ss []supervisor.Status) string {
	if len(ss) == 0 {
		return "none"
	}
	by := map[string]int{}
	var states []string
	for _, s := range ss {
		if by[s.State] == 0 {
			states = append(states, s.State)
		}
		by[s.State]++
	}
	slices.Sort(states)
	var parts []string
	for _, st := range states {
		parts = append(parts, fmt.Sprintf("%d %s", by[st], st))
	}
	return fmt.Sprintf("%d (%s)", len(ss), strings.Join(parts, ", "))
}

func printNotes(w io.Writer, notes []string) {
	if len(notes) == 0 {
		return
	}
	fmt.Fprintln(w)
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

func health(ok, sim bool) string {
	h := "ok"
	if !ok {
		h = "FAILING"
	}
	if sim {
		h += " (sim)"
	}
	return h
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// seconds turns the API's float seconds into a duration.
func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// humanDuration is d for people: 350ms, 4.2s, 5m3s, 3h5m, 2d4h.
func humanDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + humanDuration(-d)
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
}

// humanAge is how long ago t was ("4.2s ago"), or "-" for no time.
func humanAge(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + humanDuration(-d)
	}
	return humanDuration(d) + " ago"
}

// humanBytes is n bytes in IEC units: 512 B, 4.5 KiB, 64 MiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v, unit = v/1024, u
		if v < 1024 {
			break
		}
	}
	if v < 100 {
		return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + " " + unit
	}
	return strconv.FormatFloat(math.Round(v), 'f', -1, 64) + " " + unit
}

// humanNumber is v with at most three decimals and no float noise
// (1.6500000000000001 is 1.65).
func humanNumber(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) || math.Abs(v) >= 1e15 {
		return strconv.FormatFloat(v, 'g', 6, 64)
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// humanValue is a reading's value with its unit.
func humanValue(v float64, unit string) string {
	if unit == "" {
		return humanNumber(v)
	}
	return humanNumber(v) + " " + unit
}

// maxYAMLDepth bounds the nesting jsonToYAML follows.
const maxYAMLDepth = 64

// jsonToYAML converts a JSON document to YAML, keeping the order of its
// keys and the exact text of its numbers.
func jsonToYAML(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := yamlNode(dec, 0)
	if err != nil {
		return nil, fmt.Errorf("the API's answer is not JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the API's answer is not JSON: data after the document")
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func yamlNode(dec *json.Decoder, depth int) (*yaml.Node, error) {
	if depth > maxYAMLDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxYAMLDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		end := json.Delim(']')
		if t == '{' {
			n.Kind, n.Tag, end = yaml.MappingNode, "!!map", '}'
		} else if t != '[' {
			return nil, fmt.Errorf("unexpected %v", t)
		}
		keys := map[string]int{} // a key's value's index in n.Content
		for dec.More() {
			at := -1
			if n.Kind == yaml.MappingNode {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				ks, ok := k.(string)
				if !ok {
					return nil, fmt.Errorf("object key %v is not a string", k)
				}
				if i, dup := keys[ks]; dup {
					at = i // a repeated key: the last value wins, as in encoding/json
				} else {
					n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ks})
					keys[ks] = len(n.Content)
				}
			}
			v, err := yamlNode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			if at >= 0 {
				n.Content[at] = v
			} else {
				n.Content = append(n.Content, v)
			}
		}
		if tok, err := dec.Token(); err != nil || tok != end {
			return nil, fmt.Errorf("unterminated %v", t)
		}
		if len(n.Content) == 0 {
			n.Style = yaml.FlowStyle // {} and []
		}
		return n, nil
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case json.Number:
		tag := "!!int"
		if _, err := t.Int64(); err != nil {
			if _, err := strconv.ParseUint(string(t), 10, 64); err != nil {
				tag = "!!float" // a fraction, an exponent, or beyond 64 bits
			}
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(t)}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
