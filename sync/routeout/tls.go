package routeout

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSConfig names the PEM files of a TLS destination: the CAs that verify
// the server (empty: the system roots) and, for mutual TLS, the client
// certificate and key (both or neither).
type TLSConfig struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// set reports whether any file is named.
func (c TLSConfig) set() bool { return c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" }

// validate checks that the files exist and cert/key go together; secure
// says whether the URL is a TLS one (scheme names it for the message).
func (c TLSConfig) validate(secure bool, scheme string) []error {
	var errs []error
	for _, f := range []struct{ field, path string }{
		{"tls.ca_file", c.CAFile}, {"tls.cert_file", c.CertFile}, {"tls.key_file", c.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if !secure {
			errs = append(errs, fmt.Errorf("%s: set but url is not TLS, use %s://", f.field, scheme))
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.field, err))
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("tls.cert_file and tls.key_file go together: set both for mutual TLS, or neither"))
	}
	return errs
}

// load builds the client TLS configuration for serverName (TLS 1.2 at
// least), naming the field and path of an unreadable or invalid file.
func (c TLSConfig) load(serverName string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" && c.KeyFile != "" {
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		keyPEM, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.key_file: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file %s and tls.key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
