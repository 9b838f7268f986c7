package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/sync/broker"
	"github.com/edged-gateway/edged/sync/broker/auth"
)

// mosquittoPub runs mosquitto_pub against addr with args; stdin, when not
// empty, is its input (one message per line with -l). It skips the test
// when mosquitto-clients is missing, unless CI is set.
func mosquittoPub(t testing.TB, addr, stdin string, args ...string) error {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mosquitto_pub missing (apt-get install mosquitto-clients); CI is set")
		}
		t.Skip("mosquitto_pub missing (apt-get install mosquitto-clients)")
	}
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-h", host, "-p", port}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("mosquitto_pub %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// mosquittoSub starts mosquitto_sub on addr for count messages and returns
// a function that waits for it and returns what it printed.
func mosquittoSub(t testing.TB, addr string, count int, args ...string) func() string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Skip("mosquitto_sub missing (apt-get install mosquitto-clients)")
	}
	host, port, _ := net.SplitHostPort(addr)
	var out bytes.Buffer
	cmd := exec.Command(bin, append([]string{"-h", host, "-p", port, "-C", strconv.Itoa(count), "-W", "60"}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return func() string {
		cmd.Wait()
		return out.String()
	}
}

// lines returns "first\nfirst+1\n…" for n values.
func lines(first, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%d\n", first+i)
	}
	return b.String()
}

