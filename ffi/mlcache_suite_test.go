//go:build mlcachesuite

package ffi_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/ngxrun"
	"github.com/shmlru/shmlru/internal/testenv"
)

// TestMLCacheSuite runs lua-resty-mlcache's own Test::Nginx blocks
// against resty.shmlru.mlcache, for a comparison by hand (`make
// test-mlcache-suite MLCACHE_SUITE=DIR`; the build tag keeps it out of
// `make test`): MLCACHE_SUITE names a directory of mlcache's t/*.t files
// (fetched locally; they are not part of this repository), and
// MLCACHE_SUITE_IMPL may name a directory holding another
// resty/shmlru/mlcache.lua to run instead. Each block is a subtest, in
// its own nginx; `require "resty.mlcache"` gets resty.shmlru.mlcache on a
// region per lua_shared_dict name, with mlcache's keys (name .. key).
//
// What it reads of a block: http_config (lua_shared_dict and
// init_by_lua_block; init_worker_by_lua_block runs in init_by_lua, where
// most of it fails), config, response_body, response_body_like/_unlike,
// error_code, error_log and no_error_log (strings, qr// and lists of
// them). It ignores main_config, log_level, grep_error_log and
// repeat_each. The known differences are listed in ffi/README.md.
func TestMLCacheSuite(t *testing.T) {
	dir := os.Getenv("MLCACHE_SUITE")
	if dir == "" {
		t.Fatal("MLCACHE_SUITE is not set: name a directory of lua-resty-mlcache's t/*.t")
	}
	testenv.NeedNginx(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.t"))
	sort.Strings(files)
	pass, total := 0, 0
	var summary []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		workers := 1
		if strings.Contains(string(src), "workers(2)") {
			workers = 2
		}
		fp, ft := 0, 0
		for _, b := range parseBlocks(string(src)) {
			b := b
			if skipped(b) {
				continue // as Test::Nginx: not run, not counted
			}
			ok := t.Run(filepath.Base(f)+"/"+b.name, func(t *testing.T) { runBlock(t, b, workers) })
			ft++
			if ok {
				fp++
			}
		}
		summary = append(summary, fmt.Sprintf("%s %d/%d", filepath.Base(f), fp, ft))
		pass += fp
		total += ft
	}
	t.Logf("mlcache suite: %d of %d blocks pass (%s)", pass, total, strings.Join(summary, ", "))
}

// block is one Test::Nginx block: its title and sections.
type block struct {
	name     string
	sections map[string]string // by name, modifiers dropped
	mods     map[string]string // the modifiers after a section's name
}

var (
	blockRE   = regexp.MustCompile(`(?m)^=== (TEST \d+[^\n]*)\n`)
	sectionRE = regexp.MustCompile(`(?m)^--- (\w+)(:?[^\n]*)\n`)
)

func parseBlocks(src string) []block {
	if i := strings.Index(src, "\n__DATA__\n"); i >= 0 {
		src = src[i+len("\n__DATA__\n"):]
	}
	if i := strings.Index(src, "\n__END__"); i >= 0 {
		src = src[:i]
	}
	idx := blockRE.FindAllStringSubmatchIndex(src, -1)
	var out []block
	for n, m := range idx {
		end := len(src)
		if n+1 < len(idx) {
			end = idx[n+1][0]
		}
		b := block{name: strings.TrimSpace(src[m[2]:m[3]]), sections: map[string]string{}, mods: map[string]string{}}
		body := src[m[1]:end]
		sidx := sectionRE.FindAllStringSubmatchIndex(body, -1)
		for k, s := range sidx {
			send := len(body)
			if k+1 < len(sidx) {
				send = sidx[k+1][0]
			}
			name := body[s[2]:s[3]]
			b.mods[name] = strings.TrimSpace(body[s[4]:s[5]])
			b.sections[name] = body[s[1]:send]
		}
		out = append(out, b)
	}
	return out
}

