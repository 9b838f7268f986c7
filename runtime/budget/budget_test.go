package budget

import (
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestBudgetValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Budget
		want []string // substrings of the error; none means valid
	}{
		{name: "zero is unlimited", b: Budget{}},
		{name: "typical", b: Budget{Memory: 64 << 20, CPU: 0.5, Pids: 32}},
		{name: "negative memory", b: Budget{Memory: -1}, want: []string{"memory: -1 is negative", "or 0 for no limit"}},
		{name: "memory in MiB by mistake", b: Budget{Memory: 64}, want: []string{"memory: 64 bytes is below the 4 MiB", "64 MiB is 67108864"}},
		{name: "absurd memory", b: Budget{Memory: 1 << 62}, want: []string{"more than 256 TiB"}},
		{name: "absurd pids", b: Budget{Pids: 1 << 30}, want: []string{"pids: 1073741824 is more than the kernel's"}},
		{name: "negative cpu", b: Budget{CPU: -0.5}, want: []string{"cpu: -0.5 is not a number of cores"}},
		{name: "NaN cpu", b: Budget{CPU: math.NaN()}, want: []string{"cpu: NaN"}},
		{name: "tiny cpu", b: Budget{CPU: 0.001}, want: []string{"cpu: 0.001 cores is below the 0.01 minimum"}},
		{name: "huge cpu", b: Budget{CPU: 5000}, want: []string{"cpu: 5000 cores is more than 1024"}},
		{name: "negative pids", b: Budget{Pids: -3}, want: []string{"pids: -3 is negative"}},
		{name: "pids too low for threads", b: Budget{Pids: 2}, want: []string{"pids: 2 is too low: threads count too"}},
		{name: "every field reported", b: Budget{Memory: -1, CPU: -1, Pids: -1}, want: []string{"memory:", "cpu:", "pids:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestBudgetString(t *testing.T) {
	for _, tc := range []struct {
		b    Budget
		want string
	}{
		{Budget{}, "unlimited"},
		{Budget{Memory: 64 << 20, CPU: 0.25, Pids: 32}, "memory=64MiB cpu=0.25 pids=32"},
	} {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.b, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{name: "zero value", c: Config{}},
		{name: "forced rlimit", c: Config{Mode: ModeRlimit, Root: "/sys/fs/cgroup", Parent: "svc", WatchdogInterval: time.Second}},
		{name: "unknown mode", c: Config{Mode: "cgroup3"}, want: `mode "cgroup3" is unknown: use auto, cgroup2, cgroup1 or rlimit`},
		{name: "relative root", c: Config{Root: "sys/fs/cgroup"}, want: "must be an absolute path"},
		{name: "parent with slash", c: Config{Parent: "a/b"}, want: "parent: name \"a/b\" may use only"},
		{name: "parent dotdot", c: Config{Parent: ".."}, want: "is not a directory name"},
		{name: "watchdog too fast", c: Config{WatchdogInterval: time.Millisecond}, want: "at least 10ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidService(t *testing.T) {
	for name, ok := range map[string]bool{
		"aggregate": true, "my-service_2.1": true,
		"": false, "daemon": false, "a/b": false, "..": false, "sp ace": false,
		strings.Repeat("x", 65): false,
	} {
		if err := validService(name); (err == nil) != ok {
			t.Errorf("validService(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}
