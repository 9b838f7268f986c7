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
	{from: "github.com/edged-gateway/edged/drivers/", to: []string{"github.com/edged-gateway/edged/hardware", "github.com/edged-gateway/edged/runtime/", "github.com/edged-gateway/edged/sync/", "github.com/edged-gateway/edged/services/", "periph.io/x/host/"},
		why: "drivers speak to buses through periph conn only; hardware and the host are wired in cmd/edged"},
	{from: "github.com/edged-gateway/edged/hardware", to: []string{"github.com/edged-gateway/edged/drivers/", "github.com/edged-gateway/edged/runtime/", "github.com/edged-gateway/edged/sync/", "github.com/edged-gateway/edged/services/"},
		why: "hardware resolves buses and pins; it knows nothing of drivers or the runtime"},
	{from: "github.com/edged-gateway/edged/hardware/sim", to: []string{"periph.io/x/host/", "github.com/edged-gateway/edged/hardware"}, allow: []string{"github.com/edged-gateway/edged/hardware/sim", "github.com/edged-gateway/edged/hardware/internal/"},
		why: "the simulated board implements periph conn only, so it runs where no host driver does"},
	{from: "github.com/edged-gateway/edged/sdk/", to: []string{"github.com/edged-gateway/edged/"}, allow: []string{"github.com/edged-gateway/edged/sdk/"},
		why: "the service SDK (the plugin contract) is a module of its own that a third-party service requires: it depends on nothing of the daemon"},
	{from: "github.com/edged-gateway/edged/runtime/", to: []string{"github.com/edged-gateway/edged/sync/"},
		why: "runtime reaches sync only through interfaces it defines, wired in cmd/edged"},
	{from: "github.com/edged-gateway/edged/runtime/devicehost", to: []string{"github.com/edged-gateway/edged/hardware", "github.com/edged-gateway/edged/drivers/", "periph.io/x/", "go.yaml.in/yaml/"},
		why: "the device host knows devices only by the Spec the composition builds: no board, driver or config"},
	{from: "github.com/edged-gateway/edged/services/", to: []string{"github.com/edged-gateway/edged/runtime/supervisor", "github.com/edged-gateway/edged/sync/", "github.com/edged-gateway/edged/hardware"},
		why: "services talk to the host through sdk/pluginapi only"},
	{from: "github.com/edged-gateway/edged/sync/outbox", to: []string{"github.com/edged-gateway/edged/runtime/", "github.com/edged-gateway/edged/sync/uplink", "github.com/edged-gateway/edged/sync/broker"},
		why: "the outbox is a leaf store"},
	{from: "github.com/edged-gateway/edged/sync/deadletter", to: []string{"github.com/edged-gateway/edged/"}, allow: []string{"github.com/edged-gateway/edged/sync/deadletter", "github.com/edged-gateway/edged/reading"},
		why: "the dead letters are a leaf store of readings"},
	{from: "github.com/edged-gateway/edged/sync/cmdstore", to: []string{"github.com/edged-gateway/edged/"}, allow: []string{"github.com/edged-gateway/edged/sync/cmdstore"},
		why: "the command store is a leaf store: results are opaque bytes to it"},
	{from: "github.com/edged-gateway/edged/sync/uplink", to: []string{"github.com/edged-gateway/edged/runtime/", "github.com/edged-gateway/edged/sync/outbox"},
		why: "the uplink is MQTT only"},
	{from: "github.com/edged-gateway/edged/sync/broker", to: []string{"github.com/edged-gateway/edged/runtime/"},
		why: "the broker does not know the runtime"},
	{from: "github.com/edged-gateway/edged/reading", to: []string{"github.com/edged-gateway/edged/"}, allow: []string{"github.com/edged-gateway/edged/reading"},
		why: "reading is the shared leaf vocabulary"},
	{from: "github.com/edged-gateway/edged/waveform", to: []string{"github.com/edged-gateway/edged/"}, allow: []string{"github.com/edged-gateway/edged/waveform"},
		why: "waveform is a leaf"},
	{from: "github.com/edged-gateway/edged/", to: []string{"go.etcd.io/bbolt"}, except: []string{"github.com/edged-gateway/edged/sync/outbox", "github.com/edged-gateway/edged/sync/planstore", "github.com/edged-gateway/edged/sync/cmdstore", "github.com/edged-gateway/edged/sync/deadletter", "github.com/edged-gateway/edged/sync/broker", "github.com/edged-gateway/edged/cmd/edged"},
		why: "only the outbox, the plan store, the command store and the dead letters touch bbolt; the broker's retained messages and sessions use mochi's bbolt hook, in a file of their own"},
	{from: "github.com/edged-gateway/edged/", to: []string{"github.com/eclipse/paho.mqtt.golang"}, except: []string{"github.com/edged-gateway/edged/sync/uplink", "github.com/edged-gateway/edged/sync/routeout", "github.com/edged-gateway/edged/cmd/edged", "github.com/edged-gateway/edged/internal/mqttload"},
		why: "no paho types leak past the uplink (mqttload is the benchmarks' load generator; routeout reaches paho only through the uplink)"},
}

func TestDependencyDirections(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "github.com/edged-gateway/edged/...").Output()
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
		{"github.com/edged-gateway/edged/drivers/bme280", []string{"periph.io/x/conn/v3/i2c", "github.com/edged-gateway/edged/reading"}, 0},
		{"github.com/edged-gateway/edged/drivers/bme280", []string{"github.com/edged-gateway/edged/hardware"}, 1},
		{"github.com/edged-gateway/edged/drivers/bme280", []string{"periph.io/x/host/v3"}, 1},
		{"github.com/edged-gateway/edged/hardware/sim", []string{"github.com/edged-gateway/edged/hardware/internal/busname", "github.com/edged-gateway/edged/waveform"}, 0},
		{"github.com/edged-gateway/edged/hardware/sim", []string{"github.com/edged-gateway/edged/hardware"}, 1},
		{"github.com/edged-gateway/edged/runtime/forwarder", []string{"github.com/edged-gateway/edged/sync/outbox"}, 1},
		{"github.com/edged-gateway/edged/reading", []string{"github.com/edged-gateway/edged/waveform"}, 1},
		{"github.com/edged-gateway/edged/sync/outbox", []string{"go.etcd.io/bbolt"}, 0},
		{"github.com/edged-gateway/edged/runtime/poller", []string{"go.etcd.io/bbolt", "github.com/eclipse/paho.mqtt.golang"}, 2},
		{"github.com/edged-gateway/edged/runtime/devicehost", []string{"github.com/edged-gateway/edged/runtime/poller", "github.com/edged-gateway/edged/hardware", "go.yaml.in/yaml/v3"}, 2},
		{"github.com/edged-gateway/edged/cmd/edged", []string{"go.etcd.io/bbolt", "github.com/edged-gateway/edged/sync/outbox"}, 0},
		{"github.com/edged-gateway/edged/sdk/pluginapi", []string{"github.com/edged-gateway/edged/sdk/pluginapi/internal/pluginpb", "google.golang.org/grpc"}, 0},
		{"github.com/edged-gateway/edged/sdk/pluginapi", []string{"github.com/edged-gateway/edged/reading"}, 1},
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
