package testenv

import (
	"syscall"
	"testing"
)

// RefusedPort returns a TCP port on 127.0.0.1 where a connection is
// refused for as long as the test runs. A port that was merely free when
// asked (FreePort) may be taken meanwhile by another test's server, so the
// port is held instead: bound by a socket that never listens, which the
// kernel answers with a reset and no one else can bind.
func RefusedPort(t testing.TB) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return sa.(*syscall.SockaddrInet4).Port
}