// luaBlock cuts directive { ... } out of conf, matching braces, and
// returns its body and what is left.
func luaBlock(conf, directive string) (body, rest string) {
	i := strings.Index(conf, directive)
	if i < 0 {
		return "", conf
	}
	open := strings.Index(conf[i:], "{") + i
	depth := 0
	for j := open; j < len(conf); j++ {
		switch conf[j] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return conf[open+1 : j], conf[:i] + conf[j+1:]
			}
		}
	}
	return "", conf
}

var qrRE = regexp.MustCompile(`(?s)qr/(.*?[^\\])/[a-z]*`)

// expectations returns a section's strings or patterns: one a line, or
// with eval the qr// and "..." of a Perl expression.
func expectations(b block, name string) (plain []string, patterns []*regexp.Regexp, err error) {
	s, ok := b.sections[name]
	if !ok {
		return nil, nil, nil
	}
	if strings.Contains(b.mods[name], "eval") {
		for _, m := range qrRE.FindAllStringSubmatch(s, -1) {
			re, err := regexp.Compile(strings.ReplaceAll(m[1], `\/`, `/`))
			if err != nil {
				return nil, nil, err
			}
			patterns = append(patterns, re)
		}
		if len(patterns) == 0 {
			for _, m := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(s, -1) {
				plain = append(plain, m[1])
			}
		}
		return plain, patterns, nil
	}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			plain = append(plain, l)
		}
	}
	return plain, nil, nil
}

var suiteRun int

// openresty is the OpenResty release whose lua-nginx-module and
// lua-resty-lrucache behave as the installed ones, for the blocks' skip_eval.
var openresty = [4]int{1, 21, 4, 1}

var skipRE = regexp.MustCompile(`skip_openresty\('([<>=]+)', '(\d+)\.(\d+)\.(\d+)\.(\d+)'\)`)

// skipped says whether the block's skip_eval skips it on openresty.
func skipped(b block) bool {
	m := skipRE.FindStringSubmatch(b.mods["skip_eval"])
	if m == nil {
		return false
	}
	cmp := 0
	for i := 0; i < 4 && cmp == 0; i++ {
		var v int
		fmt.Sscan(m[2+i], &v)
		switch {
		case openresty[i] < v:
			cmp = -1
		case openresty[i] > v:
			cmp = 1
		}
	}
	switch m[1] {
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	case ">=":
		return cmp >= 0
	}
	return false
}