// TestLocalSensorsReachTheCloud publishes with mosquitto_pub on the embedded
// broker, in each payload format, and checks at a real cloud mosquitto that
// every value arrived once per seq, with seqs 1..N, and that a malformed
// payload was counted and stored nothing.
func TestLocalSensorsReachTheCloud(t *testing.T) {
	cloudBroker := mosquittotest.Start(t)
	dir := t.TempDir()
	cl := newCloud(t, cloudBroker.Addr(), "edged", "gw-local")
	cfg := fmt.Sprintf(`gateway: {id: gw-local}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0, republish: {enabled: true}}
data_dir: %s
cloud: {url: %s, batch: 16}
devices:
  - name: plain
    kind: mqttsensor
    options: {topic: sensors/+device/+metric, unit: C}
  - name: esp32
    kind: mqttsensor
    scale: {factor: 0.1, unit: bar}
    options: {topic: lan/+device/state, format: json, fields: {pressure: $.p, flow: $.f}}
  - name: senml
    kind: mqttsensor
    options: {topic: senml/+device, format: senml}
`, dir, cloudBroker.URL())
	d, stop := startDaemon(t, writeConfig(t, dir, cfg))
	addr := d.broker.Addr()

	const n = 200
	local := mosquittoSub(t, addr, n, "-t", "edged/local/porch/temperature")
	waitUntil(t, "the local subscriber", func() bool { return d.broker.Stats().Clients == 1 })
	time.Sleep(100 * time.Millisecond) // its SUBSCRIBE follows the CONNECT
	if err := mosquittoPub(t, addr, lines(1000, n), "-t", "sensors/porch/temperature", "-q", "1", "-l"); err != nil {
		t.Fatal(err)
	}
	if err := mosquittoPub(t, addr, "", "-t", "lan/pump1/state", "-q", "1", "-m", `{"p": 25, "f": 3.5, "rssi": -70}`); err != nil {
		t.Fatal(err)
	}
	senml := `[{"bn":"boiler.","n":"temp","u":"Cel","v":71.5},{"n":"on","vb":true}]`
	if err := mosquittoPub(t, addr, "", "-t", "senml/boiler", "-q", "1", "-m", senml); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"21,5", "0x1A", "", "1e400"} {
		if err := mosquittoPub(t, addr, "", "-t", "sensors/porch/temperature", "-q", "1", "-m", bad); err != nil {
			t.Fatalf("a bad payload must still be acknowledged (resending would not fix it): %v", err)
		}
	}
	if err := mosquittoPub(t, addr, "", "-t", "lan/pump1/state", "-q", "1", "-m", `{"p": "25"}`); err != nil {
		t.Fatal(err)
	}
	want := n + 2 + 2
	cl.waitAll(uint64(want))
	// Every reading was also re-published on the local broker.
	got := local()
	if c := strings.Count(got, `{"value":`); c != n || !strings.Contains(got, `{"value":1000,"unit":"C","time":"`) {
		t.Errorf("local subscriber got %d re-published readings, want %d like {\"value\":1000,\"unit\":\"C\",…}:\n%.300s", c, n, got)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	distinct, _ := cl.check()
	if distinct != want {
		t.Fatalf("cloud saw %d distinct seqs, want %d", distinct, want)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	temps := cl.values["porch/temperature"]
	got = ""
	vals := make([]float64, 0, len(temps))
	for _, s := range temps {
		vals = append(vals, s.value)
		if s.unit != "C" {
			t.Errorf("porch/temperature unit %q, want C", s.unit)
		}
	}
	sort.Float64s(vals)
	vals = slicesCompactFloat(vals)
	if len(vals) != n || vals[0] != 1000 || vals[n-1] != 1000+n-1 {
		t.Errorf("porch/temperature: %d distinct values from %v to %v, want exactly 1000..%d", len(vals), first(vals), last(vals), 1000+n-1)
	}
	for key, want := range map[string]sample{
		"pump1/pressure": {value: 2.5, unit: "bar"}, "pump1/flow": {value: 0.35, unit: "bar"},
		"boiler/temp": {value: 71.5, unit: "Cel"}, "boiler/on": {value: 1},
	} {
		vs := cl.values[key]
		if len(vs) == 0 || math.Abs(vs[0].value-want.value) > 1e-9 || vs[0].unit != want.unit {
			t.Errorf("%s: got %+v, want value %v unit %q", key, vs, want.value, want.unit)
		}
	}
	var sensors = map[string]sensorStatus{}
	for _, s := range d.localStatus().Sensors {
		sensors[s.Name] = s
	}
	if s := sensors["plain"]; s.Malformed != 4 || s.Readings != n || s.ByDevice["porch"] != 4 {
		t.Errorf("plain sensor status %+v, want %d readings and 4 malformed (porch)", s, n)
	}
	if s := sensors["esp32"]; s.Malformed != 1 || s.Readings != 2 {
		t.Errorf("esp32 sensor status %+v, want 2 readings and 1 malformed", s)
	}
}

func slicesCompactFloat(s []float64) []float64 {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func first(s []float64) any {
	if len(s) == 0 {
		return "none"
	}
	return s[0]
}

func last(s []float64) any {
	if len(s) == 0 {
		return "none"
	}
	return s[len(s)-1]
}

var brokerLine = regexp.MustCompile(`local MQTT broker listening"? addr=(\S+)`)

// TestKill9AfterPubackLosesNoSensorMessage publishes QoS 1 messages from
// mosquitto_pub to edged's broker, kills edged with SIGKILL the moment the
// last PUBACK arrived, and again mid-stream, then starts it with the cloud
// reachable: every acknowledged message must reach the cloud.
func TestKill9AfterPubackLosesNoSensorMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the edged binary")
	}
	dir := t.TempDir()
	bin := buildEdged(t, dir)
	cloudBroker := mosquittotest.Start(t)
	cloudBroker.Stop() // the cloud is down while the sensors publish: everything buffers
	cfg := writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-k9}
