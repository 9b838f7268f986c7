package outbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory and
// unmounts it at the end of the test. It skips the test unless it runs as
// root and the mount works (containers may forbid it).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping the full-disk test: mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("skipping the full-disk test: mount -t tmpfs -o size=%s on %s: %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 16<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", path, err)
			}
			return
		}
	}
}

func TestFullDisk(t *testing.T) {
	dir := mountTmpfs(t, "2m")
	path := filepath.Join(dir, "outbox.db")
	o := openTest(t, Config{Path: path})
	stored := map[uint64]float64{} // seq -> value of every reading Append accepted
	appendN := func(n int, from float64) error {
		rs := mkReadings(n, from)
		err := o.Append(context.Background(), rs)
		if err == nil {
			for _, r := range rs {
				stored[r.Seq] = r.Value
			}
		}
		return err
	}
	if err := appendN(500, 0); err != nil {
		t.Fatal(err)
	}
	if err := o.Ack(context.Background(), []uint64{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	for s := range uint64(4) {
		delete(stored, s)
	}

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	var appendErr error
	for i := 0; i < 200 && appendErr == nil; i++ {
		appendErr = appendN(2000, float64(1000+i*2000))
	}
	if appendErr == nil {
		t.Fatal("appends kept succeeding on a full file system")
	}
	if !strings.Contains(appendErr.Error(), "no space left on device") || !strings.HasPrefix(appendErr.Error(), "outbox: append 2000 readings: ") {
		t.Errorf("append error %q: want the operation and \"no space left on device\"", appendErr)
	}
	t.Logf("append on a full disk: %v", appendErr)
	if st := o.Stats(); st.AppendErrors == 0 {
		t.Error("AppendErrors not counted")
	}
	checkStored(t, o, stored, "while full")

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := appendN(100, 1e6); err != nil {
		t.Fatalf("append after freeing space: %v", err)
	}
	checkStored(t, o, stored, "after freeing space")

	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openTest(t, Config{Path: path})
	checkStored(t, o, stored, "after reopen")
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) > 0 {
		t.Errorf("file moved aside as corrupt after a full disk: %v", aside)
	}
}

// checkStored asserts o holds exactly the readings in want.
func checkStored(t *testing.T, o *Outbox, want map[uint64]float64, when string) {
	t.Helper()
	all := peekAll(t, o)
	if len(all) != len(want) {
		t.Errorf("%s: %d readings stored, want %d", when, len(all), len(want))
	}
	for _, r := range all {
		if v, ok := want[r.Seq]; !ok || v != r.Value {
			t.Fatalf("%s: stored %v, want value %g (present %v)", when, r, v, ok)
		}
	}
}
