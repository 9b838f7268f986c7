package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/edged-gateway/edged/internal/yamlconf"
)

// explainEnv sets keys the file does not, and one the file does.
var explainEnv = []string{
	"EDGED_CLOUD_BATCH=16",
	"EDGED_OUTBOX_MAX_BYTES=64Mi",
	"EDGED_LOG_LEVEL=debug",
	"EDGED_HARDWARE_SAFE_TIMEOUT=5s",
	"PATH=/usr/bin",                      // not ours
	"EDGED_CONFIG=/etc/edged/edged.yaml", // the CLI's, not a key
}

// TestConfigExplainGolden: `config check --explain` prints every key with
// its value and origin (default, file, env), lists as counts, and never
// the password file's contents.
func TestConfigExplainGolden(t *testing.T) {
	const file = "testdata/config/explain/edged.yaml"
	var out bytes.Buffer
	if code := cmdConfigExplain(file, explainEnv, &out, &out); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	got := out.String()
	golden := "testdata/config/explain/edged.golden"
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run TestConfigExplainGolden -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (-update rewrites it):\n%s", golden, got)
	}
	secret, _ := os.ReadFile("testdata/config/explain/cloud.pass")
	if strings.Contains(got, strings.TrimSpace(string(secret))) {
		t.Errorf("the password file's contents are in the output")
	}
	// Every key outside lists has its line.
	for _, k := range configKeys() {
		if k.inList() || k.Shape == shapeStruct || k.Shape == shapeNode {
			continue
		}
		if !strings.Contains(got, "\n"+k.Path+" ") {
			t.Errorf("no line for %s", k.Path)
		}
	}
}