http: {listen: 127.0.0.1:0}
local_mqtt: {listen: 127.0.0.1:0, rate_limit: {messages_per_second: 0}}
data_dir: %s
cloud: {url: %s, batch: 64}
devices: [{name: s, kind: mqttsensor, options: {topic: sensors/+device/+metric}}]
`, filepath.Join(dir, "data"), cloudBroker.URL()))

	const rounds, per = 3, 3000
	for i := range rounds {
		c := startChild(t, bin, cfg)
		addr := c.waitLine(t, brokerLine)[1]
		if err := mosquittoPub(t, addr, lines(i*per, per), "-t", "sensors/node/v", "-q", "1", "-l"); err != nil {
			t.Fatal(err)
		}
		// mosquitto_pub exits after the last PUBACK: kill at once.
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		c.cmd.Wait()
	}
	cloudBroker.Restart()
	// The cloud subscriber connects afresh: a paho session resumed with
	// thousands of queued messages stalls in paho itself (seen here: edged
	// had every PUBACK, the subscriber stopped receiving).
	cl := newCloud(t, cloudBroker.Addr(), "edged", "gw-k9")
	c := startChild(t, bin, cfg)
	if m := c.waitLine(t, openedLine); m[1] != strconv.Itoa(rounds*per+1) {
		t.Fatalf("after the kills the outbox's next seq is %s, want %d: acknowledged messages were not stored", m[1], rounds*per+1)
	}
	api := c.waitLine(t, regexp.MustCompile(`local API listening"? addr=(\S+)`))[1]
	deadline := time.Now().Add(60 * time.Second)
	for {
		cl.mu.Lock()
		got := len(distinctValues(cl.values["node/v"]))
		cl.mu.Unlock()
		if got == rounds*per {
			break
		}
		if time.Now().After(deadline) {
			out, _ := exec.Command("curl", "-s", "http://"+api+"/api/v1/status").CombinedOutput()
			c.mu.Lock()
			t.Fatalf("cloud has %d of %d values; edged status:\n%s\nlog:\n%s", got, rounds*per, out, strings.Join(c.lines, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cl.mu.Lock()
	vals := distinctValues(cl.values["node/v"])
	cl.mu.Unlock()
	for v := range rounds * per {
		if !vals[float64(v)] {
			t.Fatalf("value %d was acknowledged to mosquitto_pub but never reached the cloud", v)
		}
	}
	distinct, dups := cl.check()
	if distinct != rounds*per {
		t.Errorf("%d distinct seqs for %d acknowledged messages", distinct, rounds*per)
	}
	t.Logf("%d acknowledged messages across %d kill -9: all delivered, %d duplicates", rounds*per, rounds, dups)
}

func distinctValues(ss []sample) map[float64]bool {
	m := make(map[float64]bool, len(ss))
	for _, s := range ss {
		m[s.value] = true
	}
	return m
}

// TestExternalLocalBroker uses a mosquitto on the gateway instead of the
// embedded broker (local_mqtt.mode: external).
func TestExternalLocalBroker(t *testing.T) {
	local := mosquittotest.Start(t)
	cloudBroker := mosquittotest.Start(t)
	dir := t.TempDir()
	cl := newCloud(t, cloudBroker.Addr(), "edged", "gw-ext")
	cfg := fmt.Sprintf(`gateway: {id: gw-ext}
http: {listen: 127.0.0.1:0}
local_mqtt: {mode: external, url: %s, republish: {enabled: true}}
data_dir: %s
cloud: {url: %s}
devices: [{name: s, kind: mqttsensor, options: {topic: sensors/+device/+metric}}]
`, local.URL(), dir, cloudBroker.URL())
	cfgFile := writeConfig(t, dir, cfg)
	d, stop := startDaemon(t, cfgFile)
	waitUntil(t, "the link to the local mosquitto", d.local.Connected)
	time.Sleep(100 * time.Millisecond) // SUBSCRIBE follows CONNECT
	if err := mosquittoPub(t, local.Addr(), lines(1, 50), "-t", "sensors/porch/t", "-q", "1", "-l"); err != nil {
		t.Fatal(err)
	}
	cl.waitAll(50)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// While edged is stopped the local broker keeps its persistent
	// session's QoS 1 messages; they arrive after the next start.
	if err := mosquittoPub(t, local.Addr(), lines(51, 50), "-t", "sensors/porch/t", "-q", "1", "-l"); err != nil {
		t.Fatal(err)
	}
	_, stop = startDaemon(t, cfgFile)
	defer stop()
	cl.waitAll(100)
	if distinct, _ := cl.check(); distinct != 100 {
		t.Errorf("cloud saw %d distinct readings, want 100", distinct)
	}
	cl.mu.Lock()
	vals := distinctValues(cl.values["porch/t"])
	cl.mu.Unlock()
	for v := 1; v <= 100; v++ {
		if !vals[float64(v)] {
			t.Errorf("value %d published on the local mosquitto never reached the cloud", v)
		}
	}
}

func TestBrokerPasswdCommand(t *testing.T) {
	f := filepath.Join(t.TempDir(), "passwd")
	var out, errb bytes.Buffer
	if code := cmdBroker([]string{"passwd", "--cost", strconv.Itoa(bcrypt.MinCost), f, "porch"}, strings.NewReader("hunter22\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	pw, err := auth.LoadPasswords(f)
	if err != nil {
		t.Fatal(err)
	}
	if !pw.Check("porch", "hunter22") || pw.Check("porch", "hunter2") {
		t.Fatal("the password file does not hold the password that was set")
	}
	if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	for _, tt := range []struct {
		args  []string
		stdin string
		code  int
		want  string
	}{
		{[]string{"passwd", f}, "", 2, "want FILE and USER"},
		{[]string{"passwd", f, "porch"}, "", 1, "empty"},
		{[]string{"passwd", f, "bad:name"}, "x\n", 1, "bad:name"},
		{[]string{"passwd", "--cost", "99", f, "porch"}, "x\n", 2, "--cost 99 is out of range"},
		{[]string{"frobnicate"}, "", 2, "Usage"},
	} {
		out.Reset()
		errb.Reset()
		code := cmdBroker(tt.args, strings.NewReader(tt.stdin), &out, &errb)
		if code != tt.code || !strings.Contains(errb.String()+out.String(), tt.want) {
			t.Errorf("%v: exit %d, output %q; want exit %d and %q", tt.args, code, errb.String(), tt.code, tt.want)
		}
	}
	if code := cmdBroker([]string{"passwd", "--delete", f, "porch"}, nil, &out, &errb); code != 0 {
		t.Fatalf("delete: exit %d: %s", code, errb.String())
	}
	if pw, err := auth.LoadPasswords(f); err != nil || pw.Check("porch", "hunter22") {
		t.Fatalf("porch still logs in after --delete (%v)", err)
	}
}

// TestDefaultBrokerPortTakenDoesNotStopADefaultRun: a system mosquitto
// holds 127.0.0.1:1883 on many hosts. A daemon whose broker is on that
// default address but which has nothing that needs the broker still runs,
// says why its broker is off, and serves everything else; one with an
// mqttsensor device still refuses to start.
func TestDefaultBrokerPortTakenDoesNotStopADefaultRun(t *testing.T) {
	// Hold 1883 for the test, or find it held by another program already:
	// either way it is taken while the daemon starts.
	if ln, err := net.Listen("tcp", broker.DefaultListen); err == nil {
		defer ln.Close()
	} else if !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("listen %s: %v", broker.DefaultListen, err)
	}
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, "http: {listen: 127.0.0.1:0}\ndata_dir: "+dir+`
devices:
  - {name: t, kind: sim, interval: 10ms, options: {metric: temperature, unit: C}}
`))
	waitUntil(t, "readings while the broker port is taken", func() bool { return d.outbox.Stats().Depth > 3 })
	if d.broker != nil || !strings.Contains(d.localStatus().Off, "in use by another program") {
		t.Fatalf("broker %v, local status %+v: want it off with the reason", d.broker, d.localStatus())
	}
	if err := stop(); err != nil {
		t.Fatalf("daemon stopped with %v", err)
	}

	dir2 := t.TempDir()
	cfg, devs, err := loadConfig(writeConfig(t, dir2, "http: {listen: \"\"}\ndata_dir: "+dir2+`
devices:
  - {name: lan, kind: mqttsensor, options: {topic: sensors/+device/+metric}}
`), builtinKinds())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newDaemon(cfg, devs, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("a daemon with an mqttsensor and its broker port taken: %v, want the bind error", err)
	}
}

// TestDefaultGatewayTakesSensors: with the default devices, what a sensor
// publishes on sensors/<device>/<metric> (a plain number or
// {"value": …, "unit": …}) is stored like any reading.
func TestDefaultGatewayTakesSensors(t *testing.T) {
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, "http: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: "+dir+"\n"))
	defer stop()
	waitUntil(t, "the broker", func() bool { return d.broker != nil })
	addr := d.broker.Addr()
	if err := mosquittoPub(t, addr, "", "-t", "sensors/porch/temperature", "-m", "21.5", "-q", "1"); err != nil {
		t.Fatal(err)
	}
	if err := mosquittoPub(t, addr, "", "-t", "sensors/porch/humidity", "-m", `{"value": 40.5, "unit": "%RH"}`, "-q", "1"); err != nil {
		t.Fatal(err)
	}
	// QoS 1: the PUBACK came once the readings were durable.
	got := map[string]string{}
	for _, r := range d.recent.Last("porch") {
		got[r.Metric] = fmt.Sprintf("%g%s", r.Value, r.Unit)
	}
	if got["temperature"] != "21.5" || got["humidity"] != "40.5%RH" {
		t.Fatalf("porch readings %v, want temperature 21.5 and humidity 40.5%%RH", got)
	}
}

