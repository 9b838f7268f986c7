package uplink

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// readBufferSize is the read buffer in front of the socket. paho reads
// each packet's header one byte at a time; without a buffer every PUBACK
// costs three read system calls.
const readBufferSize = 16 << 10

// attempt is the dial state of one connection attempt.
type attempt struct {
	mu      sync.Mutex
	conn    net.Conn
	err     error // the dial error, if the dial failed
	aborted bool
}

// open returns paho's dial function for this attempt. Dialing ourselves
// keeps paho from routing through a proxy named in the environment
// (ALL_PROXY), which it would otherwise do, and lets ctx cancel the dial.
func (a *attempt) open(ctx context.Context, c *Client) paho.OpenConnectionFunc {
	return func(*url.URL, paho.ClientOptions) (net.Conn, error) {
		conn, err := c.dial(ctx)
		a.mu.Lock()
		defer a.mu.Unlock()
		if err == nil && a.aborted {
			_ = conn.Close()
			err = context.Canceled
		}
		if err != nil {
			a.err = err
			return nil, err
		}
		a.conn = conn
		return conn, nil
	}
}

// abort closes the attempt's connection, which ends a handshake in progress.
func (a *attempt) abort() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.aborted = true
	if a.conn != nil {
		_ = a.conn.Close()
	}
}

func (a *attempt) dialError() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// dial opens the TCP (or TLS) connection to the broker, bounded by
// ConnectTimeout (for TLS, dial and handshake together).
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	d := &net.Dialer{Timeout: c.cfg.ConnectTimeout}
	var (
		conn net.Conn
		err  error
	)
	if c.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: d, Config: c.tls}).DialContext(ctx, "tcp", c.server.Host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", c.server.Host)
	}
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBufferSize)}, nil
}

// bufferedConn reads through a bufio.Reader; writes go straight to the
// socket (paho writes each packet with one Write).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// connackText names the CONNACK refusal codes of MQTT 3.1.1.
var connackText = map[byte]string{
	packets.ErrRefusedBadProtocolVersion:    "unacceptable protocol version",
	packets.ErrRefusedIDRejected:            "client identifier rejected",
	packets.ErrRefusedServerUnavailable:     "server unavailable",
	packets.ErrRefusedBadUsernameOrPassword: "bad user name or password",
	packets.ErrRefusedNotAuthorised:         "not authorized",
}

// connectError says why a connection attempt failed, without paho's
// wrapping: the dial error stripped to its cause (the URL is already in
// the message), a CONNACK refusal, or the handshake error.
func connectError(tok paho.Token, dialErr, err error) error {
	if dialErr != nil {
		var se *os.SyscallError
		var oe *net.OpError
		switch {
		case errors.As(dialErr, &se):
			return se.Err // e.g. "connection refused"
		case errors.As(dialErr, &oe) && oe.Op == "dial":
			return oe.Err // e.g. "i/o timeout"
		}
		return dialErr // TLS verification errors and the like
	}
	if ct, ok := tok.(*paho.ConnectToken); ok {
		if text, ok := connackText[ct.ReturnCode()]; ok {
			return fmt.Errorf("broker refused the connection: %s", text)
		}
	}
	return fmt.Errorf("mqtt handshake: %w", plainError(err))
}
