package planstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

func TestCorruptErrorWrapsBoth(t *testing.T) {
	cause := &fs.PathError{Op: "read", Path: "/x", Err: errors.New("boom")}
	for _, tc := range []struct {
		name string
		err  error
		msg  string
	}{
		{"wrapped cause", &corruptError{cause: cause}, "plan store file is corrupt: read /x: boom"},
		{"formatted", corruptf("bucket %q missing", "meta"), `plan store file is corrupt: bucket "meta" missing`},
		{"panic with error", panicError(cause), "plan store file is corrupt: panic: read /x: boom"},
		{"panic with bbolt error", panicError(berrors.ErrInvalid), "plan store file is corrupt: panic: invalid database"},
		{"panic with string", panicError("invalid page type"), "plan store file is corrupt: panic: invalid page type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, ErrCorrupt) {
				t.Errorf("%v does not wrap ErrCorrupt", tc.err)
			}
			if errors.Is(tc.err, berrors.ErrInvalid) {
				t.Errorf("%v leaks bbolt's error", tc.err)
			}
			if tc.err.Error() != tc.msg {
				t.Errorf("message %q, want %q", tc.err, tc.msg)
			}
		})
	}
	if _, ok := errors.AsType[*fs.PathError](&corruptError{cause: cause}); !ok {
		t.Error("the cause is not reachable with errors.As")
	}
}

func TestSentinelsAreDistinct(t *testing.T) {
	all := []error{ErrClosed, ErrLocked, ErrCorrupt, ErrInvalid, errUnchanged}
	for i, a := range all {
		if a.Error() == "" || strings.HasPrefix(a.Error(), "planstore") {
			t.Errorf("sentinel %q: want a bare message; callers add the \"planstore: op obj:\" prefix", a)
		}
		for _, b := range all[i+1:] {
			if errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}

func TestClassifyOpenErr(t *testing.T) {
	pathErr := &fs.PathError{Op: "open", Path: "/data/plans.db", Err: syscall.EACCES}
	for _, tc := range []struct {
		name string
		err  error
		is   []error
		not  []error
		msg  string
	}{
		{"lock timeout", berrors.ErrTimeout, []error{ErrLocked}, []error{ErrCorrupt, berrors.ErrTimeout},
			"locked by another process (is another edged running on this data_dir?): gave up waiting after 1s"},
		{"permission", pathErr, []error{fs.ErrPermission}, []error{ErrCorrupt}, "open /data/plans.db: permission denied"},
		{"errno", syscall.EIO, []error{syscall.EIO}, []error{ErrCorrupt}, "input/output error"},
		{"syscall error", os.NewSyscallError("mmap", syscall.ENOMEM), []error{syscall.ENOMEM}, []error{ErrCorrupt}, "mmap: cannot allocate memory"},
		{"bad magic", berrors.ErrInvalid, []error{ErrCorrupt}, []error{berrors.ErrInvalid}, "plan store file is corrupt: invalid database"},
		{"checksum", fmt.Errorf("meta0: %w", berrors.ErrChecksum), []error{ErrCorrupt}, []error{berrors.ErrChecksum}, "plan store file is corrupt: meta0: checksum error"},
		{"version", berrors.ErrVersionMismatch, []error{ErrCorrupt}, []error{berrors.ErrVersionMismatch}, "version mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyOpenErr(tc.err, time.Second)
			for _, e := range tc.is {
				if !errors.Is(got, e) {
					t.Errorf("%v does not wrap %v", got, e)
				}
			}
			for _, e := range tc.not {
				if errors.Is(got, e) {
					t.Errorf("%v wraps %v", got, e)
				}
			}
			if !strings.Contains(got.Error(), tc.msg) {
				t.Errorf("message %q, want it to contain %q", got, tc.msg)
			}
		})
	}
}

func TestHide(t *testing.T) {
	pathErr := &fs.PathError{Op: "write", Path: "/data/plans.db", Err: syscall.ENOSPC}
	for _, tc := range []struct {
		name string
		err  error
		keep bool // errors.Is(hide(err), err)
	}{
		{"nil", nil, true},
		{"disk full", pathErr, true},
		{"wrapped disk full", fmt.Errorf("commit: %w", pathErr), true},
		{"errno", syscall.EIO, true},
		{"ours", corruptf("x"), true},
		{"closed", fmt.Errorf("op: %w", ErrClosed), true},
		{"bbolt", berrors.ErrTxClosed, false},
		{"wrapped bbolt", fmt.Errorf("x: %w", berrors.ErrDatabaseNotOpen), false},
		{"anything else", errors.New("whatever"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := hide(tc.err)
			if tc.err == nil {
				if got != nil {
					t.Fatalf("hide(nil) = %v", got)
				}
				return
			}
			if got.Error() != tc.err.Error() {
				t.Errorf("message %q, want %q", got, tc.err)
			}
			if errors.Is(got, tc.err) != tc.keep {
				t.Errorf("errors.Is(hide(%v), it) = %v, want %v", tc.err, !tc.keep, tc.keep)
			}
		})
	}
}