// TestConfigExplainCommand: the flag goes before or after FILE, reads the
// process environment, and a file with problems exits 1 like config check
// without explaining.
func TestConfigExplainCommand(t *testing.T) {
	t.Setenv("EDGED_CLOUD_INFLIGHT", "7")
	good := "testdata/config/explain/edged.yaml"
	for _, args := range [][]string{{"config", "check", "--explain", good}, {"config", "check", good, "--explain"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d:\n%s%s", args, code, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), good+": ok\n") || !lineMatches(out.String(), "cloud.inflight", "7", "env EDGED_CLOUD_INFLIGHT") {
			t.Fatalf("%v:\n%s", args, out.String())
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("outbox: {max_age: 7d}\ncloud: {batch: 0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"config", "check", "--explain", bad}, &out, &errb); code != 1 {
		t.Fatalf("bad file: exit %d, want 1:\n%s%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "outbox.max_age:") || !strings.Contains(out.String(), "cloud.batch:") || strings.Contains(out.String(), "default") {
		t.Fatalf("bad file: want both problems and no explanation:\n%s", out.String())
	}

	// Without FILE: a usage error, not "open --explain".
	out.Reset()
	errb.Reset()
	if code := run(context.Background(), []string{"config", "check", "--explain"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "want one FILE") {
		t.Fatalf("no FILE: exit %d:\n%s%s", code, out.String(), errb.String())
	}

	// A bad override is a problem too.
	out.Reset()
	if code := cmdConfigExplain(good, []string{"EDGED_CLOUD_URLL=mqtt://x:1883"}, &out, &out); code != 1 || !strings.Contains(out.String(), "EDGED_CLOUD_URLL") {
		t.Fatalf("bad override: exit %d:\n%s", code, out.String())
	}
}

// lineMatches reports whether out has a line with these fields.
func lineMatches(out string, fields ...string) bool {
	want := strings.Join(fields, " ")
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == want {
			return true
		}
	}
	return false
}

// TestExplainSecrets: keys holding a secret themselves print as ***;
// files naming one print their path.
func TestExplainSecrets(t *testing.T) {
	for path, want := range map[string]bool{"cloud.password": true, "x.api_token": true, "x.client_secret": true, "cloud.password_file": false,
		"http.token_file": false, "local_mqtt.passwd_file": false, "cloud.username": false, "cloud.tls.key_file": false} {
		if secretKey(path) != want {
			t.Errorf("secretKey(%q) = %v, want %v", path, !want, want)
		}
	}
	k := configKey{Path: "x.token", Type: reflect.TypeFor[string](), Shape: shapeScalar}
	if got := explainValue(k, reflect.ValueOf("hunter2")); got != "***" {
		t.Errorf("a token prints as %q", got)
	}
	if got := explainValue(k, reflect.ValueOf("")); got != `""` {
		t.Errorf("an empty token prints as %q", got)
	}
}

// TestConfigDefaultsComplete: `config defaults` names every key the file
// may set (every key outside lists: sections, values, lists and maps), and
// parses back into the defaults. Keys whose 0 means a default elsewhere
// print that default (zeroMeans); empty lists print as [] and maps as {}.
func TestConfigDefaultsComplete(t *testing.T) {
	out := defaultsYAML()
	keys, err := fileKeysData([]byte(out))
	if err != nil {
		t.Fatalf("defaults are not YAML: %v\n%s", err, out)
	}
	for _, k := range configKeys() {
		if !k.inList() && !keys[k.Path] {
			t.Errorf("config defaults does not print %s", k.Path)
		}
	}
	for p := range keys {
		if !knownKey(p) {
			t.Errorf("config defaults prints %s, which is no key", p)
		}
	}

	var got Config
	if err := yamlconf.Decode([]byte(out), &got); err != nil {
		t.Fatalf("defaults do not decode: %v\n%s", err, out)
	}
	want := defaultConfig()
	gv, wv := reflect.ValueOf(&got).Elem(), reflect.ValueOf(&want).Elem()
	for p, d := range zeroMeans {
		k := keyAt(t, p)
		if s := explainValue(k, gv.FieldByIndex(k.Index)); s != d {
			t.Errorf("%s prints %s, want its default %s", p, s, d)
		}
		if !wv.FieldByIndex(k.Index).IsZero() {
			t.Errorf("%s is in zeroMeans but defaultConfig sets it", p)
		}
		f := gv.FieldByIndex(k.Index)
		f.Set(reflect.Zero(f.Type()))
	}
	// Devices: same names, kinds, intervals and options.
	if len(got.Devices) != len(want.Devices) {
		t.Fatalf("defaults print %d devices, want %d", len(got.Devices), len(want.Devices))
	}
	for i := range want.Devices {
		g, w := got.Devices[i], want.Devices[i]
		var go_, wo map[string]any
		if err := g.Options.Decode(&go_); err != nil {
			t.Fatal(err)
		}
		if err := w.Options.Decode(&wo); err != nil {
			t.Fatal(err)
		}
		if g.Name != w.Name || g.Kind != w.Kind || g.Interval != w.Interval || !reflect.DeepEqual(go_, wo) {
			t.Errorf("devices[%d] prints as %+v %v, want %+v %v", i, g, go_, w, wo)
		}
	}
	got.Devices, want.Devices = nil, nil
	emptyToNil(gv)
	emptyToNil(wv)
	if !reflect.DeepEqual(got, want) {
		gy, _ := yaml.Marshal(got)
		wy, _ := yaml.Marshal(want)
		t.Fatalf("defaults parse into\n%s\nwant\n%s", gy, wy)
	}
}

func knownKey(p string) bool {
	for _, k := range configKeys() {
		if k.Path == p {
			return true
		}
	}
	return false
}

func keyAt(t *testing.T, path string) configKey {
	for _, k := range configKeys() {
		if k.Path == path {
			return k
		}
	}
	t.Fatalf("no key %s", path)
	return configKey{}
}

// emptyToNil makes empty slices and maps nil, in exported fields: the
// defaults print "none" as [] and {}.
func emptyToNil(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			emptyToNil(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				emptyToNil(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 && !v.IsNil() && v.CanSet() {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// TestReadmeConfigReference: README's configuration reference names only
// real keys, and its values are what `config defaults` prints (but for
// gateway.id, the host's, and the devices, of which it shows one).
func TestReadmeConfigReference(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	start := strings.Index(text, "## Configuration reference")
	if start < 0 {
		t.Fatal(`README has no "## Configuration reference"`)
	}
	i := strings.Index(text[start:], "\n```yaml\n")
	if i < 0 {
		t.Fatal("no yaml block in README's configuration reference")
	}
	block := text[start+i+len("\n```yaml\n"):]
	block = block[:strings.Index(block, "\n```")]

	var defaults Config
	if err := yamlconf.Decode([]byte(defaultsYAML()), &defaults); err != nil {
		t.Fatal(err)
	}
	var again Config
	if err := yamlconf.Decode([]byte(defaultsYAML()), &again); err != nil {
		t.Fatal(err)
	}
	got := again // README's values on top of the printed defaults
	if err := yamlconf.Decode([]byte(block), &got); err != nil {
		t.Fatalf("README's reference does not decode: %v", err)
	}
	got.Gateway.ID = defaults.Gateway.ID
	got.Devices, defaults.Devices = nil, nil
	emptyToNil(reflect.ValueOf(&got).Elem())
	emptyToNil(reflect.ValueOf(&defaults).Elem())
	if !reflect.DeepEqual(got, defaults) {
		gy, _ := yaml.Marshal(got)
		dy, _ := yaml.Marshal(defaults)
		t.Fatalf("README's reference says\n%s\nconfig defaults says\n%s", gy, dy)
	}
}

// FuzzFileKeys: any document, keys found or an error, never a panic or a
// walk deeper than Config's sections.
func FuzzFileKeys(f *testing.F) {
	f.Add([]byte("cloud: {url: mqtt://x:1883, tls: {ca_file: a}}\ndevices: [{name: a}]\n"))
	f.Add([]byte("base: &b {batch: 3}\ncloud: {<<: *b, url: x}\n"))
	f.Add([]byte("gateway: {labels: &l {a: *l}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := fileKeysData(data)
		if err != nil {
			return
		}
		for k := range keys {
			if strings.Count(k, ".") > 5 {
				t.Fatalf("key %q is deeper than any section of Config", k)
			}
		}
	})
}
