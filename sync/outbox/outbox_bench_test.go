package outbox

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/edged-gateway/edged/reading"
)

// benchReading is a typical reading: short names, a float, a recent time.
func benchReading(base time.Time, i int) reading.Reading {
	return reading.Reading{
		Device: "bme280-1", Metric: "temperature", Unit: "C",
		Value: 20 + float64(i%100)/10, Time: base.Add(time.Duration(i) * time.Millisecond),
	}
}

func benchOpen(b *testing.B) *Outbox {
	b.Helper()
	o, err := Open(Config{Path: filepath.Join(b.TempDir(), "outbox.db"), MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = o.Close() })
	return o
}

// runProducers appends b.N readings from producers goroutines, each reading
// in its own Append call of size per, and reports readings/s.
func runProducers(b *testing.B, o *Outbox, producers, per int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	base := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range producers {
		wg.Go(func() {
			rs := make([]reading.Reading, per)
			for {
				i := int(next.Add(int64(per))) - per
				if i >= b.N {
					return
				}
				for j := range rs {
					rs[j] = benchReading(base, i+j)
				}
				if err := o.Append(context.Background(), rs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	st := o.Stats()
	b.ReportMetric(float64(st.Appended)/el.Seconds(), "readings/s")
	b.ReportMetric(float64(st.Appended)/float64(st.Commits), "readings/commit")
}

func BenchmarkAppend(b *testing.B) {
	for _, p := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("producers=%d", p), func(b *testing.B) {
			runProducers(b, benchOpen(b), p, 1)
		})
	}
}

// BenchmarkAppendBatch has producers append 100 readings per call, as a
// poller flushing a batch does.
func BenchmarkAppendBatch(b *testing.B) {
	for _, p := range []int{1, 8} {
		b.Run(fmt.Sprintf("producers=%d/per=100", p), func(b *testing.B) {
			runProducers(b, benchOpen(b), p, 100)
		})
	}
}

// BenchmarkRawBolt1000 is the physical limit: the same records written
// straight into bbolt, 1000 per fsynced transaction, by one goroutine.
func BenchmarkRawBolt1000(b *testing.B) {
	cfg := Config{Path: filepath.Join(b.TempDir(), "raw.db"), MaxBytes: 1 << 30}.withDefaults()
	db, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{FreelistType: bbolt.FreelistMapType, InitialMmapSize: cfg.mmapSize()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var buf []byte
	ends := make([]int, 0, 1000)
	keys := make([]byte, 1000*keyLen)
	seq := uint64(1)
	base := time.Now()
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		n := min(1000, b.N-done)
		buf, ends = buf[:0], ends[:0]
		for i := range n {
			r := benchReading(base, done+i)
			buf = appendEncoded(buf, &r)
			ends = append(ends, len(buf))
		}
		err := db.Update(func(tx *bbolt.Tx) error {
			rb, err := tx.CreateBucketIfNotExists([]byte(bucketReadings))
			if err != nil {
				return err
			}
			rb.FillPercent = 1
			off := 0
			for i, end := range ends {
				k := keys[i*keyLen : (i+1)*keyLen]
				binary.BigEndian.PutUint64(k, seq)
				seq++
				if err := rb.Put(k, buf[off:end]); err != nil {
					return err
				}
				off = end
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "readings/s")
}

// BenchmarkPeek reads 500 readings per call from a store of 100k, as the
// forwarder does.
func BenchmarkPeek(b *testing.B) {
	o := benchOpen(b)
	rs := make([]reading.Reading, 1000)
	base := time.Now()
	for i := 0; i < 100; i++ {
		for j := range rs {
			rs[j] = benchReading(base, i*1000+j)
		}
		if err := o.Append(context.Background(), rs); err != nil {
			b.Fatal(err)
		}
	}
	var dst []reading.Reading
	var after uint64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		var err error
		if dst, err = o.Peek(after, 500, dst); err != nil {
			b.Fatal(err)
		}
		if after += 500; after >= 100_000 {
			after = 0
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "readings/s")
}

// BenchmarkOpenPeek1M opens a file of a million readings and peeks the
// first batch: the cost must not grow with the file (Open reads the meta
// state, not the readings).
func BenchmarkOpenPeek1M(b *testing.B) {
	path := filepath.Join(b.TempDir(), "outbox.db")
	o, err := Open(Config{Path: path, MaxBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	base := time.Now()
	rs := make([]reading.Reading, 10_000)
	for i := 0; i < 1_000_000; i += len(rs) {
		for j := range rs {
			rs[j] = benchReading(base, i+j)
		}
		if err := o.Append(context.Background(), rs); err != nil {
			b.Fatal(err)
		}
	}
	if err := o.Close(); err != nil {
		b.Fatal(err)
	}
	var dst []reading.Reading
	for b.Loop() {
		o, err := Open(Config{Path: path, MaxBytes: 1 << 30})
		if err != nil {
			b.Fatal(err)
		}
		if dst, err = o.Peek(0, 500, dst); err != nil || len(dst) != 500 {
			b.Fatal(err, len(dst))
		}
		if err := o.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendCursors is the durable append rate with no cursor and with
// four service cursors, each read by a goroutine that peeks what is new and
// acks what it read (as real consumers do), while 8 producers append one
// reading per call. The target: cursors=4 at least 0.8× cursors=0.
func BenchmarkAppendCursors(b *testing.B) {
	for _, n := range []int{0, 4} {
		b.Run(fmt.Sprintf("cursors=%d", n), func(b *testing.B) {
			o := benchOpen(b)
			specs := make([]CursorSpec, n)
			for i := range specs {
				specs[i] = CursorSpec{Name: fmt.Sprintf("service:s%d", i), Start: FromNewest}
			}
			if err := o.SetCursors(context.Background(), specs); err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			var consumers sync.WaitGroup
			var consumed atomic.Int64
			errs := make(chan error, n+8)
			for _, s := range specs {
				c, err := o.Cursor(s.Name)
				if err != nil {
					b.Fatal(err)
				}
				consumers.Go(func() {
					var after uint64
					var page []reading.Reading
					seqs := make([]uint64, 0, 512)
					for {
						ch := c.Changed()
						var err error
						if page, err = c.Peek(after, 512, page); err != nil {
							errs <- err
							return
						}
						if len(page) == 0 {
							select {
							case <-ch:
								continue
							case <-stop:
								return
							}
						}
						seqs = seqs[:0]
						for _, r := range page {
							seqs = append(seqs, r.Seq)
						}
						after = seqs[len(seqs)-1]
						if err := c.Ack(context.Background(), seqs); err != nil {
							errs <- err
							return
						}
						consumed.Add(int64(len(seqs)))
					}
				})
			}
			const producers = 8
			var next atomic.Int64
			var wg sync.WaitGroup
			base := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range producers {
				wg.Go(func() {
					rs := make([]reading.Reading, 1)
					for {
						i := int(next.Add(1)) - 1
						if i >= b.N {
							return
						}
						rs[0] = benchReading(base, i)
						if err := o.Append(context.Background(), rs); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			close(stop)
			consumers.Wait()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			st := o.Stats()
			b.ReportMetric(float64(st.Appended)/el.Seconds(), "appends/s")
			b.ReportMetric(float64(st.Appended)/float64(st.Commits), "readings/commit")
			if n > 0 {
				b.ReportMetric(float64(consumed.Load())/float64(n)/float64(max(st.Appended, 1)), "consumed/appended")
			}
		})
	}
}
