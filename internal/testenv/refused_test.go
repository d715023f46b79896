package testenv

import (
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
)

// A connection to RefusedPort's port is refused, and the port cannot be
// bound by anyone else while the test runs.
func TestRefusedPortRefuses(t *testing.T) {
	port := RefusedPort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if c, err := net.Dial("tcp", addr); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial %s: %v; want connection refused", addr, err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("listen on %s succeeded; want the port held", addr)
	}
}
