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

// The watermark is the highest plan version this gateway ever attempted,
// kept a second time outside the bbolt file, in <path>.version beside
// plans.db: one line "edged-plan-watermark 1 <version> <crc32 hex>". It is
// written (temporary file, fsync, rename, fsync of the directory) before
// plans.db, so when plans.db is damaged and moved aside the replay
// protection survives; Attempted is the larger of the two.
const watermarkMagic = "edged-plan-watermark 1"

// WatermarkPath is the file beside a plan store file at path that keeps the
// highest attempted version.
func WatermarkPath(path string) string { return path + ".version" }

// readWatermark returns the version in the watermark file, 0 when there is
// none. A damaged file is an error (the caller logs it and relies on
// plans.db).
func readWatermark(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read plan watermark %s: %w", path, err)
	}
	line := strings.TrimSuffix(string(b), "\n")
	rest, ok := strings.CutPrefix(line, watermarkMagic+" ")
	if !ok {
		return 0, fmt.Errorf("plan watermark %s: %q is not %q <version> <crc>", path, line, watermarkMagic)
	}
	num, sum, ok := strings.Cut(rest, " ")
	v, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || v < 0 || sum != crcOf(num) {
		return 0, fmt.Errorf("plan watermark %s: %q is damaged (version or checksum)", path, line)
	}
	return v, nil
}

// writeWatermark replaces the watermark file with v, durably.
func writeWatermark(path string, v int64) error {
	num := strconv.FormatInt(v, 10)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write plan watermark: %w", err)
	}
	_, werr := f.WriteString(watermarkMagic + " " + num + " " + crcOf(num) + "\n")
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
		return fmt.Errorf("write plan watermark %s (version %d): %w", path, v, werr)
	}
	return nil
}

func crcOf(s string) string {
	return fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(watermarkMagic+" "+s)))
}