func runBlock(t *testing.T, b block, workers int) {
	suiteRun++
	regionDir := fmt.Sprintf("/dev/shm/mlcache-suite-%d-%d-", os.Getpid(), suiteRun)
	t.Cleanup(func() {
		left, _ := filepath.Glob(regionDir + "*")
		for _, p := range left {
			os.Remove(p)
		}
	})
	luaDir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(luaDir, "resty"), 0o755); err != nil {
		t.Fatal(err)
	}
	shim := fmt.Sprintf(`-- resty.mlcache for mlcache's own tests: resty.shmlru.mlcache, with a
-- region in place of each lua_shared_dict and mlcache's keys.
local real = require "resty.shmlru.mlcache"
local M = setmetatable({}, { __index = real })
function M.new(name, shm, opts)
    if type(name) ~= "string" or type(shm) ~= "string"
            or (opts ~= nil and type(opts) ~= "table") then
        return real.new(name, shm, opts)
    end
    if not ngx.shared[shm] then
        return nil, "no such lua_shared_dict: " .. shm
    end
    local o = {}
    for k, v in pairs(opts or {}) do
        o[k] = v
    end
    if o.prefix == nil then
        o.prefix = name
    end
    o.region_opts = { size = "4m", mode = "0600" }
    return real.new(name, %q .. shm, o)
end
return M
`, regionDir)
	if err := os.WriteFile(filepath.Join(luaDir, "resty", "mlcache.lua"), []byte(shim), 0o644); err != nil {
		t.Fatal(err)
	}
	luaPath := luaDir + "/?.lua;"
	if impl := os.Getenv("MLCACHE_SUITE_IMPL"); impl != "" {
		luaPath = impl + "/?.lua;" + luaPath
	}

	httpConf := b.sections["http_config"]
	initBody, httpConf := luaBlock(httpConf, "init_by_lua_block")
	workerBody, httpConf := luaBlock(httpConf, "init_worker_by_lua_block")
	httpConf += `
    lua_shared_dict  cache_shm      1m;
    lua_shared_dict  cache_shm_miss 1m;
    lua_shared_dict  locks_shm      1m;
`
	if !strings.Contains(httpConf, "ipc_shm") {
		httpConf += "    lua_shared_dict  ipc_shm        1m;\n"
	}
	if lvl := strings.TrimSpace(strings.TrimPrefix(b.mods["log_level"], ":")); lvl != "" {
		httpConf += "    error_log " + filepath.Join("%DIR%", "error.log") + " " + lvl + ";\n"
	}
	region := regionDir + "ngxrun"
	ngxDir := t.TempDir()
	// As mlcache's harness: JIT traces to the error log, which some
	// blocks look for.
	jitV := fmt.Sprintf("require(\"jit.v\").on(%q)\n", filepath.Join(ngxDir, "error.log"))
	httpConf = strings.ReplaceAll(httpConf, "%DIR%", ngxDir)
	s, err := ngxrun.Start(ngxrun.Config{
		Root: testenv.Root(t), Dir: ngxDir, Lib: testenv.Lib(t),
		Workers: workers, Region: region, Size: "2m",
		LuaPath: luaPath,
		HTTP:    httpConf,
		Init:    jitV + initBody + "\n" + workerBody,
		Extra:   b.sections["config"],
	})
	if err != nil {
		t.Fatalf("nginx: %v", err)
	}
	body, gerr := s.GetWithin("/t", 20e9)
	if err := s.Stop(); err != nil {
		t.Log(err)
	}
	log := s.ErrorLog()
	defer func() {
		if t.Failed() {
			t.Logf("error log:\n%s", tail(log, 3000))
		}
	}()

	code := strings.TrimSpace(b.sections["error_code"])
	if code == "" { // "--- error_code: 500"
		code = strings.TrimSpace(strings.TrimPrefix(b.mods["error_code"], ":"))
	}
	if code != "" {
		if gerr == nil || !strings.Contains(gerr.Error(), code) {
			t.Errorf("want status %s, got %v", code, gerr)
		}
	} else if gerr != nil {
		t.Fatalf("GET /t: %v", gerr)
	}
	if want, ok := b.sections["response_body"]; ok && strings.TrimSpace(body) != strings.TrimSpace(want) {
		t.Errorf("response body:\n%s\nwant:\n%s", body, strings.TrimSpace(want))
	}
	for _, sec := range []string{"response_body_like", "response_body_unlike"} {
		want, ok := b.sections[sec]
		if !ok {
			continue
		}
		pat := strings.TrimRight(want, "\n")
		if strings.Contains(b.mods[sec], "eval") {
			if m := qrRE.FindStringSubmatch(want); m != nil {
				pat = m[1]
			}
		}
		re, err := regexp.Compile("(?s)" + pat)
		if err != nil {
			t.Errorf("%s: %v", sec, err)
			continue
		}
		if re.MatchString(body+"\n") != (sec == "response_body_like") {
			t.Errorf("%s %q: body\n%s", sec, pat, body)
		}
	}
	plain, pats, err := expectations(b, "error_log")
	if err != nil {
		t.Errorf("error_log: %v", err)
	}
	for _, p := range plain {
		if !strings.Contains(log, p) {
			t.Errorf("error log lacks %q", p)
		}
	}
	for _, re := range pats {
		if !re.MatchString(log) {
			t.Errorf("error log lacks /%s/", re)
		}
	}
	plain, pats, _ = expectations(b, "no_error_log")
	for _, p := range plain {
		if strings.Contains(log, p) {
			t.Errorf("error log has %q", p)
		}
	}
	for _, re := range pats {
		if re.MatchString(log) {
			t.Errorf("error log has /%s/", re)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
