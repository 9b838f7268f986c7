package artifacts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// progressEvery is the least time between two progress calls but the last.
const progressEvery = 100 * time.Millisecond

// Fetch makes sure artifact sum is in the store and returns its path. If it
// is there already Fetch makes no request, so plans that share an artifact
// share one download. Otherwise it downloads rawURL (http://, https:// or
// file:///abs/path) to <dir>/<sum>.part, resuming an interrupted http(s)
// download (see the package documentation), verifies the sha256 of the whole
// file, fsyncs it, makes it 0755, renames it to <dir>/<sum> and fsyncs the
// directory.
//
// progress, if not nil, is called from the calling goroutine with the bytes
// done and the total (-1 while unknown) as the download advances, at most
// every 100ms, and done never goes down within one Fetch. After a complete
// download it is called a last time with done == total; it is not called
// for an artifact already in the store.
//
// Concurrent Fetches of one sum wait for each other: the first downloads,
// the rest find the artifact there. Waiting ends early when ctx ends.
func (s *Store) Fetch(ctx context.Context, rawURL, sum string, progress func(done, total int64)) (string, error) {
	if err := validSum(sum); err != nil {
		return "", fmt.Errorf("artifacts: fetch %s: sum %q: %w", redact(rawURL), sum, err)
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return "", err
	}
	if p, ok := s.Path(sum); ok {
		s.log.Debug("artifact reused", "sum", sum)
		return p, nil
	}
	unlock, err := s.locks.lock(ctx, sum)
	if err != nil {
		return "", fmt.Errorf("artifacts: fetch %s: wait for another fetch of %s: %w", u.Redacted(), sum, err)
	}
	defer unlock()
	if p, ok := s.Path(sum); ok { // fetched while we waited
		s.log.Debug("artifact reused", "sum", sum)
		return p, nil
	}

	start := time.Now()
	rep := &reporter{fn: progress}
	var part *partFile
	if u.Scheme == "file" {
		part, err = s.copyFile(ctx, u, sum, rep)
	} else {
		part, err = s.download(ctx, u, sum, rep)
	}
	if err != nil {
		return "", err
	}
	p, err := s.commit(part, u, sum)
	if err != nil {
		return "", err
	}
	rep.final(part.n)
	s.log.Info("artifact fetched", "sum", sum, "url", u.Redacted(), "bytes", part.n, "resumed_from", part.resumedFrom, "duration", time.Since(start).Round(time.Millisecond))
	return p, nil
}

// parseURL accepts http://host/..., https://host/... and
// file:///absolute/path.
func parseURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("artifacts: fetch %q: %w: %w", redact(rawURL), ErrInvalidURL, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" || u.Opaque != "" {
			return nil, fmt.Errorf("artifacts: fetch %q: %w: no host", u.Redacted(), ErrInvalidURL)
		}
	case "file":
		if u.Opaque != "" || u.Host != "" || !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("artifacts: fetch %q: %w: a file url must be file:///absolute/path", u.Redacted(), ErrInvalidURL)
		}
	default:
		return nil, fmt.Errorf("artifacts: fetch %q: %w: scheme %q is not http, https or file", u.Redacted(), ErrInvalidURL, u.Scheme)
	}
	return u, nil
}

// redact hides the password of a url for error messages, best effort.
func redact(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil {
		return u.Redacted()
	}
	return "(unparsable url)"
}

