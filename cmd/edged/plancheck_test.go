package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edged/runtime/plan"
)

// TestPlanCheckGolden checks plans against a gateway's config the way the
// daemon does before it changes anything: every problem with its field
// path, compared with testdata/plans/bad/*.golden (-update rewrites them).
func TestPlanCheckGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/plans/bad/*.yaml")
	if len(files) < 5 {
		t.Fatalf("only %d bad plans found", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), []string{"plan", "check", "--config", "testdata/plans/gateway.yaml", f}, &out, &errb)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errb.String())
			}
			matchGolden(t, strings.TrimSuffix(f, ".yaml")+".golden", out.Bytes())
		})
	}
	goods, _ := filepath.Glob("testdata/plans/good/*.yaml")
	examples, _ := filepath.Glob("../../examples/plans/*.yaml")
	goods = append(goods, examples...)
	for _, f := range goods {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{"plan", "check", "--config", "testdata/plans/gateway.yaml", f}, &out, &errb); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
			}
		})
	}
}

// FuzzPlanWorkload feeds plans through the whole check a gateway runs
// (parse, then the config validation of every section): it must answer
// with problems, never panic.
func FuzzPlanWorkload(f *testing.F) {
	files, _ := filepath.Glob("testdata/plans/*/*.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	base, _, err := loadConfig("testdata/plans/gateway.yaml", builtinKinds())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := plan.Parse(data)
		if err != nil {
			return
		}
		w, err := planWorkload(base, p, builtinKinds(), "artifacts")
		if err == nil && len(w.specs) != len(w.cfg.Services) {
			t.Fatalf("%d specs for %d services", len(w.specs), len(w.cfg.Services))
		}
	})
}
