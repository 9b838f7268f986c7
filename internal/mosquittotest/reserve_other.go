//go:build !linux

package mosquittotest

import "net"

// reservePort picks a free 127.0.0.1 port by listening on port 0 and
// closing the listener. Outside Linux the port is not held between Stop and
// Restart (another process could take it, which Restart reports).
func reservePort() (port int, release func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	port = l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return 0, nil, err
	}
	return port, func() {}, nil
}
