package localapi

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// checkHost refuses a request whose Host header is a name this gateway
// does not answer to. A web page can make a browser on the gateway (or the
// LAN) send requests to the API under the page's own domain name, which it
// points at 127.0.0.1 (DNS rebinding); such a request carries that domain
// in Host. IP addresses, localhost and the names in Config.Hosts are
// served; others get 421 Misdirected Request.
func (s *Server) checkHost(next http.Handler) http.Handler {
	allowed := map[string]bool{"localhost": true}
	for _, h := range s.cfg.Hosts {
		allowed[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := hostOnly(r.Host)
		if host == "" || allowed[host] || strings.HasSuffix(host, ".localhost") || isIP(host) {
			next.ServeHTTP(w, r)
			return
		}
		s.cfg.Logger.Warn("local API request refused: unknown Host", "host", r.Host, "path", r.URL.Path, "remote", r.RemoteAddr)
		writeError(w, http.StatusMisdirectedRequest, "Host "+quote(r.Host)+
			" is not a name of this gateway (a page under another domain may be trying to reach the API)",
			"use its IP address or localhost, or add the name to http.allowed_hosts")
	})
}

// hostOnly is the lower-case host of a Host header, without port or
// trailing dot.
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSuffix(h, "]"), "["), ".")
	return strings.ToLower(h)
}

func isIP(h string) bool {
	_, err := netip.ParseAddr(h)
	return err == nil
}

// quote quotes s for an error message, cut to a sane length.
func quote(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}
