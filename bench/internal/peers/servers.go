package peers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"
)

// ServerProc is a server the harness started on loopback.
type ServerProc struct {
	Addr string
	cmd  *exec.Cmd
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(name string, port int, bin string, args ...string) (*ServerProc, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s not installed (run `make deps`): %w", bin, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr                            // redis logs to stdout: keep it quiet
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the harness
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &ServerProc{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: cmd}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("%s did not listen on %s: %w", name, s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// StartRedis starts redis-server on a free loopback port with no
// persistence and an LRU eviction policy under maxmemory bytes.
func StartRedis(maxmemory int64) (*ServerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return start("redis", port, "redis-server",
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--maxmemory", strconv.FormatInt(maxmemory, 10), "--maxmemory-policy", "allkeys-lru",
		"--protected-mode", "yes", "--loglevel", "warning", "--dir", os.TempDir())
}

// StartMemcached starts memcached on a free loopback port with mb
// megabytes of item memory and 2 worker threads (the machine's cores).
func StartMemcached(mb int) (*ServerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return start("memcached", port, "memcached",
		"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", strconv.Itoa(mb), "-t", "2", "-u", "root", "-c", "1024")
}

// Stop ends the server.
func (s *ServerProc) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// ---- clients ----

// Redis is go-redis on one connection (what one process's request loop
// uses).
type Redis struct {
	C   *redis.Client
	ctx context.Context
}

func NewRedis(addr string) *Redis {
	return &Redis{C: redis.NewClient(&redis.Options{Addr: addr, PoolSize: 4, Protocol: 2}), ctx: context.Background()}
}

func (r *Redis) Get(dst, key []byte) ([]byte, bool) {
	v, err := r.C.Get(r.ctx, string(key)).Bytes()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return dst, false
		}
		panic(err)
	}
	return append(dst, v...), true
}
func (r *Redis) Set(key, value []byte) {
	if err := r.C.Set(r.ctx, string(key), value, 0).Err(); err != nil {
		panic(err)
	}
}
func (r *Redis) Del(key []byte) { r.C.Del(r.ctx, string(key)) }
func (r *Redis) Close()         { r.C.Close() }

// Flush empties the server.
func (r *Redis) Flush() { r.C.FlushAll(r.ctx) }

// SetMany pre-fills keys through a pipeline.
func (r *Redis) SetMany(keys [][]byte, value []byte) {
	for i := 0; i < len(keys); i += 1000 {
		p := r.C.Pipeline()
		for _, k := range keys[i:min(i+1000, len(keys))] {
			p.Set(r.ctx, string(k), value, 0)
		}
		if _, err := p.Exec(r.ctx); err != nil {
			panic(err)
		}
	}
}

// Memcached is gomemcache.
type Memcached struct{ C *memcache.Client }

func NewMemcached(addr string) *Memcached {
	c := memcache.New(addr)
	c.Timeout = 2 * time.Second
	c.MaxIdleConns = 8
	return &Memcached{c}
}

func (m *Memcached) Get(dst, key []byte) ([]byte, bool) {
	it, err := m.C.Get(string(key))
	if err != nil {
		if errors.Is(err, memcache.ErrCacheMiss) {
			return dst, false
		}
		panic(err)
	}
	return append(dst, it.Value...), true
}
func (m *Memcached) Set(key, value []byte) {
	if err := m.C.Set(&memcache.Item{Key: string(key), Value: value}); err != nil {
		panic(err)
	}
}
func (m *Memcached) Del(key []byte) { m.C.Delete(string(key)) }
func (m *Memcached) Close()         { m.C.Close() }

// Flush empties the server.
func (m *Memcached) Flush() { m.C.FlushAll() }
