package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edged-gateway/edged/sync/outbox"
)

// TestFullDiskIsCountedAndRecovers runs the daemon with its data on a
// 2 MiB tmpfs, fills the disk, and checks that appends fail with a counted,
// logged error while the daemon keeps running; that it stores readings again
// once space returns; and that the failed appends left no gap in the seqs.
func TestFullDiskIsCountedAndRecovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o750)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", data).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", data).Run() })

	cfg := writeConfig(t, dir, "http: {listen: 127.0.0.1:0}\nlocal_mqtt: {listen: 127.0.0.1:0}\ndata_dir: "+data+`
devices:
  - {name: a, kind: sim, interval: 1ms}
  - {name: b, kind: sim, interval: 1ms}
`)
	d, stop := startDaemon(t, cfg)
	waitUntil(t, "readings to be stored", func() bool { return d.outbox.Stats().Depth > 100 })

	// Fill what is left of the disk.
	filler := filepath.Join(data, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !strings.Contains(err.Error(), "no space left") {
				t.Fatalf("filling the disk: %v", err)
			}
			break
		}
	}
	f.Close()
	waitUntil(t, "appends to fail", func() bool { return d.outbox.Stats().AppendErrors >= 3 })
	lost := d.devs.current().Poller().Stats()[0].AppendErrors
	if lost == 0 || !strings.Contains(d.devs.current().Poller().Stats()[0].LastError, "no space left on device") {
		t.Fatalf("device stats after disk full: %+v", d.devs.current().Poller().Stats()[0])
	}

	// /readyz says not ready while nothing can be stored, and why.
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + d.api.Addr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitUntil(t, "/readyz to say not ready", func() bool {
		code, body := readyz()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "no space left on device")
	})

	// Space returns: the daemon stores readings again without a restart.
	os.Remove(filler)
	errsBefore := d.outbox.Stats().AppendErrors
	depth := d.outbox.Stats().Depth
	waitUntil(t, "appends to succeed again", func() bool { return d.outbox.Stats().Depth > depth+200 })
	waitUntil(t, "/readyz to say ready again", func() bool { code, _ := readyz(); return code == http.StatusOK })
	if err := stop(); err != nil {
		t.Fatalf("daemon stopped with %v", err)
	}
	if errsBefore == 0 {
		t.Fatal("no append error was counted")
	}

	// Every stored reading has a seq, and they are contiguous: the failed
	// commits used none.
	ob, err := outbox.Open(outbox.Config{Path: filepath.Join(data, "outbox.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	st := ob.Stats()
	rs, err := ob.Peek(0, int(st.Depth)+1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(rs)) != st.Depth || rs[0].Seq != 1 {
		t.Fatalf("stored %d readings starting at seq %d, depth %d", len(rs), rs[0].Seq, st.Depth)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Seq != rs[i-1].Seq+1 {
			t.Fatalf("seq gap after the disk was full: %d then %d", rs[i-1].Seq, rs[i].Seq)
		}
	}
	if st.NextSeq != rs[len(rs)-1].Seq+1 {
		t.Fatalf("next seq %d after last stored %d", st.NextSeq, rs[len(rs)-1].Seq)
	}
	t.Logf("disk full: %d readings refused and counted; %d stored with contiguous seqs", lost, len(rs))
}
