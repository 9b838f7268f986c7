package main

import (
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// `edged config check --explain FILE` checks FILE as `config check` does
// and then prints every key outside lists with its effective value and
// where that came from: default, file, or env EDGED_…. Lists and mappings
// are summarised by their length. Nothing a key names is read (a
// password_file's contents stay where they are), and keys that would hold
// a secret themselves print as ***.

// explainArgs recognises `check --explain FILE` and `check FILE --explain`
// (and `check --explain` without FILE, which cmdConfigExplain refuses).
func explainArgs(args []string) (file string, ok bool) {
	if len(args) == 2 && args[0] == "check" && args[1] == "--explain" {
		return "", true
	}
	if len(args) != 3 || args[0] != "check" {
		return "", false
	}
	switch {
	case args[1] == "--explain" && args[2] != "--explain":
		return args[2], true
	case args[2] == "--explain" && args[1] != "--explain":
		return args[1], true
	}
	return "", false
}

// cmdConfigExplain checks path with the overrides in environ and explains
// the result. Exit codes are config check's: 0 valid, 1 problems.
func cmdConfigExplain(path string, environ []string, stdout, stderr io.Writer) int {
	if path == "" {
		fmt.Fprintf(stderr, "edged config check --explain: want one FILE\n\n%s", configUsage)
		return 2
	}
	cfg, _, err := loadConfigEnv(path, builtinKinds(), environ)
	if err != nil {
		printConfigErr(stdout, path, err)
		return 1
	}
	inFile, err := fileKeys(path)
	if err != nil { // loadConfigEnv read it a moment ago
		printConfigErr(stdout, path, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	explainConfig(stdout, cfg, inFile, envOrigins(environ))
	return 0
}

// explainConfig prints one aligned line per key: path, value, origin.
func explainConfig(w io.Writer, cfg Config, inFile map[string]bool, env map[string]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	root := reflect.ValueOf(cfg)
	for _, k := range configKeys() {
		if k.inList() || k.Shape == shapeStruct || k.Shape == shapeNode {
			continue
		}
		origin := "default"
		if name, ok := env[k.Path]; ok {
			origin = "env " + name
		} else if inFile[k.Path] {
			origin = "file"
		}
		v := root.FieldByIndex(k.Index)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Path, explainValue(k, v), origin)
	}
	tw.Flush()
}

// explainValue is how a key's value prints: as the file would say it.
func explainValue(k configKey, v reflect.Value) string {
	switch k.Shape {
	case shapeList:
		return plural(v.Len(), "item")
	case shapeMap:
		return plural(v.Len(), "entry")
	}
	if v.IsZero() {
		if d, ok := zeroMeans[k.Path]; ok {
			return d
		}
	}
	if secretKey(k.Path) && !v.IsZero() {
		return "***"
	}
	switch x := v.Interface().(type) {
	case time.Duration:
		return shortDuration(x)
	case yamlconf.Size:
		return x.String()
	case string:
		return yamlScalar(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v.Interface())
}

// plural is "1 item", "3 items", "2 entries".
func plural(n int, one string) string {
	if n == 1 {
		return "1 " + one
	}
	if strings.HasSuffix(one, "y") {
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(one, "y"))
	}
	return fmt.Sprintf("%d %ss", n, one)
}

// yamlScalar prints s as a YAML scalar: "" for empty, quoted when plain
// would read differently.
func yamlScalar(s string) string {
	out, err := yaml.Marshal(s)
	if err != nil {
		return strconv.Quote(s)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// secretKey reports whether the key at path holds a secret itself (not a
// file naming one): such values print as ***.
func secretKey(path string) bool {
	last := path[strings.LastIndex(path, ".")+1:]
	if strings.HasSuffix(last, "_file") {
		return false
	}
	for _, w := range []string{"password", "passwd", "token", "secret", "private_key"} {
		if strings.Contains(last, w) {
			return true
		}
	}
	return false
}

// fileKeys are the key paths path sets (sections, and keys outside lists;
// a list's own key but nothing inside it).
func fileKeys(path string) (map[string]bool, error) {
	keys := map[string]bool{}
	if path == "" {
		return keys, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return fileKeysData(data)
}

// fileKeysData are the key paths the YAML document data sets.
func fileKeysData(data []byte) (map[string]bool, error) {
	keys := map[string]bool{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 1 {
		walkFileKeys(doc.Content[0], "", keys)
	}
	return keys, nil
}

func walkFileKeys(n *yaml.Node, prefix string, keys map[string]bool) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "<<" { // a merge: its keys are this mapping's
			walkFileKeys(v, prefix, keys)
			continue
		}
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		keys[path] = true
		if sectionKey(path) { // only Config's sections: the walk is as deep as Config
			walkFileKeys(v, path, keys)
		}
	}
}

// sectionKey reports whether path is a section of keys (cloud, cloud.tls).
func sectionKey(path string) bool {
	for _, k := range configKeys() {
		if k.Path == path {
			return k.Shape == shapeStruct
		}
	}
	return false
}

// envOrigins maps each key an EDGED_ variable in environ sets to the
// variable.
func envOrigins(environ []string) map[string]string {
	keys := envKeys()
	m := map[string]string{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if k, ok := keys[name]; ok {
			m[k.Path] = name
		}
	}
	return m
}
