package uplink

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSConfig builds the TLS configuration for an mqtts:// URL from the CA,
// certificate and key files, failing with the field and path of an
// unreadable or invalid file. It returns nil, nil for mqtt://. The broker
// is verified against CAFile (or the system roots) and the URL's host name;
// TLS 1.2 is the minimum.
func (c Config) TLSConfig() (*tls.Config, error) {
	u, err := parseURL(c.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "mqtts" {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: u.Hostname(),
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("cloud.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cloud.tls.ca_file: %s: no PEM certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	switch {
	case c.CertFile != "" && c.KeyFile != "":
		// Read the files first so that a missing one is named with its
		// path and field (LoadX509KeyPair's own errors name neither).
		certPEM, err := os.ReadFile(c.CertFile)
		if err != nil {
			return nil, fmt.Errorf("cloud.tls.cert_file: %w", err)
		}
		keyPEM, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cloud.tls.key_file: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("cloud.tls.cert_file %s and key_file %s: %w", c.CertFile, c.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case c.CertFile != "" || c.KeyFile != "":
		return nil, fmt.Errorf("cloud.tls.cert_file and key_file go together")
	}
	return tc, nil
}
