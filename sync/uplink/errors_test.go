package uplink

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
)

func TestPlainError(t *testing.T) {
	pahoStyle := errors.New("network Error")
	opErr := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		in   error
		want error // nil: a new error with the same text
	}{
		{"net error inside paho wrapping", fmt.Errorf("%w : %w", pahoStyle, opErr), opErr},
		{"EOF inside paho wrapping", fmt.Errorf("%w : %w", pahoStyle, io.EOF), io.EOF},
		{"unexpected EOF", io.ErrUnexpectedEOF, io.ErrUnexpectedEOF},
		{"paho value", pahoStyle, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := plainError(tt.in)
			if tt.want != nil {
				if got != tt.want {
					t.Fatalf("plainError = %#v, want %#v", got, tt.want)
				}
				return
			}
			if got.Error() != tt.in.Error() || errors.Is(got, tt.in) {
				t.Fatalf("plainError = %v (is original: %v), want a detached copy", got, errors.Is(got, tt.in))
			}
		})
	}
	if plainError(nil) != nil {
		t.Fatal("plainError(nil) != nil")
	}
}
