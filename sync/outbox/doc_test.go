package outbox_test

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/reading"
	"github.com/edged-gateway/edged/sync/outbox"
)

// Example shows the producer and the forwarder side.
func Example() {
	dir, err := os.MkdirTemp("", "outbox-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	o, err := outbox.Open(outbox.Config{Path: filepath.Join(dir, "outbox.db")})
	if err != nil {
		panic(err)
	}
	defer o.Close()
	ctx := context.Background()

	// A producer: Append returns once the readings are durable.
	rs := []reading.Reading{
		{Device: "bme280-1", Metric: "temperature", Value: 21.5, Unit: "C", Time: time.Now()},
		{Device: "bme280-1", Metric: "humidity", Value: 40, Unit: "%", Time: time.Now()},
	}
	if err := o.Append(ctx, rs); err != nil {
		panic(err)
	}

	// The forwarder: take Changed before Peek so no commit is missed,
	// publish, then Ack what the broker acknowledged.
	var sent uint64
	changed := o.Changed()
	batch, err := o.Peek(sent, 500, nil)
	if err != nil {
		panic(err)
	}
	seqs := make([]uint64, 0, len(batch))
	for _, r := range batch {
		fmt.Println(r.Seq, r.Metric, r.Value) // publish(r) in real life
		seqs = append(seqs, r.Seq)
		sent = r.Seq
	}
	if err := o.Ack(ctx, seqs); err != nil {
		panic(err)
	}
	select {
	case <-changed: // new readings were appended meanwhile
	default:
	}
	fmt.Println("depth", o.Stats().Depth)
	// Output:
	// 1 temperature 21.5
	// 2 humidity 40
	// depth 0
}

// TestImports keeps the package inside its bounds (docs/DESIGN.md): the
// standard library, bbolt, edged/reading and edged/internal/latency only.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range ast.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			stdlib := !strings.Contains(strings.Split(p, "/")[0], ".") && !strings.HasPrefix(p, "github.com/edged-gateway/edged/")
			if !stdlib && p != "github.com/edged-gateway/edged/reading" && p != "github.com/edged-gateway/edged/internal/latency" && p != "go.etcd.io/bbolt" && !strings.HasPrefix(p, "go.etcd.io/bbolt/") {
				t.Errorf("%s imports %s; sync/outbox may import only the standard library, bbolt, edged/reading and edged/internal/latency", f, p)
			}
		}
	}
}
