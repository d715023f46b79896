package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
)

// The LuaJIT figures come from an nginx (with the lua module) that the
// harness starts on a loopback port with one worker; bench/lua/
// shmlru_bench.lua runs the timed loops inside the worker.

var nginxCmd *exec.Cmd

// repoRoot is the project's root: bench/.. (the harness runs from bench/).
func repoRoot() string {
	wd, _ := os.Getwd()
	for d := wd; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "bench", "lua", "shmlru_bench.lua")); err == nil {
			return d
		}
	}
	return filepath.Dir(wd)
}

// shmlruLua reports whether the shmlru Lua module and its .so are built.
func shmlruLua(root string) (bool, string) {
	for _, p := range []string{"ffi/resty/shmlru.lua", "build/libshmlru.so"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			return false, p + " is missing (make build)"
		}
	}
	return true, ""
}

func startNginx(e *env) (string, error) {
	if nginxCmd != nil {
		return nginxAddr, nil
	}
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 != nil {
			return "", fmt.Errorf("nginx not installed (make deps): %w", err)
		}
		bin = "/usr/sbin/nginx"
	}
	root := repoRoot()
	prefix := filepath.Join(e.dir, "nginx")
	for _, d := range []string{"logs", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			return "", err
		}
	}
	port, err := peers.FreePort()
	if err != nil {
		return "", err
	}
	conf := fmt.Sprintf(`load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
user root;
worker_processes 1;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log warn;
events { worker_connections 64; }
env SHMLRU_LIB;
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    lua_package_path "%[2]s/bench/lua/?.lua;%[2]s/ffi/?.lua;;";
    lua_shared_dict d 64m;
    lua_shared_dict b16 12m;
    lua_shared_dict b512 40m;
    server {
        listen 127.0.0.1:%[3]d;
        location = /density { content_by_lua_block { require("shmlru_bench").density() } }
        location = /bench { content_by_lua_block { require("shmlru_bench").bench() } }
    }
}
`, prefix, root, port)
	cf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", cf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), "SHMLRU_LIB="+filepath.Join(root, "build", "libshmlru.so"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	nginxCmd = cmd
	nginxAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	nginxLog = filepath.Join(prefix, "logs", "error.log")
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", nginxAddr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stopNginx()
			return "", fmt.Errorf("nginx did not listen on %s (see its error log)", nginxAddr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	logf("nginx on %s", nginxAddr)
	return nginxAddr, nil
}

var nginxAddr, nginxLog string

func stopNginx() {
	if nginxCmd == nil {
		return
	}
	nginxCmd.Process.Signal(syscall.SIGQUIT)
	done := make(chan struct{})
	go func() { nginxCmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		nginxCmd.Process.Kill()
		<-done
	}
	nginxCmd = nil
}

func nginxGet(path string, q url.Values, into any) error {
	cl := &http.Client{Timeout: 2 * time.Minute}
	resp, err := cl.Get("http://" + nginxAddr + path + "?" + q.Encode())
	if err != nil {
		tail, _ := os.ReadFile(nginxLog)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%w\nnginx error log: %s", err, tail)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		tail, _ := os.ReadFile(nginxLog)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return fmt.Errorf("%s: HTTP %d: %s\nnginx error log: %s", path, resp.StatusCode, b, tail)
	}
	var probe struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &probe) == nil && probe.Error != "" {
		return fmt.Errorf("%s: %s", path, probe.Error)
	}
	return json.Unmarshal(b, into)
}

func luaDensity(e *env) (DensityResult, error) {
	if _, err := startNginx(e); err != nil {
		return DensityResult{}, err
	}
	var r struct {
		First    int `json:"first_eviction"`
		Steady   int `json:"steady"`
		Capacity int `json:"capacity"`
		Free     int `json:"free_space"`
	}
	if err := nginxGet("/density", nil, &r); err != nil {
		return DensityResult{}, err
	}
	d := DensityResult{Cache: "lua_shared_dict 64m", FirstEviction: r.First, Steady: r.Steady,
		BytesPerEntry: float64(densityBytes) / float64(r.Steady),
		Note:          fmt.Sprintf("nginx %s, capacity() %d B", nginxVersion(), r.Capacity)}
	logf("density lua_shared_dict: first eviction at %d, steady %d", r.First, r.Steady)
	return d, nil
}

