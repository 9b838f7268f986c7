package cmdstore

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func load(t *testing.T, s *Store, key string) string {
	t.Helper()
	b, ok, err := s.Load(key)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "<none>"
	}
	return string(b)
}

func TestStoreSurvivesReopenAndOverwritesInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "commands.db")
	s := open(t, Config{Path: path})
	if err := s.Store("fan\x00a", []byte(`{"id":"a","ok":false,"error":"running"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Store("fan\x00a", []byte(`{"id":"a","ok":true}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, Config{Path: path})
	if got := load(t, s, "fan\x00a"); got != `{"id":"a","ok":true}` {
		t.Fatalf("after reopen: %s", got)
	}
	if got := load(t, s, "fan\x00b"); got != "<none>" {
		t.Fatalf("unknown key: %s", got)
	}
	if st := s.Stats(); st.Entries != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestBoundsByCountAndAge(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}
	s := open(t, Config{Path: filepath.Join(t.TempDir(), "commands.db"), MaxEntries: 3, MaxAge: time.Hour, Now: c.now})
	for i := range 5 {
		if err := s.Store(fmt.Sprint(i), []byte("r")); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Entries != 3 || st.Evicted != 2 {
		t.Fatalf("count bound: %+v", st)
	}
	if load(t, s, "1") != "<none>" || load(t, s, "2") != "r" {
		t.Fatal("the oldest were not the ones forgotten")
	}
	c.add(2 * time.Hour)
	if got := load(t, s, "4"); got != "<none>" {
		t.Fatalf("an entry past max_age was answered: %s", got)
	}
	s.Store("new", []byte("r"))
	if st := s.Stats(); st.Entries != 1 || st.Evicted != 5 {
		t.Fatalf("age bound: %+v", st)
	}
}

func TestDamagedFileIsMovedAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "commands.db")
	os.WriteFile(path, []byte(strings.Repeat("not bbolt", 1000)), 0o600)
	s := open(t, Config{Path: path})
	if err := s.Store("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 1 {
		t.Fatalf("moved aside: %v", m)
	}
	s.Close()
	if _, _, err := s.Load("k"); !errors.Is(err, ErrClosed) {
		t.Fatalf("load after close: %v", err)
	}
}

// TestMain runs the child of TestKill9AfterStore instead of the tests when
// CMDSTORE_PATH is set, so no test is skipped in either process.
func TestMain(m *testing.M) {
	if path := os.Getenv("CMDSTORE_PATH"); path != "" {
		storeThenHang(path)
	}
	os.Exit(m.Run())
}

// storeThenHang is the child of TestKill9AfterStore: it stores what
// CMDSTORE_PUT says, prints "stored", and waits to be killed.
func storeThenHang(path string) {
	s, err := Open(Config{Path: path})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	if err := s.Store("fan\x00c1", []byte(os.Getenv("CMDSTORE_PUT"))); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("stored")
	select {}
}

// TestKill9AfterStore: a result Store returned for survives a kill -9 of
// the process right after, as the executor's "running" mark must, so a
// redelivery after the crash is answered rather than run again.
func TestKill9AfterStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "commands.db")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "CMDSTORE_PATH="+path, `CMDSTORE_PUT={"id":"c1","ok":false,"error":"interrupted"}`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "stored" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	s := open(t, Config{Path: path})
	if got := load(t, s, "fan\x00c1"); got != `{"id":"c1","ok":false,"error":"interrupted"}` {
		t.Fatalf("after kill -9: %s", got)
	}
}

// BenchmarkStore is the cost one command adds: a Store (fsync) with the
// store at its count bound.
func BenchmarkStore(b *testing.B) {
	s, err := Open(Config{Path: filepath.Join(b.TempDir(), "commands.db"), MaxEntries: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	result := []byte(`{"id":"cli-0123456789abcdef","ok":true,"state":"on"}`)
	for i := range 4096 {
		s.Store(fmt.Sprintf("fan\x00warm-%d", i), result)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := s.Store(fmt.Sprintf("fan\x00id-%d", i), result); err != nil {
			b.Fatal(err)
		}
	}
}
