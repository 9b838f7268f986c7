package artifacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// userAgent names the daemon to servers.
const userAgent = "edged-artifacts"

// download fetches an http(s) url into the part of sum, resuming what an
// earlier attempt left there. The part returned is complete but not yet
// verified; on error the part is kept (closed) unless the error says it
// was removed.
func (s *Store) download(ctx context.Context, u *url.URL, sum string, rep *reporter) (*partFile, error) {
	name := u.Redacted()
	part, err := s.openPart(sum, 0)
	if err != nil {
		return nil, fmt.Errorf("artifacts: fetch %s: %w", name, err)
	}
	// The hash covers the whole file: start with the bytes already there.
	n, err := io.Copy(part.h, part.f)
	if err != nil {
		part.close()
		return nil, fmt.Errorf("artifacts: fetch %s: read %s: %w", name, part.path, err)
	}
	part.n = n
	if part.n > s.cfg.MaxBytes {
		if err := part.reset(); err != nil {
			part.close()
			return nil, fmt.Errorf("artifacts: fetch %s: truncate %s: %w", name, part.path, err)
		}
	}
	meta := s.readMeta(sum, name)
	// A second attempt happens only after a failed resume, from zero, so
	// there are at most two.
	for range 2 {
		retry, err := s.attempt(ctx, u, sum, part, meta, rep)
		if err != nil {
			if part.n == 0 { // nothing worth resuming: leave no clutter
				if derr := s.discard(part); derr != nil {
					return nil, errors.Join(err, derr)
				}
			}
			part.close()
			return nil, err
		}
		if !retry {
			return part, nil
		}
	}
	part.close()
	return nil, fmt.Errorf("artifacts: fetch %s: server refused the download from byte 0", name)
}

// attempt makes one request from the end of part and appends the answer.
// It returns retry after it emptied the part because the server would not
// resume (416, or a 206 for other bytes), so the caller asks again from 0.
func (s *Store) attempt(ctx context.Context, u *url.URL, sum string, part *partFile, meta partMeta, rep *reporter) (retry bool, err error) {
	name := u.Redacted()
	offset := part.n
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(s.cfg.StallTimeout, func() { cancel(ErrStalled) })
	defer stall.Stop()
	defer func() {
		if err != nil && !errors.Is(err, ErrTooLarge) && errors.Is(context.Cause(reqCtx), ErrStalled) {
			err = fmt.Errorf("artifacts: fetch %s: %w: no data for %v (%d bytes kept to resume)", name, ErrStalled, s.cfg.StallTimeout, part.n)
		}
	}()

	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, fmt.Errorf("artifacts: fetch %s: %w", name, err)
	}
	// Identity: a transparently gunzipped body would not match the ranges.
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", userAgent)
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		if v := meta.validator(); v != "" {
			req.Header.Set("If-Range", v)
		}
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) { // it repeats the url we name anyway
			err = ue.Err
		}
		return false, fmt.Errorf("artifacts: fetch %s: %w", name, err)
	}
	defer resp.Body.Close()

	restart := func(why string) error {
		s.log.Warn("restarting download from zero", "sum", sum, "url", name, "offset", offset, "why", why)
		if err := part.reset(); err != nil {
			return fmt.Errorf("artifacts: fetch %s: truncate %s: %w", name, part.path, err)
		}
		return nil
	}
	total := int64(-1)
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		cr := resp.Header.Get("Content-Range")
		start, size, ok := parseContentRange(cr)
		if !ok || start != offset {
			if offset == 0 {
				return false, fmt.Errorf("artifacts: fetch %s: %w %s with Content-Range %q to a request without Range", name, ErrHTTPStatus, resp.Status, cr)
			}
			return true, restart(fmt.Sprintf("asked for bytes from %d, got Content-Range %q", offset, cr))
		}
		total = size
		if total < 0 && resp.ContentLength >= 0 {
			total = offset + resp.ContentLength
		}
		if offset > 0 {
			part.resumedFrom = offset
			s.log.Info("resuming download", "sum", sum, "url", name, "offset", offset, "total", total)
		}
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			if err := restart("server sent the whole file (range ignored or If-Range stale)"); err != nil {
				return false, err
			}
		}
		total = resp.ContentLength
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		return true, restart("416 range not satisfiable")
	default:
		return false, fmt.Errorf("artifacts: fetch %s: %w %s", name, ErrHTTPStatus, resp.Status)
	}
	if total > s.cfg.MaxBytes {
		return false, s.tooLarge(part, name, total)
	}
	if err := s.writeMeta(sum, metaOf(resp, name, meta)); err != nil {
		return false, fmt.Errorf("artifacts: fetch %s: %w", name, err)
	}

	rep.update(part.n, total)
	alive := func() { stall.Reset(s.cfg.StallTimeout) }
	if err := s.fill(reqCtx, part, resp.Body, total, rep, name, alive); err != nil {
		return false, err
	}
	if total >= 0 && part.n < total {
		return false, fmt.Errorf("artifacts: fetch %s: body ended at %d of %d bytes (kept to resume)", name, part.n, total)
	}
	return false, nil
}

// parseContentRange parses "bytes first-last/size" (size may be "*",
// returned as -1).
func parseContentRange(v string) (start, size int64, ok bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, sz, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	if sz == "*" {
		return start, -1, true
	}
	size, err := strconv.ParseInt(sz, 10, 64)
	if err != nil || size <= end {
		return 0, 0, false
	}
	return start, size, true
}

// partMeta is the .part.meta sidecar: where the part came from and the
// validators the server gave for it.
type partMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

// validator is the If-Range value: the ETag if strong (If-Range forbids
// weak ones), else the Last-Modified date, else "".
func (m partMeta) validator() string {
	if m.ETag != "" && !strings.HasPrefix(m.ETag, "W/") {
		return m.ETag
	}
	return m.LastModified
}

// metaOf is the sidecar for the part being written from resp. A 206
// without validators keeps the ones the part already had.
func metaOf(resp *http.Response, name string, old partMeta) partMeta {
	m := partMeta{URL: name, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	if resp.StatusCode == http.StatusPartialContent && m.ETag == "" && m.LastModified == "" {
		m.ETag, m.LastModified = old.ETag, old.LastModified
	}
	return m
}

// readMeta returns the sidecar of sum's part if it came from the url name;
// otherwise (missing, unreadable, other url) one without validators.
func (s *Store) readMeta(sum, name string) partMeta {
	data, err := os.ReadFile(s.metaPath(sum))
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("resuming without If-Range", "sum", sum, "err", err)
		}
		return partMeta{}
	}
	var m partMeta
	if err := json.Unmarshal(data, &m); err != nil {
		s.log.Warn("resuming without If-Range: bad meta file", "sum", sum, "err", err)
		return partMeta{}
	}
	if m.URL != name {
		return partMeta{} // validators of another server mean nothing here
	}
	return m
}

// writeMeta replaces the sidecar of sum's part.
func (s *Store) writeMeta(sum string, m partMeta) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.metaPath(sum), data, 0o600); err != nil {
		return fmt.Errorf("write meta: %w", err)
	}
	return nil
}
