// Package ngxrun runs a throwaway nginx whose workers share a shmlru cache
// through resty.shmlru: the nginx integration tests (ffi/nginx_test.go), the
// `make demo` stage and the LuaJIT benchmark (bench/cmd/shmlru-bench) use it.
//
// The nginx is Debian's, with libnginx-mod-http-lua (installed by
// `make deps`). Its configuration, logs and temporary files live in a
// directory of their own; the master runs as a child process of the caller,
// in the foreground.
package ngxrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Modules are the dynamic modules the configuration loads, NDK first.
var Modules = []string{
	"/usr/lib/nginx/modules/ndk_http_module.so",
	"/usr/lib/nginx/modules/ngx_http_lua_module.so",
}

// Config describes a server to start.
type Config struct {
	Root    string // the repository's root, where Lib and LuaDir are found when empty (default ".")
	Dir     string // working directory for the configuration, logs, pid and temp files (default: a temporary one, removed by Stop)
	Workers int    // worker processes (0 = 2)
	Region  string // the cache's region path
	Size    string // the cache's size, as opts.size (e.g. "8m")
	Lib     string // absolute path of libshmlru.so, given as opts.lib (default: FindLib(Root))
	NoLib   bool   // give no opts.lib: the module finds the library itself (installed path, package.cpath, the system's loader)
	LuaDir  string // absolute path of the directory holding resty/shmlru.lua (default: Root/ffi)
	Extra   string // more location blocks for the server
	HTTP    string // more directives for the http block
	LuaPath string // more lua_package_path entries ("/dir/?.lua;")
	Init    string // more Lua for init_by_lua_block, run in the master after its open was refused
	CPath   string // lua_package_cpath entries before the default ("/dir/?.so;")
}

// Server is a running nginx.
type Server struct {
	cfg    Config
	nginx  string
	conf   string
	URL    string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // of Wait, once done is closed
	client *http.Client
	tmpDir string // removed by Stop, when Start made the working directory
}

// FindNginx returns the nginx binary's path and checks that the Lua
// module is installed.
func FindNginx() (string, error) {
	p, err := exec.LookPath("nginx")
	if err != nil {
		p = "/usr/sbin/nginx"
		if _, err := os.Stat(p); err != nil {
			return "", errors.New("nginx not found: install it with `make deps` (scripts/deps.sh)")
		}
	}
	for _, m := range Modules {
		if _, err := os.Stat(m); err != nil {
			return "", fmt.Errorf("%s missing: install libnginx-mod-http-lua with `make deps`", m)
		}
	}
	return p, nil
}

// Version returns the version that `nginx -v` prints, as "nginx/1.22.1".
func Version() (string, error) {
	nginx, err := FindNginx()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(nginx, "-v").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("nginx -v: %v\n%s", err, out)
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: "), nil
}

// FindLib returns the absolute path of libshmlru.so: $SHMLRU_LIB, or
// build/libshmlru.so under root (the repository's top directory).
func FindLib(root string) (string, error) {
	p := os.Getenv("SHMLRU_LIB")
	if p == "" {
		p = filepath.Join(root, "build", "libshmlru.so")
	}
	p, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found: run `make build` first (or set SHMLRU_LIB)", p)
	}
	return p, nil
}

// The Lua locations every server has. The cache opened in init_worker is
// in package.loaded["shmlru.cache"].
const locations = `
        location = /ping { content_by_lua_block { ngx.say(ngx.worker.pid()) } }
        location = /get {
            content_by_lua_block {
                local c = package.loaded["shmlru.cache"]
                local v, f = c:get(ngx.unescape_uri(ngx.var.arg_k))
                ngx.say(ngx.worker.pid(), " ", type(v), " ", tostring(f), " ", tostring(v))
            }
        }
        location = /set {
            content_by_lua_block {
                local c = package.loaded["shmlru.cache"]
                local a = ngx.req.get_uri_args()
                local v = a.v
                if a.t == "number" then v = tonumber(v) elseif a.t == "boolean" then v = (v == "true") end
                local ok, err = c:set(a.k, v, tonumber(a.ttl) or 0, tonumber(a.f) or 0)
                ngx.say(ngx.worker.pid(), " ", tostring(ok), " ", tostring(err))
            }
        }
        location = /incr {
            content_by_lua_block {
                local c = package.loaded["shmlru.cache"]
                local v, err = c:incr(ngx.var.arg_k, 1, 0)
                ngx.say(ngx.worker.pid(), " ", tostring(v), " ", tostring(err))
            }
        }
        location = /init_err { content_by_lua_block { ngx.say(tostring(shmlru_init_err)) } }
`

// defaults fills in what the caller left empty. It returns the working
// directory it created, if it did, for Stop to remove.
func (cfg *Config) defaults() (tmpDir string, err error) {
	if cfg.Root == "" {
		cfg.Root = "."
	}
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	if cfg.Size == "" {
		cfg.Size = "8m"
	}
	if cfg.Lib == "" && !cfg.NoLib {
		if cfg.Lib, err = FindLib(cfg.Root); err != nil {
			return "", err
		}
	}
	if cfg.LuaDir == "" {
		if cfg.LuaDir, err = filepath.Abs(filepath.Join(cfg.Root, "ffi")); err != nil {
			return "", err
		}
	}
	if cfg.Dir == "" {
		if cfg.Dir, err = os.MkdirTemp("", "shmlru-nginx-"); err != nil {
			return "", err
		}
		tmpDir = cfg.Dir
	}
	return tmpDir, nil
}

