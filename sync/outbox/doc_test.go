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

// store is runtime/forwarder.Store, which a *Cursor satisfies.
type store interface {
	Peek(after uint64, n int, dst []reading.Reading) ([]reading.Reading, error)
	Ack(ctx context.Context, seqs []uint64) error
	Changed() <-chan struct{}
}

var _ store = (*outbox.Cursor)(nil)

// ExampleOutbox_SetCursors shows two consumers of one log: a route that
// also gets what is stored, and a service that gets only what comes next.
func ExampleOutbox_SetCursors() {
	dir, _ := os.MkdirTemp("", "outbox-example")
	defer os.RemoveAll(dir)
	o, err := outbox.Open(outbox.Config{Path: filepath.Join(dir, "outbox.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer o.Close()
	ctx := context.Background()
	now := time.Now() // within the default age cap
	_ = o.Append(ctx, []reading.Reading{{Device: "porch", Metric: "temperature", Value: 35, Time: now}})
	err = o.SetCursors(ctx, []outbox.CursorSpec{
		{Name: "route:cloud", Start: outbox.FromOldest},
		{Name: "service:porch-rules", Start: outbox.FromNewest},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = o.Append(ctx, []reading.Reading{{Device: "porch", Metric: "temperature_mean", Value: 35, Time: now, Source: "agg", Hops: 1}})
	for _, name := range []string{"route:cloud", "service:porch-rules"} {
		c, _ := o.Cursor(name)
		rs, err := c.Peek(0, 10, nil)
		if err != nil || len(rs) == 0 {
			fmt.Println(name, len(rs), err)
			return
		}
		for _, r := range rs {
			fmt.Println(name, r.Seq, r.Metric, r.Source, r.Hops)
		}
		_ = c.Ack(ctx, []uint64{rs[len(rs)-1].Seq}) // out of order: the last first
		_ = c.Ack(ctx, []uint64{rs[0].Seq})
	}
	for _, cs := range o.Cursors() {
		fmt.Printf("%s next %d lag %d acked %d\n", cs.Name, cs.Next, cs.Lag, cs.Acked)
	}
	fmt.Println("depth", o.Stats().Depth)
	// Output:
	// route:cloud 1 temperature  0
	// route:cloud 2 temperature_mean agg 1
	// service:porch-rules 2 temperature_mean agg 1
	// route:cloud next 3 lag 0 acked 2
	// service:porch-rules next 3 lag 0 acked 1
	// depth 0
}
