package broker

import (
	"net"
	"strings"
	"testing"
)

func TestConfigValidateNamesFieldAndFix(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" means valid
	}{
		{"default", Config{Listen: DefaultListen}, ""},
		{"ipv6 loopback", Config{Listen: "[::1]:1883"}, ""},
		{"localhost", Config{Listen: "localhost:1883"}, ""},
		{"lan without users", Config{Listen: "0.0.0.0:1883"}, "listen: \"0.0.0.0:1883\" is reachable from other hosts, which needs authentication: set passwd_file"},
		{"all interfaces without users", Config{Listen: ":1883"}, "needs authentication"},
		{"lan with users", Config{Listen: "0.0.0.0:1883", PasswdFile: "/etc/edged/passwd"}, ""},
		{"tls on lan without users", Config{TLSListen: "0.0.0.0:8883", CertFile: "c", KeyFile: "k"}, "tls.listen: \"0.0.0.0:8883\" is reachable"},
		{"no listener", Config{}, "listen: both listen and tls.listen are empty"},
		{"bad address", Config{Listen: "1883"}, "listen: \"1883\" is not host:port"},
		{"host name", Config{Listen: "gateway.lan:1883"}, "is not an IP address"},
		{"tls without cert", Config{Listen: DefaultListen, TLSListen: "127.0.0.1:8883"}, "tls: tls.listen needs tls.cert_file and tls.key_file"},
		{"cert without tls listener", Config{Listen: DefaultListen, CertFile: "c"}, "set tls.listen"},
		{"negative rate", Config{Listen: DefaultListen, RateLimit: -1}, "rate_limit.messages_per_second"},
		{"bad route", Config{Listen: DefaultListen, Routes: []string{"a/#/b"}, Handler: &holdHandler{}}, "# must be the last level"},
		{"limits default", Config{Listen: DefaultListen, Limits: DefaultLimits()}, ""},
		{"packet size over MQTT's", Config{Listen: DefaultListen, Limits: Limits{MaxPacketSize: 1 << 30}}, "limits.max_packet_size: 1073741824 is over MQTT's largest packet"},
		{"negative retained", Config{Listen: DefaultListen, Limits: Limits{MaxRetained: -1}}, "limits.retained.max_messages: -1 is negative"},
		{"per address over total", Config{Listen: DefaultListen, Limits: Limits{MaxConnections: 5, MaxConnectionsPerAddress: 6}}, "max_connections_per_address: 6 is over max_connections (5)"},
		{"route without handler", Config{Listen: DefaultListen, Routes: []string{"a/#"}}, "without a handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPortInUseSaysWhatToDo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = New(Config{Listen: l.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "mode: external") || !strings.Contains(err.Error(), "listen: ") {
		t.Fatalf("got %v, want the listen field, the cause and the external-mode hint", err)
	}
}
