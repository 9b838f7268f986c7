package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Shell completion. The scripts that `edged completion SHELL` prints are
// small shims: on TAB they run `edged __complete WORD…` with the words of
// the command line (the last one is the word being completed), and this
// file answers with the candidates, one a line. Commands and subcommands
// come from the tree below; each command's flags from its own --help (so
// they cannot drift); the names for `device set` and `service restart` from
// the running daemon: one GET to its local API (found as the command line
// says: --config, --api, or the defaults), given up after completeTimeout.

const completeCommand = "__complete"

// completeTimeout bounds the API call a completion may make.
const completeTimeout = 2 * time.Second

// argKind is what a command's positional arguments complete to.
type argKind int

const (
	argNone argKind = iota
	argFiles
	argCommands
	argShells
	argActuators // the running daemon's actuators
	argServices  // the running daemon's services
)

// cmdNode is a command of the completion tree.
type cmdNode struct {
	name, help string
	sub        []cmdNode
	args       argKind // the first positional argument (later ones: files for argFiles, else nothing)
}

var completionTree = cmdNode{sub: []cmdNode{
	{name: "run", help: "run the daemon"},
	{name: "config", help: "check a config, or print the defaults", sub: []cmdNode{
		{name: "check", help: "check a config file", args: argFiles},
		{name: "defaults", help: "print the defaults as YAML"},
		{name: "reload", help: "have the running daemon apply its config file again"},
	}},
	{name: "status", help: "the running daemon's status"},
	{name: "devices", help: "its devices and their latest readings"},
	{name: "services", help: "its services"},
	{name: "health", help: "probe the running daemon's /healthz (or /readyz)"},
	{name: "hardware", help: "the host's drivers, buses and pins"},
	{name: "device", help: "command an actuator", sub: []cmdNode{
		{name: "set", help: "command an actuator of the running daemon", args: argActuators},
	}},
	{name: "service", help: "restart a service", sub: []cmdNode{
		{name: "restart", help: "restart a service of the running daemon", args: argServices},
	}},
	{name: "deadletters", help: "readings the cloud refused for good", sub: []cmdNode{
		{name: "list", help: "list the dead letters"},
		{name: "show", help: "show one dead letter"},
		{name: "replay", help: "send dead letters again (new seqs)"},
		{name: "drop", help: "delete dead letters"},
	}},
	{name: "broker", help: "the embedded broker's users", sub: []cmdNode{
		{name: "passwd", help: "add or change a user", args: argFiles},
	}},
	{name: "plan", help: "signed orchestration plans", sub: []cmdNode{
		{name: "keygen", help: "make a key pair"},
		{name: "check", help: "check a plan", args: argFiles},
		{name: "sign", help: "check and sign a plan", args: argFiles},
		{name: "verify", help: "check an envelope's signature and plan", args: argFiles},
		{name: "apply", help: "apply an envelope on the running daemon", args: argFiles},
		{name: "push", help: "publish an envelope to a gateway", args: argFiles},
		{name: "status", help: "the latest plan status"},
	}},
	{name: "completion", help: "print a shell completion script", args: argShells},
	{name: "version", help: "print the build version"},
	{name: "help", help: "explain a command", args: argCommands},
}}

// fileFlags are the flags whose value is a file name.
var fileFlags = []string{"config", "token-file", "key", "pub", "reset-pub", "out", "password-file", "ca-file", "cert-file", "key-file"}

const completionUsage = `Usage: edged completion bash|zsh|fish

Prints a completion script for the shell: it completes commands,
subcommands, flags, -o formats and file names, and the names of the running
daemon's actuators (edged device set) and services (edged service restart),
asked from its local API as the command line says (--config, --api, or the
default 127.0.0.1:8080), at most 2 s per TAB; without a daemon there are no
names to offer.

  bash:  source <(edged completion bash)             # in ~/.bashrc
         edged completion bash > /etc/bash_completion.d/edged
  zsh:   source <(edged completion zsh)              # in ~/.zshrc, after compinit
  fish:  edged completion fish > ~/.config/fish/completions/edged.fish
`

func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (isHelp(args[0]) || args[0] == "help") {
		fmt.Fprint(stdout, completionUsage)
		return exitOK
	}
	if len(args) != 1 {
		fmt.Fprint(stderr, completionUsage)
		return exitUsage
	}
	switch args[0] {
	case "bash":
		io.WriteString(stdout, bashCompletion)
	case "zsh":
		io.WriteString(stdout, zshCompletion)
	case "fish":
		io.WriteString(stdout, fishCompletion)
	default:
		fmt.Fprintf(stderr, "edged completion: no shell %q%s: use bash, zsh or fish\n", args[0], didYouMean(args[0], []string{"bash", "zsh", "fish"}))
		return exitUsage
	}
	return exitOK
}