// copyFile copies a file:// source into a fresh part.
func (s *Store) copyFile(ctx context.Context, u *url.URL, sum string, rep *reporter) (*partFile, error) {
	name := u.Redacted()
	src, err := os.Open(u.Path)
	if err != nil {
		return nil, fmt.Errorf("artifacts: fetch %s: %w", name, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return nil, fmt.Errorf("artifacts: fetch %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("artifacts: fetch %s: not a regular file", name)
	}
	if fi.Size() > s.cfg.MaxBytes {
		return nil, fmt.Errorf("artifacts: fetch %s: %w: %d bytes, over the limit of %d bytes (max_bytes)", name, ErrTooLarge, fi.Size(), s.cfg.MaxBytes)
	}
	// Any part (and meta) of an earlier http download of this sum goes.
	if err := os.Remove(s.metaPath(sum)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("artifacts: fetch %s: %w", name, err)
	}
	part, err := s.openPart(sum, os.O_TRUNC)
	if err != nil {
		return nil, fmt.Errorf("artifacts: fetch %s: %w", name, err)
	}
	rep.update(0, fi.Size())
	if err := s.fill(ctx, part, src, fi.Size(), rep, name, nil); err != nil {
		// A local copy is not resumed: leave nothing behind.
		if derr := s.discard(part); derr != nil {
			return nil, errors.Join(err, derr)
		}
		return nil, err
	}
	return part, nil
}

// partFile is <sum>.part open for writing, with the hash and length of
// what it holds.
type partFile struct {
	f           *os.File
	path        string
	h           hash.Hash
	n           int64
	resumedFrom int64
}

// openPart opens the part of sum, creating it; flag adds os.O_TRUNC or 0.
func (s *Store) openPart(sum string, flag int) (*partFile, error) {
	p := s.partPath(sum)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|flag, 0o600)
	if err != nil {
		return nil, err
	}
	return &partFile{f: f, path: p, h: sha256.New()}, nil
}

// Write appends b to the part and the hash.
func (p *partFile) Write(b []byte) (int, error) {
	n, err := p.f.Write(b)
	p.h.Write(b[:n])
	p.n += int64(n)
	return n, err
}

// reset empties the part.
func (p *partFile) reset() error {
	if err := p.f.Truncate(0); err != nil {
		return err
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	p.h.Reset()
	p.n, p.resumedFrom = 0, 0
	return nil
}

// close closes the file; later calls do nothing.
func (p *partFile) close() error {
	if p.f == nil {
		return nil
	}
	err := p.f.Close()
	p.f = nil
	return err
}

// fill appends r to part until EOF or until ctx ends, reporting progress
// against total (-1 unknown) and enforcing MaxBytes. alive, if not nil, is
// called whenever bytes arrive. On a too-large artifact the part is
// removed; on other errors it is closed and kept.
func (s *Store) fill(ctx context.Context, part *partFile, r io.Reader, total int64, rep *reporter, name string, alive func()) error {
	buf := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			part.close()
			return fmt.Errorf("artifacts: fetch %s: after %d bytes: %w", name, part.n, err)
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if alive != nil {
				alive()
			}
			if part.n+int64(n) > s.cfg.MaxBytes {
				return s.tooLarge(part, name, part.n+int64(n))
			}
			if _, err := part.Write(buf[:n]); err != nil {
				part.close()
				return fmt.Errorf("artifacts: fetch %s: write %s: %w", name, part.path, err)
			}
			rep.update(part.n, total)
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			part.close()
			return fmt.Errorf("artifacts: fetch %s: after %d bytes: %w", name, part.n, rerr)
		}
	}
}

// tooLarge removes part and returns the error naming the limit; size is
// the announced size or the bytes counted so far.
func (s *Store) tooLarge(part *partFile, name string, size int64) error {
	err := fmt.Errorf("artifacts: fetch %s: %w: %d bytes or more, over the limit of %d bytes (max_bytes)", name, ErrTooLarge, size, s.cfg.MaxBytes)
	if derr := s.discard(part); derr != nil {
		return errors.Join(err, derr)
	}
	return err
}

// discard closes and removes part and its meta file.
func (s *Store) discard(part *partFile) error {
	var errs []error
	if err := part.close(); err != nil {
		errs = append(errs, err)
	}
	for _, p := range []string{part.path, part.path + ".meta"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("artifacts: remove partial download: %w", err)
	}
	return nil
}

// commit verifies the complete part against sum and moves it into place.
func (s *Store) commit(part *partFile, u *url.URL, sum string) (string, error) {
	name := u.Redacted()
	got := hex.EncodeToString(part.h.Sum(nil))
	if got != sum {
		err := fmt.Errorf("artifacts: fetch %s: %w: want %s, got %s (%d bytes)", name, ErrChecksum, sum, got, part.n)
		if derr := s.discard(part); derr != nil {
			return "", errors.Join(err, derr)
		}
		return "", err
	}
	fail := func(err error) (string, error) {
		part.close()
		return "", fmt.Errorf("artifacts: fetch %s: store %s: %w", name, sum, err)
	}
	if err := part.f.Sync(); err != nil {
		return fail(err)
	}
	if err := part.f.Chmod(0o755); err != nil {
		return fail(err)
	}
	if err := part.close(); err != nil {
		return fail(err)
	}
	final := s.artifactPath(sum)
	if err := os.Rename(part.path, final); err != nil {
		return fail(err)
	}
	if err := os.Remove(s.metaPath(sum)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(err)
	}
	if err := syncDir(s.dir); err != nil {
		return fail(err)
	}
	return final, nil
}

// reporter rate-limits progress calls.
type reporter struct {
	fn   func(done, total int64)
	last time.Time
	sent bool
}

// update reports done of total unless the last report was under
// progressEvery ago.
func (r *reporter) update(done, total int64) {
	if r.fn == nil {
		return
	}
	now := time.Now()
	if r.sent && now.Sub(r.last) < progressEvery {
		return
	}
	r.last, r.sent = now, true
	r.fn(done, total)
}

// final reports a complete download of n bytes.
func (r *reporter) final(n int64) {
	if r.fn != nil {
		r.fn(n, n)
	}
}
