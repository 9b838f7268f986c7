package planstore

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The watermark is the highest plan version this gateway ever attempted and
// the newest signature time (Unix seconds) it accepted, kept a second time
// outside the bbolt file, in <path>.version beside plans.db: one line
// "edged-plan-watermark 2 <version> <issued> <crc32 hex>" (version 1 lines,
// without issued, are still read). It is written (temporary file, fsync,
// rename, fsync of the directory) before plans.db, so when plans.db is
// damaged and moved aside the replay protection survives; Attempted and
// Issued are the larger of the two copies.
const (
	watermarkMagic   = "edged-plan-watermark 2"
	watermarkMagicV1 = "edged-plan-watermark 1"
)

// mark is what the watermark file holds.
type mark struct {
	version int64 // highest attempted plan version
	issued  int64 // newest signature time, Unix seconds; 0 none
}

// WatermarkPath is the file beside a plan store file at path that keeps the
// highest attempted version and the newest signature time.
func WatermarkPath(path string) string { return path + ".version" }

// readWatermark returns the watermark, zero when there is none. A damaged
// file is an error (the caller logs it and relies on plans.db).
func readWatermark(path string) (mark, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return mark{}, nil
	}
	if err != nil {
		return mark{}, fmt.Errorf("read plan watermark %s: %w", path, err)
	}
	line := strings.TrimSuffix(string(b), "\n")
	damaged := fmt.Errorf("plan watermark %s: %q is damaged (want %q <version> <issued> <crc>)", path, line, watermarkMagic)
	var body string
	var fields []string
	switch {
	case strings.HasPrefix(line, watermarkMagic+" "):
		fields = strings.Fields(strings.TrimPrefix(line, watermarkMagic+" "))
		if len(fields) != 3 {
			return mark{}, damaged
		}
		body = watermarkMagic + " " + fields[0] + " " + fields[1]
	case strings.HasPrefix(line, watermarkMagicV1+" "):
		fields = strings.Fields(strings.TrimPrefix(line, watermarkMagicV1+" "))
		if len(fields) != 2 {
			return mark{}, damaged
		}
		body = watermarkMagicV1 + " " + fields[0]
		fields = []string{fields[0], "0", fields[1]}
	default:
		return mark{}, damaged
	}
	v, verr := strconv.ParseInt(fields[0], 10, 64)
	is, ierr := strconv.ParseInt(fields[1], 10, 64)
	if verr != nil || ierr != nil || v < 0 || is < 0 || fields[2] != crcOf(body) {
		return mark{}, damaged
	}
	return mark{version: v, issued: is}, nil
}

// writeWatermark replaces the watermark file with m, durably.
func writeWatermark(path string, m mark) error {
	body := watermarkMagic + " " + strconv.FormatInt(m.version, 10) + " " + strconv.FormatInt(m.issued, 10)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write plan watermark: %w", err)
	}
	_, werr := f.WriteString(body + " " + crcOf(body) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr == nil {
		werr = syncDir(filepath.Dir(path))
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write plan watermark %s (version %d, issued %d): %w", path, m.version, m.issued, werr)
	}
	return nil
}

func crcOf(body string) string {
	return fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body)))
}
