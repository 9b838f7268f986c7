package planstore

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestOpenCreatesFile(t *testing.T) {
	path := tempPath(t)
	openTest(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenEmptyFileIsNew(t *testing.T) {
	path := tempPath(t)
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, path)
	if err := s.SetApplied(rec(1)); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBadArguments(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		cfg        Config
		want       []string
		is         error
	}{
		{"empty path", "", Config{}, []string{"planstore: open: invalid path: empty"}, ErrInvalid},
		{"negative timeout", "/tmp/x/plans.db", Config{Timeout: -time.Second}, []string{"/tmp/x/plans.db", "planstore.timeout: must be > 0"}, nil},
		{"missing directory", "/nonexistent-dir/plans.db", Config{}, []string{"planstore: open /nonexistent-dir/plans.db"}, fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(tc.path, tc.cfg)
			if s != nil {
				t.Fatal("Open returned a Store with an error")
			}
			checkErr(t, err, tc.want...)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v does not wrap %v", err, tc.is)
			}
			if errors.Is(err, ErrCorrupt) {
				t.Errorf("%v wraps ErrCorrupt", err)
			}
		})
	}
}

func TestSecondOpenFails(t *testing.T) {
	path := tempPath(t)
	first := openTest(t, path)
	if err := first.SetApplied(rec(1)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s, err := Open(path, Config{Timeout: 200 * time.Millisecond})
	if s != nil {
		t.Fatal("second Open succeeded")
	}
	checkErr(t, err, "planstore: open "+path, "locked by another process", "another edged running on this data_dir", "200ms")
	if !errors.Is(err, ErrLocked) {
		t.Errorf("%v does not wrap ErrLocked", err)
	}
	// bbolt retries every 50ms and stops once the next retry would
	// pass the timeout.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("gave up after %s, well before the 200ms timeout", d)
	}
	// The failed Open did not disturb the first.
	if r, ok, err := first.Applied(); err != nil || !ok || r.Version != 1 {
		t.Errorf("first Store after the failed Open: %+v, %v, %v", r, ok, err)
	}
}

// TestLockedByAnotherProcess runs the test binary again as a child that
// holds the store open until its stdin closes.
func TestLockedByAnotherProcess(t *testing.T) {
	if path := os.Getenv("PLANSTORE_HOLD_CHILD"); path != "" {
		holdChild(path)
		return
	}
	path := tempPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockedByAnotherProcess$")
	cmd.Env = append(os.Environ(), "PLANSTORE_HOLD_CHILD="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("child: %v\n%s", err, stderr.String())
		}
	})
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("child said %q, %v\n%s", line, err, stderr.String())
	}
	_, err = Open(path, Config{Timeout: 20 * time.Millisecond})
	checkErr(t, err, path, "another edged running on this data_dir")
	if !errors.Is(err, ErrLocked) {
		t.Errorf("%v does not wrap ErrLocked", err)
	}
}

// holdChild opens path, says "open" and holds it until stdin closes.
func holdChild(path string) {
	s, err := Open(path, Config{})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(2)
	}
	os.Stdout.WriteString("open\n")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(3)
	}
	os.Exit(0)
}

func TestOpenCorrupt(t *testing.T) {
	garbage := make([]byte, 64<<10)
	rng := rand.NewChaCha8([32]byte{7})
	_, _ = rng.Read(garbage)
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"random bytes", writeBytes(garbage), "invalid"},
		{"short text", writeBytes([]byte("this is not a database\n")), ""},
		{"zeroed", writeBytes(make([]byte, 32<<10)), ""},
		{"truncated store", func(t *testing.T, path string) {
			writeStore(t, path)
			if err := os.Truncate(path, 4096+100); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"another program's bbolt file", rawFile(func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket([]byte("readings"))
			return err
		}), `bucket "readings": not a plan store file`},
		{"meta bucket missing", storeThen(func(tx *bbolt.Tx) error {
			return tx.DeleteBucket([]byte(bucketMeta))
		}), `bucket "plans" or "meta" missing`},
		{"unknown format", storeThen(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyFormat), []byte{2})
		}), "format 02, this build reads 1"},
		{"current not JSON", storeThen(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketPlans)).Put([]byte(keyCurrent), []byte("{not json"))
		}), `record "current"`},
		{"previous with version 0", storeThen(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketPlans)).Put([]byte(keyPrevious), []byte(`{"version":0,"envelope":"AA=="}`))
		}), `record "previous": invalid record: version 0`},
		{"current without envelope", storeThen(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketPlans)).Put([]byte(keyCurrent), []byte(`{"version":3}`))
		}), "empty envelope"},
		{"previous without current", storeThen(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketPlans)).Delete([]byte(keyCurrent))
		}), `record "previous" without record "current"`},
		{"attempted wrong length", storeThen(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyAttempted), []byte{1, 2, 3})
		}), "attempted version is 3 bytes, want 8"},
		{"attempted negative", storeThen(func(tx *bbolt.Tx) error {
			return tx.Bucket([]byte(bucketMeta)).Put([]byte(keyAttempted), binary.BigEndian.AppendUint64(nil, 1<<63))
		}), "attempted version -"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			tc.make(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Config{Timeout: 50 * time.Millisecond})
			if s != nil {
				s.Close()
				t.Fatal("Open succeeded on a damaged file")
			}
			checkErr(t, err, "planstore: open "+path+": plan store file is corrupt", tc.want)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("%v does not wrap ErrCorrupt", err)
			}
			after, rerr := os.ReadFile(path)
			if rerr != nil || !bytes.Equal(before, after) {
				t.Errorf("Open changed the damaged file (%v)", rerr)
			}
			// The failed Open released the file: a second try fails the
			// same way, not with ErrLocked.
			if _, err := Open(path, Config{Timeout: 50 * time.Millisecond}); !errors.Is(err, ErrCorrupt) {
				t.Errorf("second Open = %v, want ErrCorrupt again", err)
			}
		})
	}
}

// writeStore creates a plan store with two plans, an attempted version and
// a status at path.
func writeStore(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{1, 2} {
		if err := s.SetApplied(rec(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetAttempted(3); err != nil {
		t.Fatal(err)
	}
	if err := s.SetStatus([]byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeBytes(b []byte) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// rawFile makes a bbolt file changed by fn.
func rawFile(fn func(*bbolt.Tx) error) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		rawUpdate(t, path, fn)
	}
}

// storeThen makes a plan store with writeStore and then changes it with fn.
func storeThen(fn func(*bbolt.Tx) error) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		writeStore(t, path)
		rawUpdate(t, path, fn)
	}
}

func rawUpdate(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenInDirectoryOfItsOwn(t *testing.T) {
	// Two data_dirs, two stores: the lock is per file.
	a := openTest(t, filepath.Join(t.TempDir(), "plans.db"))
	b := openTest(t, filepath.Join(t.TempDir(), "plans.db"))
	if err := a.SetApplied(rec(1)); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := b.Applied(); err != nil || ok {
		t.Errorf("the other store sees a plan: %v, %v", ok, err)
	}
}
