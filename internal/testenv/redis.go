package testenv

// A real redis-server on loopback, for the near cache's tests (module
// near) and resty.shmlru.near's (ffi/).

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Redis is a redis-server started for one test, listening on 127.0.0.1
// and on a unix socket, persisting nothing. It is killed when the test
// ends.
type Redis struct {
	Port int    // its TCP port on 127.0.0.1
	Sock string // its unix socket's path
	Dir  string // its working directory

	t     testing.TB
	bin   string
	extra []string
	cmd   *exec.Cmd
	done  chan struct{}
	mu    sync.Mutex
	log   bytes.Buffer
}

// StartRedis starts redis-server on a free port; extra arguments are
// appended to its command line. A missing redis-server ends the test as
// Missing says.
func StartRedis(t testing.TB, extra ...string) *Redis {
	t.Helper()
	return StartRedisOn(t, FreePort(t), extra...)
}

// StartRedisOn is StartRedis on the given port.
func StartRedisOn(t testing.TB, port int, extra ...string) *Redis {
	t.Helper()
	dir := t.TempDir()
	r := &Redis{Port: port, Sock: filepath.Join(dir, "redis.sock"), Dir: dir,
		t: t, bin: Need(t, "redis-server"), extra: extra}
	r.start()
	t.Cleanup(r.Kill)
	return r
}

// FreePort returns a TCP port free on 127.0.0.1 when it asked.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is its TCP address, "127.0.0.1:PORT".
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port)) }

// Log is what the server wrote to its output so far.
func (r *Redis) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// Write collects the server's output for Log.
func (r *Redis) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(p)
}

func (r *Redis) start() {
	r.t.Helper()
	args := append([]string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--unixsocket", r.Sock,
		"--save", "", "--appendonly", "no", "--dir", r.Dir, "--dbfilename", "unused.rdb",
		"--daemonize", "no", "--loglevel", "warning"}, r.extra...)
	r.cmd = exec.Command(r.bin, args...)
	r.cmd.Stdout, r.cmd.Stderr = r, r
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	r.done = done
	go func(cmd *exec.Cmd) { cmd.Wait(); close(done) }(r.cmd)
	deadline := time.Now().Add(10 * time.Second)
	for !r.pong() {
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server did not answer PING on %s within 10s:\n%s", r.Addr(), r.Log())
		}
		select {
		case <-done:
			r.t.Fatalf("redis-server exited:\n%s", r.Log())
		case <-time.After(10 * time.Millisecond): // polling for the server to listen
		}
	}
}

// pong reports whether the server answers PING.
func (r *Redis) pong() bool {
	c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	fmt.Fprint(c, "PING\r\n")
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, "+PONG")
}

// Kill kills the server and waits for it to exit.
func (r *Redis) Kill() {
	if r.cmd == nil {
		return
	}
	r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// Restart kills the server and starts a new one, empty, on the same port.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	r.start()
}
