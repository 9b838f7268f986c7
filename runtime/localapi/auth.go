package localapi

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// authorize lets a request through when it needs no token (a GET or HEAD
// from a loopback address) or carries the right one
// (Authorization: Bearer <token>); others get 401.
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read := r.Method == http.MethodGet || r.Method == http.MethodHead
		if (read && fromLoopback(r)) || s.validToken(r) {
			next.ServeHTTP(w, r)
			return
		}
		why := "this request needs the API token"
		if r.Header.Get("Authorization") != "" {
			why = "wrong API token"
		}
		s.cfg.Logger.Warn("local API request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", why)
		w.Header().Set("WWW-Authenticate", `Bearer realm="edged"`)
		writeError(w, http.StatusUnauthorized, why, "send Authorization: Bearer <token>; the token is in http.token_file, or data_dir/api.token (GET from loopback needs none)")
	})
}

func (s *Server) validToken(r *http.Request) bool {
	if s.cfg.Token == "" {
		return false
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(s.cfg.Token)) == 1
}

// fromLoopback reports whether the request came from 127.0.0.0/8 or ::1.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