const bashCompletion = `# bash completion for edged: source <(edged completion bash)
_edged_complete() {
    local line=${COMP_LINE:0:COMP_POINT}
    local -a words
    read -r -a words <<<"$line"
    if [[ -z $line || $line =~ [[:space:]]$ ]]; then words+=(""); fi
    mapfile -t COMPREPLY < <(command "${words[0]}" __complete --shell bash --breaks "$COMP_WORDBREAKS" -- "${words[@]:1}" 2>/dev/null)
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
complete -F _edged_complete edged
`

const zshCompletion = `# zsh completion for edged: source <(edged completion zsh), after compinit
_edged() {
    local -a lines cands
    local line word desc
    lines=("${(@f)$(command ${words[1]} __complete --shell zsh -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for line in $lines; do
        if [[ $line == ":files" ]]; then
            _files
            return
        fi
        word=${line%%$'\t'*}
        desc=${line#*$'\t'}
        if [[ $desc == $line || -z $desc ]]; then
            cands+=("${word//:/\\:}")
        else
            cands+=("${word//:/\\:}:$desc")
        fi
    done
    (( ${#cands} )) && _describe -t edged edged cands
}
compdef _edged edged
`

const fishCompletion = `# fish completion for edged: edged completion fish > ~/.config/fish/completions/edged.fish
function __edged_complete
    set -l words (commandline -opc)
    set -l cur (commandline -ct)
    set -l out (command $words[1] __complete --shell fish -- $words[2..-1] $cur 2>/dev/null)
    if contains -- :files $out
        __fish_complete_path $cur
        return
    end
    printf '%s\n' $out
end
complete -c edged -f -a '(__edged_complete)'
`

// candidate is one completion, with a description for zsh and fish.
type candidate struct{ word, desc string }

// cmdComplete implements the hidden `edged __complete [--shell S]
// [--breaks CHARS] -- WORD…`.
func cmdComplete(ctx context.Context, args []string, stdout io.Writer) int {
	fs := flag.NewFlagSet("edged "+completeCommand, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	shell := fs.String("shell", "bash", "bash, zsh or fish")
	breaks := fs.String("breaks", "", "bash's COMP_WORDBREAKS")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	words := fs.Args()
	if len(words) == 0 {
		words = []string{""}
	}
	cands, files := complete(ctx, words)
	cur := words[len(words)-1]
	if files && *shell != "bash" && len(cands) == 0 {
		fmt.Fprintln(stdout, ":files")
		return exitOK
	}
	if files {
		cands = append(cands, fileCandidates(cur)...)
	}
	// bash replaces only the part of the word after its last word break
	// (--config=FILE: FILE); the others take the whole word.
	trim := 0
	if *shell == "bash" {
		if i := strings.LastIndexAny(cur, strings.Trim(*breaks, " \t\n")); i >= 0 {
			trim = i + 1
		}
	}
	for _, c := range cands {
		w := c.word
		if trim > 0 && len(w) >= trim {
			w = w[trim:]
		}
		if *shell == "bash" || c.desc == "" {
			fmt.Fprintln(stdout, w)
		} else {
			fmt.Fprintf(stdout, "%s\t%s\n", w, c.desc)
		}
	}
	return exitOK
}

// complete returns the candidates for the last of words (the words after
// "edged"), filtered by its prefix, and whether file names fit there too.
func complete(ctx context.Context, words []string) ([]candidate, bool) {
	cur, prev := words[len(words)-1], words[:len(words)-1]
	node, path := completionTree, []string{}
	var flags []flagInfo
	flagsLoaded := false
	loadFlags := func() []flagInfo {
		if !flagsLoaded {
			flags, flagsLoaded = flagsOf(ctx, path), true
		}
		return flags
	}
	positional := 0
	dashdash := false
	var apiArgs []string // --api, --config, --token-file as given, for the daemon's names
	for i := 0; i < len(prev); i++ {
		w := prev[i]
		if !dashdash && w == "--" {
			dashdash = true
			continue
		}
		if !dashdash && len(w) > 1 && w[0] == '-' {
			name, _, hasValue := strings.Cut(strings.TrimLeft(w, "-"), "=")
			f, ok := findFlag(loadFlags(), name)
			if ok && f.takesValue && !hasValue {
				if i+1 == len(prev) { // cur is this flag's value
					return filterPrefix(flagValues(f.name), cur), slices.Contains(fileFlags, f.name)
				}
				if isAPIFlag(name) {
					apiArgs = append(apiArgs, "--"+name, prev[i+1])
				}
				i++
			} else if ok && isAPIFlag(name) {
				apiArgs = append(apiArgs, w)
			}
			continue
		}
		if positional == 0 {
			if sub, ok := findSub(node, w); ok {
				node, path, flagsLoaded = sub, append(path, w), false
				continue
			}
		}
		positional++
	}
	if !dashdash && strings.HasPrefix(cur, "-") {
		if name, value, ok := strings.Cut(strings.TrimLeft(cur, "-"), "="); ok {
			dashes := cur[:len(cur)-len(strings.TrimLeft(cur, "-"))]
			var out []candidate
			for _, c := range filterPrefix(flagValues(name), value) {
				out = append(out, candidate{dashes + name + "=" + c.word, c.desc})
			}
			return out, false
		}
		if len(path) == 0 {
			return filterPrefix([]candidate{{"--help", "explain edged"}, {"--version", "print the build version"}}, cur), false
		}
		var out []candidate
		for _, f := range loadFlags() {
			dash := "--"
			if len(f.name) == 1 {
				dash = "-"
			}
			out = append(out, candidate{dash + f.name, f.usage})
		}
		out = append(out, candidate{"--help", "explain this command"})
		return filterPrefix(out, cur), false
	}
	if positional == 0 && len(node.sub) > 0 {
		var out []candidate
		for _, s := range node.sub {
			out = append(out, candidate{s.name, s.help})
		}
		return filterPrefix(out, cur), false
	}
	switch node.args {
	case argFiles:
		return nil, true
	case argCommands:
		if positional == 0 {
			var out []candidate
			for _, s := range completionTree.sub {
				out = append(out, candidate{s.name, s.help})
			}
			return filterPrefix(out, cur), false
		}
	case argShells:
		if positional == 0 {
			return filterPrefix([]candidate{{"bash", ""}, {"zsh", ""}, {"fish", ""}}, cur), false
		}
	case argActuators, argServices:
		if positional == 0 {
			return filterPrefix(daemonNames(ctx, node.args, apiArgs), cur), false
		}
	}
	return nil, false
}

func isAPIFlag(name string) bool { return name == "api" || name == "config" || name == "token-file" }

func findSub(n cmdNode, name string) (cmdNode, bool) {
	for _, s := range n.sub {
		if s.name == name {
			return s, true
		}
	}
	return cmdNode{}, false
}

// flagValues are the values a flag completes to.
func flagValues(name string) []candidate {
	if name == "o" || name == "output" {
		return []candidate{{outTable, "aligned columns for people"}, {outJSON, "the API's JSON"}, {outYAML, "the same as YAML"}}
	}
	return nil
}

func filterPrefix(cs []candidate, prefix string) []candidate {
	var out []candidate
	for _, c := range cs {
		if strings.HasPrefix(c.word, prefix) {
			out = append(out, c)
		}
	}
	return out
}

// fileCandidates are the files and directories (with a trailing /) whose
// path starts with prefix.
func fileCandidates(prefix string) []candidate {
	if i := strings.LastIndex(prefix, "="); i >= 0 && strings.HasPrefix(prefix, "-") {
		prefix = prefix[i+1:]
	}
	dir, base := filepath.Split(prefix)
	list := dir
	if list == "" {
		list = "."
	}
	entries, err := os.ReadDir(list)
	if err != nil {
		return nil
	}
	var out []candidate
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) || (strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".")) {
			continue
		}
		if e.IsDir() {
			name += "/"
		}
		out = append(out, candidate{dir + name, ""})
	}
	return out
}

