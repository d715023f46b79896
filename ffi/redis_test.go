package ffi_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
)

// A real redis-server for the resty.shmlru.near tests, and the few RESP2
// commands the tests send it, over a plain net.Conn: the main module
// depends on no Redis client.

// redisServer is a redis-server started for one test (testenv.Redis).
type redisServer struct{ *testenv.Redis }

// startRedis starts redis-server on a free loopback port, with nothing
// persisted; it is killed when the test ends.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	return &redisServer{testenv.StartRedis(t)}
}

// redisConn is one connection to it.
type redisConn struct {
	c net.Conn
	r *bufio.Reader
}

func (s *redisServer) dial() (*redisConn, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &redisConn{c: c, r: bufio.NewReader(c)}, nil
}

func (r *redisConn) close() { r.c.Close() }

// redisError is an error reply.
type redisError string

func (e redisError) Error() string { return string(e) }

// do sends one command and returns its reply: a string (simple or bulk),
// nil (the null bulk string), an int64, a []any, or a redisError.
func (r *redisConn) do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(r.c, b.String()); err != nil {
		return nil, err
	}
	return r.reply()
}

func (r *redisConn) reply() (any, error) {
	line, err := r.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, redisError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = r.reply(); err != nil {
				var re redisError
				if !errors.As(err, &re) {
					return nil, err
				}
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad reply line %q", line)
}

// redis is a test's client: each call fails the test on a transport
// error or an error reply.
type redis struct {
	t *testing.T
	s *redisServer
	c *redisConn
}

func (s *redisServer) client(t *testing.T) *redis {
	t.Helper()
	c, err := s.dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return &redis{t: t, s: s, c: c}
}

func (r *redis) do(args ...string) any {
	r.t.Helper()
	v, err := r.c.do(args...)
	if err != nil {
		r.t.Fatalf("redis %s: %v\n%s", strings.Join(args, " "), err, r.s.Log())
	}
	return v
}

// gets returns how many GET commands the server has run since the last
// CONFIG RESETSTAT (INFO commandstats).
func (r *redis) gets() int {
	r.t.Helper()
	info, _ := r.do("INFO", "commandstats").(string)
	for _, l := range strings.Split(info, "\r\n") {
		if rest, ok := strings.CutPrefix(l, "cmdstat_get:calls="); ok {
			n, err := strconv.Atoi(rest[:strings.IndexByte(rest+",", ',')])
			if err != nil {
				r.t.Fatalf("INFO commandstats: %q", l)
			}
			return n
		}
	}
	return 0
}