// LuaResult is one LuaJIT measurement (median over reps).
type LuaResult struct {
	Size     string    `json:"size"`
	Op       string    `json:"op"`
	Peer     string    `json:"peer"`
	Ns       float64   `json:"ns"`
	Bytes    float64   `json:"bytes"` // Lua heap growth per op
	HitRatio float64   `json:"hit_ratio,omitempty"`
	All      []float64 `json:"ns_all"`
}

var luaPeers = []string{"shmlru", "shdict", "lrucache", "pureffi"}

func runLua(e *env, cfg Config) ([]LuaResult, string) {
	if !cfg.Lua {
		return nil, "skipped"
	}
	if _, err := startNginx(e); err != nil {
		return nil, err.Error()
	}
	root := repoRoot()
	peersToRun := luaPeers
	note := ""
	if ok, why := shmlruLua(root); !ok {
		peersToRun = luaPeers[1:]
		note = "shmlru is not in the LuaJIT table: " + why
	}
	sizes := workload.Sizes[:2]
	if cfg.Quick {
		sizes = sizes[:1]
	}
	type cell struct{ size, op, peer string }
	ns := map[cell][]float64{}
	bytes := map[cell][]float64{}
	hit := map[cell][]float64{}
	var order []cell
	addc := func(c cell, n, b, h float64) {
		if _, ok := ns[c]; !ok {
			order = append(order, c)
		}
		ns[c] = append(ns[c], n)
		bytes[c] = append(bytes[c], b)
		hit[c] = append(hit[c], h)
	}
	reps := min(cfg.Reps, 3)
	failed := map[string]string{}
	for rep := 0; rep < reps; rep++ {
		for _, sz := range sizes {
			for _, p := range peersToRun {
				if failed[p] != "" {
					continue
				}
				var r struct {
					GetHit    []float64 `json:"get_hit"`
					GetMiss   []float64 `json:"get_miss"`
					SetUpdate []float64 `json:"set_update"`
					SetEvict  []float64 `json:"set_evict"`
					Mixed     []struct {
						Hot      float64 `json:"hot"`
						Zipf     bool    `json:"zipf"`
						Read     float64 `json:"read"`
						Ns       float64 `json:"ns"`
						Bytes    float64 `json:"bytes"`
						HitRatio float64 `json:"hit_ratio"`
					} `json:"mixed"`
				}
				q := url.Values{"peer": {p}, "ks": {strconv.Itoa(sz.Key)}, "vs": {strconv.Itoa(sz.Value)},
					"cap": {strconv.Itoa(capacityFor(sz))}, "dur_ms": {strconv.Itoa(int(cfg.Dur / time.Millisecond))}}
				if err := nginxGet("/bench", q, &r); err != nil {
					logf("lua %s: %v", p, err)
					failed[p] = err.Error()
					continue
				}
				for _, x := range []struct {
					op string
					v  []float64
				}{{"get (hit)", r.GetHit}, {"get (miss)", r.GetMiss}, {"set (update)", r.SetUpdate}, {"set (insert, evicting)", r.SetEvict}} {
					if len(x.v) == 2 {
						addc(cell{sz.String(), x.op, p}, x.v[0], x.v[1], 0)
					}
				}
				for _, m := range r.Mixed {
					s := workload.Spec{Size: sz, Hot: m.Hot, Zipf: m.Zipf, ReadFrac: m.Read}
					addc(cell{sz.String(), "workload " + s.Name(), p}, m.Ns, m.Bytes, m.HitRatio)
				}
			}
			runtime.GC()
		}
		logf("lua rep %d/%d done", rep+1, reps)
	}
	for p, why := range failed {
		note += fmt.Sprintf(" %s failed: %s.", p, why)
	}
	var out []LuaResult
	for _, c := range order {
		out = append(out, LuaResult{Size: c.size, Op: c.op, Peer: c.peer, Ns: median(ns[c]), Bytes: median(bytes[c]), HitRatio: median(hit[c]), All: ns[c]})
	}
	return out, note
}

func nginxVersion() string {
	out, err := exec.Command("nginx", "-v").CombinedOutput()
	if err != nil {
		out, _ = exec.Command("/usr/sbin/nginx", "-v").CombinedOutput()
	}
	s := string(out)
	if i := len("nginx version: "); len(s) > i && s[:i] == "nginx version: " {
		s = s[i:]
	}
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