// TestBrokerLimitsFromConfigAreCountedInMetrics: local_mqtt.limits reaches
// the embedded broker, and each refusal is a metric. A CONNECT declaring
// 250 MiB is closed at its fixed header; the daemon's RSS (this process)
// stays put.
func TestBrokerLimitsFromConfigAreCountedInMetrics(t *testing.T) {
	dir := t.TempDir()
	d, stop := startDaemon(t, writeConfig(t, dir, fmt.Sprintf(`gateway: {id: gw-lim}
http: {listen: 127.0.0.1:0}
local_mqtt:
  listen: 127.0.0.1:0
  limits: {max_packet_size: 1Ki, max_connections_per_address: 3, connect_timeout: 3s}
data_dir: %s
`, dir)))
	defer stop()
	rss := func() int64 {
		b, _ := os.ReadFile("/proc/self/status")
		m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
		if m == nil {
			t.Skip("no VmRSS")
		}
		kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return kb << 10
	}
	waitUntil(t, "the first reading", func() bool { return d.outbox.Stats().Appended > 0 })
	chunk := make([]byte, 64<<10)
	runtime.GC()
	debug.FreeOSMemory()
	before := rss()
	// 250 MiB declared: 0x10, remaining length 0x80 0x80 0x80 0x7d; then
	// up to 32 MiB of it, until the broker closes.
	c, err := net.Dial("tcp", d.broker.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte{0x10, 0x80, 0x80, 0x80, 0x7d})
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	for sent := 0; sent < 32<<20; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("the broker answered a 250 MiB CONNECT")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a 250 MiB CONNECT left the connection open")
	}
	after := rss()
	t.Logf("daemon RSS before %.1f MiB, after a 250 MiB CONNECT %.1f MiB", float64(before)/(1<<20), float64(after)/(1<<20))
	if after-before > 20<<20 {
		t.Errorf("RSS grew by %d bytes", after-before)
	}
	// Silent sockets: 3 let in and closed at the CONNECT timeout, the
	// others closed at once for the per-address limit.
	for range 5 {
		c, err := net.Dial("tcp", d.broker.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitUntil(t, "the limits counted", func() bool {
		m := scrape(t, d.api.Addr())
		return m[`edged_local_mqtt_limited_total{limit="packet_too_large"}`] == 1 &&
			m[`edged_local_mqtt_limited_total{limit="max_connections_per_address"}`] == 2 &&
			m[`edged_local_mqtt_limited_total{limit="connect_timeout"}`] == 3
	})
	m := scrape(t, d.api.Addr())
	for _, name := range []string{`edged_local_mqtt_limited_total{limit="retained"}`, `edged_local_mqtt_limited_total{limit="login_backoff"}`,
		"edged_local_mqtt_retained_messages", "edged_local_mqtt_retained_bytes"} {
		if _, ok := m[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
}

// TestSIGHUPReloadsBrokerACL: local_mqtt.acl edited in the config file is
// put in force by SIGHUP, without a restart.
func TestSIGHUPReloadsBrokerACL(t *testing.T) {
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Skip("mosquitto_sub missing (apt-get install mosquitto-clients)")
	}
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	if err := auth.SetPassword(passwd, "porch", "p1", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	conf := func(filter string) string {
		return fmt.Sprintf(`gateway: {id: gw-hup}
http: {listen: ""}
local_mqtt: {listen: 127.0.0.1:0, passwd_file: %s, acl: [{users: [porch], subscribe: [%q]}]}
data_dir: %s
`, passwd, filter, dir)
	}
	cfgFile := writeConfig(t, dir, conf("#"))
	d, stop := startDaemon(t, cfgFile)
	defer stop()
	host, port, _ := net.SplitHostPort(d.broker.Addr())
	subscribe := func() string {
		out, _ := exec.Command(sub, "-h", host, "-p", port, "-u", "porch", "-P", "p1", "-V", "5", "-t", "secret/x", "-C", "1", "-W", "1").CombinedOutput()
		return string(out)
	}
	if out := subscribe(); strings.Contains(out, "denied") {
		t.Fatalf("denied before the ACL changed: %s", out)
	}
	if err := os.WriteFile(cfgFile, []byte(conf("sensors/#")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the new ACL to deny the subscription", func() bool { return strings.Contains(subscribe(), "denied") })
}
