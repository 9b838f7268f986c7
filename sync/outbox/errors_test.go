package outbox

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	berrors "go.etcd.io/bbolt/errors"
)

func TestCorruptErrorWrapsBoth(t *testing.T) {
	cause := &fs.PathError{Op: "read", Path: "/x", Err: errors.New("boom")}
	for _, tc := range []struct {
		name string
		err  error
		msg  string
	}{
		{"wrapped cause", &corruptError{cause: cause}, "database file is corrupt: read /x: boom"},
		{"formatted", corruptf("bucket %q missing", "meta"), `database file is corrupt: bucket "meta" missing`},
		{"panic with error", panicError(cause), "database file is corrupt: panic: read /x: boom"},
		{"panic with string", panicError("invalid page type"), "database file is corrupt: panic: invalid page type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, ErrCorrupt) {
				t.Errorf("%v does not wrap ErrCorrupt", tc.err)
			}
			if _, ok := errors.AsType[*corruptError](tc.err); !ok {
				t.Errorf("%v is not a *corruptError", tc.err)
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
	all := []error{ErrClosed, ErrLocked, ErrCorrupt, ErrInvalidReading, errShort, errVersion, errTrail}
	for i, a := range all {
		if a.Error() == "" || strings.HasPrefix(a.Error(), "outbox:") {
			t.Errorf("sentinel %q: want a bare message; callers add the \"outbox: op obj:\" prefix", a)
		}
		for _, b := range all[i+1:] {
			if errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}

func TestClassifyOpenErr(t *testing.T) {
	const path = "/data/outbox.db"
	for _, tc := range []struct {
		name    string
		err     error
		corrupt bool
		is      error
		msg     string
	}{
		{"lock timeout", berrors.ErrTimeout, false, ErrLocked,
			"outbox: open /data/outbox.db: locked by another process (is edged already running?)"},
		{"permission", &fs.PathError{Op: "open", Path: path, Err: syscall.EACCES}, false, fs.ErrPermission,
			"outbox: open /data/outbox.db: open /data/outbox.db: permission denied"},
		{"read-only file system", &fs.PathError{Op: "open", Path: path, Err: syscall.EROFS}, false, syscall.EROFS, "read-only file system"},
		{"mmap out of memory", syscall.ENOMEM, false, syscall.ENOMEM, "cannot allocate memory"},
		{"invalid database", berrors.ErrInvalid, true, ErrCorrupt, "database file is corrupt: invalid database"},
		{"checksum", berrors.ErrChecksum, true, berrors.ErrChecksum, "checksum error"},
		{"version", berrors.ErrVersionMismatch, true, ErrCorrupt, "version mismatch"},
		{"file too small", fmt.Errorf("file size too small %d", 100), true, ErrCorrupt, "file size too small 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := classifyOpenErr(path, tc.err)
			if _, corrupt := errors.AsType[*corruptError](err); corrupt != tc.corrupt {
				t.Errorf("%v: corrupt = %v, want %v", err, corrupt, tc.corrupt)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("%v does not wrap %v", err, tc.is)
			}
			if !strings.HasPrefix(err.Error(), "outbox: open "+path+": ") || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q, want it to name the file and contain %q", err, tc.msg)
			}
		})
	}
}
