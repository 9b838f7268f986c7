package mosquittotest

import (
	"fmt"
	"syscall"
)

// reservePort binds (without listening) a TCP socket to a free 127.0.0.1
// port with SO_REUSEADDR and keeps it until release. Linux lets mosquitto,
// which also sets SO_REUSEADDR, bind and listen on that port as long as
// this socket does not listen, while the kernel neither hands the port to
// another bind(:0) nor to an outgoing connection. So the port survives
// Stop/Restart, and the gap between picking it and mosquitto binding it is
// closed.
func reservePort() (port int, release func(), err error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("socket: %w", err)
	}
	fail := func(op string, err error) (int, func(), error) {
		_ = syscall.Close(fd)
		return 0, nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt SO_REUSEADDR", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return fail("bind", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		return fail("getsockname", fmt.Errorf("unexpected address %T", sa))
	}
	return in4.Port, func() { _ = syscall.Close(fd) }, nil
}