// daemonNames asks the running daemon for its actuators or services.
func daemonNames(ctx context.Context, kind argKind, apiArgs []string) []candidate {
	fs := flag.NewFlagSet("complete", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	api := apiFlags(fs)
	if fs.Parse(apiArgs) != nil {
		return nil
	}
	var out []candidate
	if kind == argActuators {
		var doc devicesList
		if _, err := api.callTimeout(ctx, http.MethodGet, "/api/v1/devices", nil, &doc, completeTimeout); err != nil {
			return nil
		}
		for _, d := range doc.Devices {
			if d.Actuator {
				out = append(out, candidate{d.Name, d.Kind})
			}
		}
		return out
	}
	var doc servicesList
	if _, err := api.callTimeout(ctx, http.MethodGet, "/api/v1/services", nil, &doc, completeTimeout); err != nil {
		return nil
	}
	for _, s := range doc.Services {
		out = append(out, candidate{s.Name, s.State})
	}
	return out
}

// flagInfo is one flag of a command, as its --help lists it.
type flagInfo struct {
	name, usage string
	takesValue  bool
}

func findFlag(fs []flagInfo, name string) (flagInfo, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return flagInfo{}, false
}

// flagLine is a flag in flag.PrintDefaults's output: "  -name type" or
// "  -name" (a bool), or "  -x\tusage" for a one-letter bool.
var flagLine = regexp.MustCompile(`^  -([A-Za-z0-9][\w.-]*)( [^\s]+)?(\t.*)?$`)

// flagsOf lists the flags of the command at path from its --help.
func flagsOf(ctx context.Context, path []string) []flagInfo {
	if len(path) == 0 || slices.Contains([]string{"help", "version", "completion", "config"}, path[0]) {
		return nil
	}
	var buf bytes.Buffer
	run(ctx, append(slices.Clone(path), "--help"), &buf, io.Discard)
	var out []flagInfo
	lines := strings.Split(buf.String(), "\n")
	for i, l := range lines {
		m := flagLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		f := flagInfo{name: m[1], takesValue: m[2] != ""}
		if m[3] != "" {
			f.usage = strings.TrimSpace(m[3])
		} else if i+1 < len(lines) {
			f.usage = strings.TrimSpace(lines[i+1])
		}
		out = append(out, f)
	}
	return out
}
