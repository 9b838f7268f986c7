package planstore_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/sync/planstore"
)

// Example shows an apply and what a reboot with no network finds.
func Example() {
	dir, err := os.MkdirTemp("", "planstore-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "plans.db")

	s, err := planstore.Open(path, planstore.Config{})
	if err != nil {
		panic(err)
	}
	// A plan arrives: refuse replays, record the attempt, apply, keep it.
	envelope := []byte("…signed plan bytes…")
	if last, _ := s.Attempted(); 7 <= last {
		panic("replayed plan")
	}
	if err := s.SetAttempted(7); err != nil {
		panic(err)
	}
	if err := s.SetApplied(planstore.Record{Version: 7, Envelope: envelope, Artifacts: []string{"9f86d081…"}, AppliedAt: time.Now()}); err != nil {
		panic(err)
	}
	if err := s.Close(); err != nil {
		panic(err)
	}

	// After a reboot: verify the envelope again and run it.
	s, err = planstore.Open(path, planstore.Config{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	r, ok, err := s.Applied()
	if err != nil {
		panic(err)
	}
	fmt.Println(ok, r.Version, string(r.Envelope), r.Artifacts)
	// Output: true 7 …signed plan bytes… [9f86d081…]
}

// TestImports keeps the package a leaf (docs/DESIGN.md): the standard
// library and bbolt only.
func TestImports(t *testing.T) {
	for _, f := range sourceFiles(t) {
		for _, imp := range f.file.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			stdlib := !strings.Contains(strings.Split(p, "/")[0], ".") && !strings.HasPrefix(p, "github.com/edged-gateway/edged/")
			if !stdlib && p != "go.etcd.io/bbolt" && !strings.HasPrefix(p, "go.etcd.io/bbolt/") {
				t.Errorf("%s imports %s; sync/planstore may import only the standard library and bbolt", f.name, p)
			}
		}
	}
}

// TestDocComments checks that every exported name, struct fields
// included, has a doc comment that starts with the name.
func TestDocComments(t *testing.T) {
	check := func(file, name string, doc *ast.CommentGroup) {
		if !ast.IsExported(name) {
			return
		}
		if doc == nil || !strings.HasPrefix(doc.Text(), name+" ") {
			t.Errorf("%s: %s has no doc comment starting with its name", file, name)
		}
	}
	for _, f := range sourceFiles(t) {
		for _, d := range f.file.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil || ast.IsExported(recvType(d)) {
					check(f.name, d.Name.Name, d.Doc)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch sp := spec.(type) {
					case *ast.TypeSpec:
						doc := sp.Doc
						if doc == nil && len(d.Specs) == 1 {
							doc = d.Doc
						}
						check(f.name, sp.Name.Name, doc)
						if st, ok := sp.Type.(*ast.StructType); ok && ast.IsExported(sp.Name.Name) {
							for _, fld := range st.Fields.List {
								for _, n := range fld.Names {
									if !ast.IsExported(n.Name) {
										continue
									}
									check(f.name, sp.Name.Name+"."+n.Name, prefixed(fld.Doc, sp.Name.Name+"."))
								}
							}
						}
					case *ast.ValueSpec:
						doc := sp.Doc
						if doc == nil && len(d.Specs) == 1 {
							doc = d.Doc
						}
						for _, n := range sp.Names {
							check(f.name, n.Name, doc)
						}
					}
				}
			}
		}
	}
}

// prefixed returns doc with prefix put before its text, so a field's
// comment is checked as starting with Type.Field.
func prefixed(doc *ast.CommentGroup, prefix string) *ast.CommentGroup {
	if doc == nil {
		return nil
	}
	return &ast.CommentGroup{List: []*ast.Comment{{Text: "// " + prefix + strings.TrimPrefix(doc.List[0].Text, "// ")}}}
}

// recvType is the name of a method's receiver type.
func recvType(d *ast.FuncDecl) string {
	switch x := d.Recv.List[0].Type.(type) {
	case *ast.StarExpr:
		return x.X.(*ast.Ident).Name
	case *ast.Ident:
		return x.Name
	}
	return ""
}

type source struct {
	name string
	file *ast.File
}

// sourceFiles parses the package's non-test files.
func sourceFiles(t *testing.T) []source {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []source
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), n, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, source{n, f})
	}
	if len(out) < 5 {
		t.Fatalf("found only %d source files", len(out))
	}
	return out
}