// libOpt is opts.lib in Lua: the library's path, or nil with NoLib.
func (cfg *Config) libOpt() string {
	if cfg.NoLib {
		return "nil"
	}
	return strconv.Quote(cfg.Lib)
}

// Start writes the configuration, starts nginx and waits until it answers.
func Start(cfg Config) (_ *Server, err error) {
	nginx, err := FindNginx()
	if err != nil {
		return nil, err
	}
	tmpDir, err := cfg.defaults()
	if err != nil {
		return nil, err
	}
	if tmpDir != "" {
		defer func() {
			if err != nil {
				os.RemoveAll(tmpDir)
			}
		}()
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	for _, m := range Modules {
		fmt.Fprintf(&b, "load_module %s;\n", m)
	}
	d := cfg.Dir
	fmt.Fprintf(&b, `user root;
worker_processes %d;
master_process on;
pid %s/nginx.pid;
error_log %s/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %s/client_body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    lua_package_path "%s%s/?.lua;;";
    lua_package_cpath "%s;;";
%s
    init_by_lua_block {
        -- The master must refuse: the Go runtime would not survive the fork.
        local shmlru = require "resty.shmlru"
        local c, err = shmlru.open(%q, { lib = %s })
        shmlru_init_err = err or "open succeeded in the init phase"
%s
    }
    init_worker_by_lua_block {
        local shmlru = require "resty.shmlru"
        local c, err = shmlru.open(%q, { size = %q, lib = %s, mode = "0600" })
        if not c then
            ngx.log(ngx.ERR, "shmlru.open: ", err)
            return
        end
        package.loaded["shmlru.cache"] = c
    }
    server {
        listen 127.0.0.1:%d reuseport;
        keepalive_timeout 0;
%s
%s
    }
}
`, cfg.Workers, d, d, d, d, d, d, d, cfg.LuaPath, cfg.LuaDir, cfg.CPath, cfg.HTTP, cfg.Region, cfg.libOpt(), cfg.Init, cfg.Region, cfg.Size, cfg.libOpt(), port, locations, cfg.Extra)
	conf := filepath.Join(d, "nginx.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command(nginx, "-t", "-q", "-p", d, "-c", conf).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("nginx -t: %v\n%s", err, out)
	}
	s := &Server{
		cfg: cfg, nginx: nginx, conf: conf, tmpDir: tmpDir,
		URL:    fmt.Sprintf("http://127.0.0.1:%d", port),
		done:   make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, // each request has its own bound (GetWithin)
	}
	s.cmd = exec.Command(nginx, "-p", d, "-c", conf, "-g", "daemon off;")
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { s.err = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := s.Get("/ping"); err == nil {
			return s, nil
		} else if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("nginx did not answer within 15s: %v\n%s", err, s.ErrorLog())
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("nginx exited: %v\n%s", s.err, s.ErrorLog())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Get requests path on a new connection and returns the body, trimmed. It
// gives up after 5 seconds.
func (s *Server) Get(path string) (string, error) { return s.GetWithin(path, 5*time.Second) }

// GetSlow is Get without the 5-second timeout, for long requests.
func (s *Server) GetSlow(path string) (string, error) { return s.GetWithin(path, 0) }

// GetWithin is Get that gives up after d (0: never). The bound is the
// request's own, so concurrent requests may each have their own.
func (s *Server) GetWithin(path string, d time.Duration) (string, error) {
	ctx := context.Background()
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return "", err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return strings.TrimSpace(string(body)), nil
}

// MasterPID returns the master process's pid.
func (s *Server) MasterPID() int { return s.cmd.Process.Pid }

// WorkerOf returns the worker pid that an answer starts with. The
// locations answer "PID TYPE FLAGS VALUE" (/get), "PID OK ERR" (/set),
// "PID NEWVAL ERR" (/incr) and "PID" (/ping).
func WorkerOf(answer string) int {
	f := strings.Fields(answer)
	if len(f) == 0 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// Reload runs `nginx -s reload`: the master starts new workers and the old
// ones finish gracefully.
func (s *Server) Reload() error {
	out, err := exec.Command(s.nginx, "-p", s.cfg.Dir, "-c", s.conf, "-s", "reload").CombinedOutput()
	if err != nil {
		return fmt.Errorf("nginx -s reload: %v\n%s", err, out)
	}
	return nil
}

// Stop asks the master to quit gracefully (SIGQUIT) and waits for it; it
// kills it after 10 seconds.
func (s *Server) Stop() error {
	if s.tmpDir != "" {
		defer os.RemoveAll(s.tmpDir)
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
		return nil
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		return errors.New("nginx did not quit within 10s; killed")
	}
}

// ErrorLog returns the contents of nginx's error log.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(s.cfg.Dir, "error.log"))
	return string(b)
}
