// Command hostile is a third-party service that misbehaves before its
// handshake, for the supervisor's sandbox tests. Its first act is to read
// /proc/self/cgroup; then it tries to read the files listed in HOSTILE_READ
// (separated by ':'), starts a child (/bin/sleep) when HOSTILE_FORK is set,
// writes what it saw (cgroup, user, environment, what it
// could read) as JSON to HOSTILE_REPORT, touches HOSTILE_ALLOC_MIB MiB at
// once, and only then serves. It reports itself unhealthy when
// HOSTILE_HEALTH is "bad".
package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/edged-gateway/edged/sdk/pluginapi"
)

// held keeps the allocation alive.
var held []byte

type report struct {
	Cgroup string            `json:"cgroup"`
	UID    int               `json:"uid"`
	GID    int               `json:"gid"`
	Groups []int             `json:"groups"`
	Env    []string          `json:"env"`
	Reads  map[string]string `json:"reads"` // path -> "ok" or the error
	Child  int               `json:"child,omitempty"`
}

func main() {
	cg, err := os.ReadFile("/proc/self/cgroup")
	r := report{Cgroup: string(cg), UID: os.Getuid(), GID: os.Getgid(), Reads: map[string]string{}}
	if err != nil {
		r.Cgroup = "error: " + err.Error()
	}
	r.Groups, _ = os.Getgroups()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PLUGIN_CLIENT_CERT=") { // long, and not of interest
			r.Env = append(r.Env, kv)
		}
	}
	if dir := os.Getenv("STATE_DIRECTORY"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "state"), []byte("mine\n"), 0o600); err != nil {
			r.Reads["write state"] = err.Error()
		} else {
			r.Reads["write state"] = "ok"
		}
	}
	for _, f := range filepath.SplitList(os.Getenv("HOSTILE_READ")) {
		if _, err := os.ReadFile(f); err != nil {
			r.Reads[f] = err.Error()
		} else {
			r.Reads[f] = "ok"
		}
	}
	if os.Getenv("HOSTILE_FORK") != "" {
		c := exec.Command("/bin/sleep", "3600")
		if err := c.Start(); err == nil {
			r.Child = c.Process.Pid
		}
	}
	if path := os.Getenv("HOSTILE_REPORT"); path != "" {
		b, _ := json.Marshal(r)
		tmp := path + ".tmp"
		if os.WriteFile(tmp, b, 0o644) == nil {
			os.Rename(tmp, path)
		}
	}
	if n, _ := strconv.Atoi(os.Getenv("HOSTILE_ALLOC_MIB")); n > 0 {
		b := make([]byte, n<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		held = b
	}
	pluginapi.Serve(&service{bad: os.Getenv("HOSTILE_HEALTH") == "bad"})
}

type service struct{ bad bool }

func (s *service) Configure(context.Context, pluginapi.Config) error { return nil }

func (s *service) Process(context.Context, []pluginapi.Reading, pluginapi.Host) error { return nil }

func (s *service) Health(context.Context) (bool, string) {
	if s.bad {
		return false, "deliberately unhealthy"
	}
	return true, "fine"
}
