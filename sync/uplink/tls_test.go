package uplink

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edged/internal/mosquittotest"
)

// pki is a throw-away CA with a server certificate for 127.0.0.1 and a
// client certificate, all ECDSA P-256, written as PEM files.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newPKI(t *testing.T, dir string) pki {
	t.Helper()
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "edged test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			IPAddresses:  ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	}
	p := pki{
		caFile:     filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"),
		serverKey:  filepath.Join(dir, "server.key"),
		clientCert: filepath.Join(dir, "client.pem"),
		clientKey:  filepath.Join(dir, "client.key"),
	}
	srvCert, srvKey := issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	cliCert, cliKey := issue(3, "gw-1", x509.ExtKeyUsageClientAuth, nil)
	for path, data := range map[string][]byte{
		p.caFile:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.serverCert: srvCert, p.serverKey: srvKey,
		p.clientCert: cliCert, p.clientKey: cliKey,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// startTLSBroker starts mosquitto with a TLS listener that requires a
// client certificate from p's CA.
func startTLSBroker(t *testing.T, p pki) *mosquittotest.Broker {
	return mosquittotest.Start(t, mosquittotest.WithConfig(
		"cafile "+p.caFile,
		"certfile "+p.serverCert,
		"keyfile "+p.serverKey,
		"require_certificate true",
	))
}

func TestTLSMutual(t *testing.T) {
	p := newPKI(t, t.TempDir())
	b := startTLSBroker(t, p)
	c := newClient(t, Config{
		URL:      "mqtts://" + b.Addr(),
		ClientID: "gw-tls",
		CAFile:   p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey,
		StatusTopic: "edged/gw-tls/status",
		BackoffMin:  10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	run(t, c)
	waitConnected(t, c)
	d, err := c.Publish("edged/telemetry", []byte("1"), 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitDone(t, d); err != nil {
		t.Fatalf("publish over TLS: %v", err)
	}
}

// TestTLSFailures checks that a connection that TLS refuses is retried and
// reported with the cause.
func TestTLSFailures(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	other := newPKI(t, t.TempDir()) // a CA the broker does not use
	b := startTLSBroker(t, p)
	tests := []struct {
		name          string
		ca, cert, key string
		want          []string // LastError contains one of these
	}{
		{name: "unknown server CA", ca: other.caFile, cert: p.clientCert, key: p.clientKey,
			want: []string{": tls: failed to verify certificate: x509: certificate signed by unknown authority"}},
		// With TLS 1.3 the client finishes its handshake before the
		// server checks the client certificate; the server's alert is
		// read during the MQTT handshake, or lost when the server's
		// reset arrives first.
		{name: "no client certificate", ca: p.caFile,
			want: []string{": mqtt handshake: remote error: tls: certificate required", ": connection reset by peer"}},
		{name: "client certificate from another CA", ca: p.caFile, cert: other.clientCert, key: other.clientKey,
			want: []string{": mqtt handshake: remote error: tls: unknown certificate authority", ": connection reset by peer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, Config{
				URL: "mqtts://" + b.Addr(), ClientID: "gw-tls-fail",
				CAFile: tt.ca, CertFile: tt.cert, KeyFile: tt.key,
				BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			})
			run(t, c)
			deadline := time.Now().Add(liveness)
			for c.Stats().ConnectFailures < 2 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			st := c.Stats()
			prefix := "uplink: connect mqtts://" + b.Addr()
			matched := false
			for _, w := range tt.want {
				matched = matched || strings.Contains(st.LastError, w)
			}
			if st.Connected || st.ConnectFailures < 2 || !strings.HasPrefix(st.LastError, prefix) || !matched {
				t.Fatalf("stats %+v, want repeated failures with LastError %q... containing one of %q",
					st, prefix, tt.want)
			}
			t.Logf("LastError: %s", st.LastError)
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	p := newPKI(t, dir)
	other := newPKI(t, t.TempDir())
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name          string
		ca, cert, key string
		want          string // New's exact error
	}{
		{"missing CA file", missing, "", "",
			"uplink: cloud.tls.ca_file: stat " + missing + ": no such file or directory"},
		{"CA file without PEM", notPEM, "", "",
			"uplink: cloud.tls.ca_file: " + notPEM + ": no PEM certificate found"},
		{"cert without key", p.caFile, p.clientCert, "",
			"uplink: cloud.tls.cert_file and key_file go together: key_file is empty"},
		{"key does not match cert", p.caFile, p.clientCert, other.clientKey,
			"uplink: cloud.tls.cert_file " + p.clientCert + " and key_file " + other.clientKey +
				": tls: private key does not match public key"},
		{"cert file without PEM", p.caFile, notPEM, p.clientKey,
			"uplink: cloud.tls.cert_file " + notPEM + " and key_file " + p.clientKey +
				": tls: failed to find any PEM data in certificate input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(Config{
				URL: "mqtts://127.0.0.1:8883", ClientID: "gw",
				CAFile: tt.ca, CertFile: tt.cert, KeyFile: tt.key,
			})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New() error =\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestTLSConfigPlainAndSystemRoots(t *testing.T) {
	tc, err := Config{URL: "mqtt://127.0.0.1", ClientID: "gw"}.TLSConfig()
	if err != nil || tc != nil {
		t.Fatalf("TLSConfig for mqtt:// = %v, %v; want nil, nil", tc, err)
	}
	tc, err = Config{URL: "mqtts://broker.example.com", ClientID: "gw"}.TLSConfig()
	if err != nil || tc == nil || tc.RootCAs != nil || tc.ServerName != "broker.example.com" || len(tc.Certificates) != 0 {
		t.Fatalf("TLSConfig without files = %+v, %v; want system roots and the host as server name", tc, err)
	}
}
