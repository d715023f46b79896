package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/internal/ngxrun"
)

// The LuaJIT and lua_shared_dict figures come from one nginx with one
// worker, started through internal/ngxrun as the nginx tests start theirs;
// bench/lua/shmlru_bench.lua runs inside the worker (its header lists the
// handlers).

// luaKeyCounts are the key counts of the LuaJIT tables: a working set that
// fits in the CPU's caches and one that does not.
var luaKeyCounts = []int{1000, 100000}

// luaZone is the size of each lua_shared_dict, and of each shmlru region,
// that the LuaJIT benchmark gives n keys: room for n entries at 256 bytes
// each, a power of two of MiB, at least 8 MiB. Both peers get the same, and
// neither evicts (setup checks that each holds every key).
func luaZone(n int) string {
	mib := 8
	for mib<<20 < n*256 {
		mib *= 2
	}
	return fmt.Sprintf("%dm", mib)
}

// luaDict names the zone of n strings, or of n incr counters.
func luaDict(n int, counters bool) string {
	if counters {
		return fmt.Sprintf("shmlru_bench_%d_incr", n)
	}
	return fmt.Sprintf("shmlru_bench_%d", n)
}

// nginx starts the nginx on first use and returns it.
func (e *env) nginx() (*ngxrun.Server, error) {
	if e.ngx != nil || e.ngxErr != nil {
		return e.ngx, e.ngxErr
	}
	var httpConf strings.Builder
	for _, sz := range workload.Sizes {
		fmt.Fprintf(&httpConf, "    lua_shared_dict %s %dm;\n", densityZone(sz), densityBytes>>20)
	}
	for _, n := range luaKeyCounts {
		for _, counters := range []bool{false, true} {
			fmt.Fprintf(&httpConf, "    lua_shared_dict %s %s;\n", luaDict(n, counters), luaZone(n))
		}
	}
	httpConf.WriteString(mlcHTTP())
	// ngxrun also opens a cache of its own in every worker (its tests'
	// locations use it); this one's is small and unused.
	e.ngx, e.ngxErr = startNginx(1, e.shmPath("ngxrun"), httpConf.String(), "shmlru_bench", "/", "density", "setup", "round", "teardown",
		"mlcache_setup", "mlcache_round", "mlcache_teardown")
	if e.ngxErr != nil {
		e.ngxErr = fmt.Errorf("nginx: %w", e.ngxErr)
		return nil, e.ngxErr
	}
	logf("nginx on %s", e.ngx.URL)
	return e.ngx, nil
}

// startNginx starts an nginx of workers workers, with http in its http
// block and a location prefix+h for each of handlers that calls
// require(module).h() (a module of bench/lua, found before -mlcache-src's).
func startNginx(workers int, region, http, module, prefix string, handlers ...string) (*ngxrun.Server, error) {
	root := repoRoot()
	var extra strings.Builder
	for _, h := range handlers {
		fmt.Fprintf(&extra, "        location = %s%s { content_by_lua_block { require(%q).%s() } }\n", prefix, h, module, h)
	}
	return ngxrun.Start(ngxrun.Config{
		Root:    root,
		Workers: workers,
		Region:  region,
		HTTP:    http,
		Extra:   extra.String(),
		LuaPath: filepath.Join(root, "bench", "lua") + "/?.lua;" + mlcLuaPath(),
	})
}

// nginxGet requests path?q from the nginx and decodes its JSON answer into
// into. An answer {"error": ...} is an error, as is a failed request, whose
// error carries the end of nginx's error log.
func (e *env) nginxGet(path string, q url.Values, into any) error {
	s, err := e.nginx()
	if err != nil {
		return err
	}
	body, err := s.GetSlow(path + "?" + q.Encode())
	if err != nil {
		log := s.ErrorLog()
		if len(log) > 2000 {
			log = log[len(log)-2000:]
		}
		return fmt.Errorf("%w\nnginx error log: %s", err, log)
	}
	var probe struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(body), &probe) == nil && probe.Error != "" {
		return fmt.Errorf("%s: %s", path, probe.Error)
	}
	return json.Unmarshal([]byte(body), into)
}

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

// nginxVersion is nginx's version for the report, or why there is none.
func nginxVersion() string {
	v, err := ngxrun.Version()
	if err != nil {
		return "not installed"
	}
	return v
}
