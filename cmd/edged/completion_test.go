package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// edgedOnPath puts this test binary on PATH as "edged": TestMain runs it
// as the CLI for `edged __complete`.
func edgedOnPath(t *testing.T) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(exe, filepath.Join(dir, "edged")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// TestBashCompletion loads `edged completion bash` in a real bash and
// completes prefixes through its completion function: commands,
// subcommands, flags, -o values, and the running daemon's actuators and
// services (from a local API on a loopback port).
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed: apt-get install bash")
	}
	edgedOnPath(t)
	url := cannedAPI(t)
	t.Setenv("EDGED_CONFIG", "")
	var script bytes.Buffer
	if code := run(context.Background(), []string{"completion", "bash"}, &script, &script); code != 0 {
		t.Fatal(script.String())
	}
	scriptFile := filepath.Join(t.TempDir(), "edged.bash")
	os.WriteFile(scriptFile, script.Bytes(), 0o644)
	complete := func(line string) string {
		t.Helper()
		words := strings.Fields(line)
		if strings.HasSuffix(line, " ") {
			words = append(words, "")
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		sh := "source " + scriptFile + "\ncomplete -p edged >&2\n" +
			"COMP_LINE='" + line + "'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(" + strings.Join(quoted, " ") + "); COMP_CWORD=" + itoa(len(words)-1) + "\n" +
			"_edged_complete\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command(bash, "--norc", "-c", sh)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("bash: %v: %s", err, errb.String())
		}
		if !strings.Contains(errb.String(), "complete -F _edged_complete edged") {
			t.Fatalf("complete -p edged: %q", errb.String())
		}
		return strings.TrimSpace(out.String())
	}
	for line, want := range map[string]string{
		"edged sta":                                 "status",
		"edged plan st":                             "status",
		"edged status --con":                        "--config",
		"edged devices -o y":                        "yaml",
		"edged help pl":                             "plan",
		"edged completion f":                        "fish",
		"edged device set --api " + url + " f":      "fan",
		"edged service restart --api " + url + " ":  "stats\nrules",
		"edged service restart --api " + url + " r": "rules",
	} {
		if got := complete(line); got != want {
			t.Errorf("%q completes to %q, want %q", line, got, want)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestZshFishCompletionParse: the zsh and fish scripts parse (zsh -n,
// fish -n).
func TestZshFishCompletionParse(t *testing.T) {
	for _, sh := range []string{"zsh", "fish"} {
		path, err := exec.LookPath(sh)
		if err != nil {
			t.Fatalf("%s is needed: apt-get install %s", sh, sh)
		}
		var script bytes.Buffer
		if code := run(context.Background(), []string{"completion", sh}, &script, &script); code != 0 {
			t.Fatal(script.String())
		}
		f := filepath.Join(t.TempDir(), "edged."+sh)
		os.WriteFile(f, script.Bytes(), 0o644)
		if out, err := exec.Command(path, "-n", f).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v: %s", sh, err, out)
		}
	}
}
