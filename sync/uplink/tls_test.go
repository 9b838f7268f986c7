package uplink

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged-gateway/edged/internal/mosquittotest"
	"github.com/edged-gateway/edged/internal/testpki"
)

// startTLSBroker starts mosquitto with a TLS listener that requires a
// client certificate from p's CA.
func startTLSBroker(t *testing.T, p testpki.PKI) *mosquittotest.Broker {
	return mosquittotest.Start(t, mosquittotest.WithConfig(
		"cafile "+p.CAFile,
		"certfile "+p.ServerCert,
		"keyfile "+p.ServerKey,
		"require_certificate true",
	))
}

func TestTLSMutual(t *testing.T) {
	p := testpki.New(t, t.TempDir())
	b := startTLSBroker(t, p)
	c := newClient(t, Config{
		URL:      "mqtts://" + b.Addr(),
		ClientID: "gw-tls",
		CAFile:   p.CAFile, CertFile: p.ClientCert, KeyFile: p.ClientKey,
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
	p := testpki.New(t, dir)
	other := testpki.New(t, t.TempDir()) // a CA the broker does not use
	b := startTLSBroker(t, p)
	tests := []struct {
		name          string
		ca, cert, key string
		want          []string // LastError contains one of these
	}{
		{name: "unknown server CA", ca: other.CAFile, cert: p.ClientCert, key: p.ClientKey,
			want: []string{": tls: failed to verify certificate: x509: certificate signed by unknown authority"}},
		// With TLS 1.3 the client finishes its handshake before the
		// server checks the client certificate; the server's alert is
		// read during the MQTT handshake, or lost when the server's
		// reset arrives first.
		{name: "no client certificate", ca: p.CAFile,
			want: []string{": mqtt handshake: remote error: tls: certificate required", ": connection reset by peer"}},
		{name: "client certificate from another CA", ca: p.CAFile, cert: other.ClientCert, key: other.ClientKey,
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
				matched = matched || strings.Contains(st.LastError.Message, w)
			}
			if st.Connected || st.ConnectFailures < 2 || !strings.HasPrefix(st.LastError.Message, prefix) || !matched {
				t.Fatalf("stats %+v, want repeated failures with LastError %q... containing one of %q",
					st, prefix, tt.want)
			}
			t.Logf("LastError: %s", st.LastError)
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	p := testpki.New(t, dir)
	other := testpki.New(t, t.TempDir())
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
		{"cert without key", p.CAFile, p.ClientCert, "",
			"uplink: cloud.tls.cert_file and key_file go together: key_file is empty"},
		{"key does not match cert", p.CAFile, p.ClientCert, other.ClientKey,
			"uplink: cloud.tls.cert_file " + p.ClientCert + " and key_file " + other.ClientKey +
				": tls: private key does not match public key"},
		{"cert file without PEM", p.CAFile, notPEM, p.ClientKey,
			"uplink: cloud.tls.cert_file " + notPEM + " and key_file " + p.ClientKey +
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
