package layering

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

// rule forbids packages whose path starts with from (but for those in
// except) to depend, directly or not, on packages whose path starts with any
// of to (but for those in allow).
type rule struct {
	from   string
	except []string // importers the rule does not apply to
	to     []string
	allow  []string // imports the rule lets through
	why    string
}

var rules = []rule{
	{from: "edged/drivers/", to: []string{"edged/hardware", "edged/runtime/", "edged/sync/", "edged/services/", "periph.io/x/host/"},
		why: "drivers speak to buses through periph conn only; hardware and the host are wired in cmd/edged"},
	{from: "edged/hardware", to: []string{"edged/drivers/", "edged/runtime/", "edged/sync/", "edged/services/"},
		why: "hardware resolves buses and pins; it knows nothing of drivers or the runtime"},
	{from: "edged/hardware/sim", to: []string{"periph.io/x/host/", "edged/hardware"}, allow: []string{"edged/hardware/sim", "edged/hardware/internal/"},
		why: "the simulated board implements periph conn only, so it runs where no host driver does"},
	{from: "edged/runtime/pluginapi", to: []string{"edged/runtime/", "edged/sync/", "edged/drivers/"}, allow: []string{"edged/runtime/pluginapi"},
		why: "the plugin contract stands alone"},
	{from: "edged/runtime/", to: []string{"edged/sync/"},
		why: "runtime reaches sync only through interfaces it defines, wired in cmd/edged"},
	{from: "edged/services/", to: []string{"edged/runtime/supervisor", "edged/sync/", "edged/hardware"},
		why: "services talk to the host through runtime/pluginapi only"},
	{from: "edged/sync/outbox", to: []string{"edged/runtime/", "edged/sync/uplink", "edged/sync/broker"},
		why: "the outbox is a leaf store"},
	{from: "edged/sync/deadletter", to: []string{"edged/"}, allow: []string{"edged/sync/deadletter", "edged/reading"},
		why: "the dead letters are a leaf store of readings"},
	{from: "edged/sync/cmdstore", to: []string{"edged/"}, allow: []string{"edged/sync/cmdstore"},
		why: "the command store is a leaf store: results are opaque bytes to it"},
	{from: "edged/sync/uplink", to: []string{"edged/runtime/", "edged/sync/outbox"},
		why: "the uplink is MQTT only"},
	{from: "edged/sync/broker", to: []string{"edged/runtime/"},
		why: "the broker does not know the runtime"},
	{from: "edged/reading", to: []string{"edged/"}, allow: []string{"edged/reading"},
		why: "reading is the shared leaf vocabulary"},
	{from: "edged/waveform", to: []string{"edged/"}, allow: []string{"edged/waveform"},
		why: "waveform is a leaf"},
	{from: "edged/", to: []string{"go.etcd.io/bbolt"}, except: []string{"edged/sync/outbox", "edged/sync/planstore", "edged/sync/cmdstore", "edged/sync/deadletter", "edged/sync/broker", "edged/cmd/edged"},
		why: "only the outbox, the plan store, the command store and the dead letters touch bbolt; the broker's retained messages and sessions use mochi's bbolt hook, in a file of their own"},
	{from: "edged/", to: []string{"github.com/eclipse/paho.mqtt.golang"}, except: []string{"edged/sync/uplink", "edged/cmd/edged", "edged/internal/mqttload"},
		why: "no paho types leak past the uplink (mqttload is the benchmarks' load generator)"},
}

func TestDependencyDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "edged/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkgs++
		for _, v := range violations(fields[0], fields[1:]) {
			t.Error(v)
		}
	}
	if pkgs < 8 {
		t.Fatalf("go list saw only %d packages", pkgs)
	}
}

// violations lists the rules pkg breaks by depending on deps.
func violations(pkg string, deps []string) []string {
	var out []string
	for _, r := range rules {
		if !strings.HasPrefix(pkg, r.from) || hasPrefix(pkg, r.except) {
			continue
		}
		for _, d := range deps {
			if d != pkg && hasPrefix(d, r.to) && !hasPrefix(d, r.allow) {
				out = append(out, pkg+" imports "+d+": "+r.why)
			}
		}
	}
	return out
}

func TestViolationsAreFound(t *testing.T) {
	tests := []struct {
		pkg  string
		deps []string
		want int
	}{
		{"edged/drivers/bme280", []string{"periph.io/x/conn/v3/i2c", "edged/reading"}, 0},
		{"edged/drivers/bme280", []string{"edged/hardware"}, 1},
		{"edged/drivers/bme280", []string{"periph.io/x/host/v3"}, 1},
		{"edged/hardware/sim", []string{"edged/hardware/internal/busname", "edged/waveform"}, 0},
		{"edged/hardware/sim", []string{"edged/hardware"}, 1},
		{"edged/runtime/forwarder", []string{"edged/sync/outbox"}, 1},
		{"edged/reading", []string{"edged/waveform"}, 1},
		{"edged/sync/outbox", []string{"go.etcd.io/bbolt"}, 0},
		{"edged/runtime/poller", []string{"go.etcd.io/bbolt", "github.com/eclipse/paho.mqtt.golang"}, 2},
		{"edged/cmd/edged", []string{"go.etcd.io/bbolt", "edged/sync/outbox"}, 0},
	}
	for _, tc := range tests {
		if got := violations(tc.pkg, tc.deps); len(got) != tc.want {
			t.Errorf("%s importing %v: %d violations %q, want %d", tc.pkg, tc.deps, len(got), got, tc.want)
		}
	}
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
