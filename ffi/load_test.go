package ffi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/shmlru/shmlru/internal/ngxrun"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// The read-through tests: resty.shmlru's get_or_load and
// resty.shmlru.mlcache in nginx workers, with Go processes on the same
// keys. Loaders in both languages follow one protocol (ffi/t/ngx_load.lua
// describes it): they append a line to a count file, so the test counts
// loads outside the cache, then wait for a release file, so the test
// decides when a load ends and can gather every caller behind it first.
// nginx runs loadWorkers workers; a second Go process is this test binary
// run again (TestMain).
//
//   - TestNginxLoadOnceAcrossProcesses: 24 concurrent requests, 4
//     goroutines and a second Go process miss one key: one load in total,
//     and everyone gets its value; three rounds (together, nginx first, Go
//     first), so both languages load and wait.
//   - TestNginxLoadLoaderKilled: the loading worker is SIGKILLed; a waiter
//     takes over well within a second, the key is loaded once more, every
//     waiter outside the killed worker and the Go waiter get the value, and
//     the respawned worker finds it.
//   - TestNginxLoadOutcomes: an error reaches nginx waiters and a Go
//     waiter; negative caching both ways between Lua and Go; the stale
//     window's flags read by Go, callers and Go served stale at once while
//     the one refresh is held, then the new value; a wait_timeout behind a
//     held load; a raising callback's message to every waiter, and a free
//     load after it; waits in the access phase and in a timer, refused in
//     header_filter; a short lease taken over.
//   - TestNginxLoadErrorAfterTableMovedOn: waiters in SIGSTOPped workers
//     while the load fails and other keys' loads take every flight of its
//     window they may: each waiter still gets the error, and no callback
//     runs.
//   - TestNginxLoadLateLoaderKeepsNewValue: a callback whose lease ran out
//     returns after Go took the load over and wrote its value: its value,
//     or its absence with neg_ttl, is not written over Go's, and its
//     request gets what it returned.

const loadWorkers = 4

// The locations of ffi/t/ngx_load.lua.
const loadLocations = `
        location = /gol { content_by_lua_block { require("ngx_load").gol() } }
        location = /gol_access {
            access_by_lua_block { require("ngx_load").gol_access() }
            content_by_lua_block { require("ngx_load").say_ctx() }
        }
        location = /gol_timer { content_by_lua_block { require("ngx_load").gol_timer() } }
        location = /gol_hf {
            content_by_lua_block { ngx.say("body") }
            header_filter_by_lua_block { require("ngx_load").gol_hf() }
        }
        location = /ml { content_by_lua_block { require("ngx_load").ml() } }
        location = /ml_levels { content_by_lua_block { require("ngx_load").ml_levels() } }
        location = /ml_breadth { content_by_lua_block { require("ngx_load").ml_breadth() } }
        location = /ml_init { content_by_lua_block { require("ngx_load").ml_init() } }
        location = /ml_alloc { content_by_lua_block { require("ngx_load").ml_alloc() } }
        location = /ml_api { content_by_lua_block { require("ngx_load").ml_api() } }
        location = /ml_restamp { content_by_lua_block { require("ngx_load").ml_restamp() } }
        location = /ml_update_err { content_by_lua_block { require("ngx_load").ml_update_err() } }
        location = /ml_init_err { content_by_lua_block { ngx.say(tostring(ml_init_err)) } }
        location ~ ^/mlc_(\w+)$ { content_by_lua_block { require("ngx_mlcache")[ngx.var[1]]() } }
`

// loadEnv is one nginx with loadWorkers workers and the test's own handle
// on its region, plus a directory for count and release files.
type loadEnv struct {
	t      *testing.T
	c      *lru.Cache
	s      *ngxrun.Server
	region string
	dir    string
	client *http.Client
}

func startLoadNginx(t *testing.T) *loadEnv {
	t.Helper()
	testenv.NeedNginx(t)
	region := shm.Path(fmt.Sprintf("shmlru-load-test-%d-%s", os.Getpid(), t.Name()))
	c, err := lru.Open(region, &lru.Options{Size: 8 << 20, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); shm.Remove(region) })
	luaT, err := filepath.Abs("t")
	if err != nil {
		t.Fatal(err)
	}
	s := testenv.Nginx(t, ngxrun.Config{
		Workers: loadWorkers, Region: region, Size: "8m",
		LuaPath: luaT + "/?.lua;",
		Extra:   loadLocations,
		// mlcache instances are usually created in init_by_lua: the
		// region is then opened in each worker on first use.
		Init: fmt.Sprintf(`        ml_from_init, ml_init_err = require("resty.shmlru.mlcache").new("init", %q, { ttl = 60 })`, region),
	}, func(log string) { checkLog(t, log) })
	return &loadEnv{
		t: t, c: c, s: s, region: region, dir: t.TempDir(),
		client: &http.Client{Timeout: 40 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
}

// get requests path with the query q and returns the body, trimmed.
func (e *loadEnv) get(path string, q url.Values) (string, error) {
	return e.s.GetWithin(path+"?"+q.Encode(), 40*time.Second)
}

// answer is one line of ffi/t/ngx_load.lua: pid, type, value, err, source
// (or hit level).
type answer struct {
	pid                  int
	typ, value, err, src string
}

func parseAnswer(s string) (answer, error) {
	f := strings.Split(s, "\t")
	if len(f) != 5 {
		return answer{}, fmt.Errorf("not an answer: %q", s)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return answer{}, fmt.Errorf("not an answer: %q", s)
	}
	return answer{pid, f[1], f[2], f[3], f[4]}, nil
}

func (a answer) String() string {
	return fmt.Sprintf("[%d %s %s err=%s %s]", a.pid, a.typ, a.value, a.err, a.src)
}

// call requests path and parses the answer, failing the test on error.
func (e *loadEnv) call(path string, q url.Values) answer {
	e.t.Helper()
	s, err := e.get(path, q)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := parseAnswer(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// async runs n requests at once; their answers (or transport errors) come
// on the returned channel.
type result struct {
	a   answer
	err error
}

func (e *loadEnv) async(n int, path string, q url.Values) <-chan result {
	out := make(chan result, n)
	for i := 0; i < n; i++ {
		go func() {
			s, err := e.get(path, q)
			if err != nil {
				out <- result{err: err}
				return
			}
			a, err := parseAnswer(s)
			out <- result{a: a, err: err}
		}()
	}
	return out
}

// files returns a fresh count file and release file, named for what.
func (e *loadEnv) files(what string) (cf, rel string) {
	return filepath.Join(e.dir, what+".count"), filepath.Join(e.dir, what+".release")
}

func release(t *testing.T, rel string) {
	t.Helper()
	if err := os.WriteFile(rel, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

// loads returns the lines of a count file: one per load, "lua PID KEY" or
// "go PID KEY". Only whole lines count: a loader creates the file, then
// writes its line, and a read in between finds the file empty (or a line
// cut short).
func loads(t *testing.T, cf string) []string {
	t.Helper()
	b, err := os.ReadFile(cf)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	s = s[:strings.LastIndexByte(s, '\n')+1]
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// appendLine appends a line to a count file, as the Lua loaders do.
func appendLine(cf, line string) error {
	f, err := os.OpenFile(cf, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(line + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// waitFile waits until path exists or ctx ends.
func waitFile(ctx context.Context, path string) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// goLoader is the Go loader of the protocol: it counts itself in cf,
// waits for rel (if not empty), and returns value.
func goLoader(cf, rel, value string) lru.Loader {
	return func(ctx context.Context, key []byte) ([]byte, error) {
		if err := appendLine(cf, fmt.Sprintf("go %d %s", os.Getpid(), key)); err != nil {
			return nil, err
		}
		if rel != "" {
			if err := waitFile(ctx, rel); err != nil {
				return nil, err
			}
		}
		return []byte(value), nil
	}
}

// waits returns how many waiters the load table has counted so far.
func (e *loadEnv) waits() uint64 {
	e.t.Helper()
	st, err := e.c.Loads().Stats()
	if err != nil {
		e.t.Fatal(err)
	}
	return st.Waits
}

// startLoader sends one request and waits until its callback has
// announced itself in cf: the load is then that request's.
func (e *loadEnv) startLoader(path string, q url.Values) <-chan result {
	e.t.Helper()
	cf := q.Get("cf")
	before := len(loads(e.t, cf))
	out := e.async(1, path, q)
	waitUntil(e.t, 20*time.Second, "the loader announces itself", func() bool {
		select {
		case r := <-out:
			e.t.Fatalf("the loader answered before its release: %v %v", r.a, r.err)
		default:
		}
		return len(loads(e.t, cf)) > before
	})
	return out
}

// waitsAtLeast waits until the load table has counted n waiters.
func (e *loadEnv) waitsAtLeast(n uint64) {
	e.t.Helper()
	var st lru.LoadCounters
	waitUntil(e.t, 20*time.Second, fmt.Sprintf("want %d waiters in the load table", n), func() bool {
		var err error
		st, err = e.c.Loads().Stats()
		if err != nil {
			e.t.Fatal(err)
		}
		return st.Waits >= n
	})
}

// The helper process: the test binary run again in role "getorload"
// (testenv.Child) is a Go process of its own that opens the region and
// calls GetOrLoad with the protocol's loader, then prints
// "value\tsource\terr".
func TestMain(m *testing.M) {
	if testenv.Role() == "getorload" {
		os.Exit(helperGetOrLoad())
	}
	os.Exit(m.Run())
}

func helperGetOrLoad() int {
	env := os.Getenv
	c, err := lru.Open(env("SHMLRU_REGION"), &lru.Options{NoCreate: true})
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, src, err := c.Load(ctx, nil, []byte(env("SHMLRU_KEY")),
		goLoader(env("SHMLRU_CF"), env("SHMLRU_REL"), env("SHMLRU_VALUE")),
		lru.LoadOptions{TTL: time.Minute})
	fmt.Printf("%s\t%v\t%v\n", v, src, err)
	return 0
}

// startHelper starts a helper process; its answer comes on the channel.
func (e *loadEnv) startHelper(key, cf, rel, value string) <-chan string {
	e.t.Helper()
	cmd := testenv.Child(e.t, "getorload")
	cmd.Env = append(cmd.Env, "SHMLRU_REGION="+e.region,
		"SHMLRU_KEY="+key, "SHMLRU_CF="+cf, "SHMLRU_REL="+rel, "SHMLRU_VALUE="+value)
	out := make(chan string, 1)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		b, _ := io.ReadAll(stdout)
		if err := cmd.Wait(); err != nil {
			b = append(b, []byte(" exit: "+err.Error())...)
		}
		out <- strings.TrimSpace(string(b))
	}()
	return out
}

// TestNginxLoadOnceAcrossProcesses: 4 nginx workers serving 24 requests at
// once, 4 goroutines of this Go process and a second Go process all miss
// one key. The loader runs exactly once in total (the count file holds one
// line), and every caller gets its value. Three rounds: everyone at once
// (whoever claims first loads), nginx first (a Lua loader, Go waits), and
// this Go process first (a Go loader, nginx waits).
func TestNginxLoadOnceAcrossProcesses(t *testing.T) {
	e := startLoadNginx(t)
	for _, order := range []string{"together", "nginx-first", "go-first"} {
		t.Run(order, func(t *testing.T) {
			e.t = t
			loadOnce(t, e, order)
		})
	}
}

func loadOnce(t *testing.T, e *loadEnv, order string) {
	key := "once-" + order
	cf, rel := e.files(key)
	const requests, goroutines = 24, 4
	q := url.Values{"k": {key}, "v": {"lua-value"}, "cf": {cf}, "rel": {rel}, "ttl": {"60"}, "wait_timeout": {"30"}}
	type goResult struct {
		v   []byte
		src lru.Source
		err error
	}
	base := e.waits()
	var answers <-chan result
	goAnswers := make(chan goResult, goroutines)
	startNginx := func() { answers = e.async(requests, "/gol", q) }
	startGo := func() {
		for i := 0; i < goroutines; i++ {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				v, src, err := e.c.Load(ctx, nil, []byte(key), goLoader(cf, rel, "go-value"), lru.LoadOptions{TTL: time.Minute})
				goAnswers <- goResult{v, src, err}
			}()
		}
	}
	announced := func() bool { return len(loads(t, cf)) > 0 }
	switch order {
	case "together":
		startNginx()
		startGo()
	case "nginx-first":
		startNginx()
		waitUntil(t, 20*time.Second, "a Lua loader", announced)
		startGo()
	case "go-first":
		startGo()
		waitUntil(t, 20*time.Second, "a Go loader", announced)
		startNginx()
	}
	child := e.startHelper(key, cf, rel, "child-value")

	// Every caller is in before the load may end: all but the loader
	// wait in the load table (this process's goroutines count once:
	// they coalesce before it).
	e.waitsAtLeast(base + requests + 1 + 1 - 1)
	if l := loads(t, cf); len(l) != 1 {
		t.Fatalf("before the release: %d loads, want 1: %q", len(l), l)
	}
	release(t, rel)

	// The one line says who loaded, and so which value everyone gets.
	line := strings.Fields(loads(t, cf)[0])
	want := "lua-value"
	if line[0] == "go" {
		want = "child-value"
		if line[1] == strconv.Itoa(os.Getpid()) {
			want = "go-value"
		}
	}
	switch {
	case order == "nginx-first" && line[0] != "lua", order == "go-first" && want != "go-value":
		t.Errorf("%s: the loader was %q", order, line)
	}
	loaded := 0
	for i := 0; i < requests; i++ {
		r := <-answers
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.a.src == "loaded" {
			loaded++
		} else if r.a.src != "waited" {
			t.Errorf("nginx answer %v: source %q, want waited or loaded", r.a, r.a.src)
		}
		if r.a.typ != "string" || r.a.value != want || r.a.err != "nil" {
			t.Errorf("nginx answer %v, want %q", r.a, want)
		}
	}
	for i := 0; i < goroutines; i++ {
		r := <-goAnswers
		if r.err != nil || string(r.v) != want {
			t.Errorf("Go caller: %q, %v, %v; want %q", r.v, r.src, r.err, want)
		}
	}
	childAnswer := <-child
	if f := strings.Split(childAnswer, "\t"); len(f) != 3 || f[0] != want || f[2] != "<nil>" {
		t.Errorf("the other Go process answered %q; want %q", childAnswer, want)
	}
	l := loads(t, cf)
	if len(l) != 1 {
		t.Errorf("%d loads in total, want 1: %q", len(l), l)
	}
	if wantLoaded := map[bool]int{true: 1, false: 0}[line[0] == "lua"]; loaded != wantLoaded {
		t.Errorf("%d nginx answers say loaded; want %d (the loader: %q)", loaded, wantLoaded, l[0])
	}
	t.Logf("loader: %s; %d waiters", l[0], e.waits()-base)
}

// TestNginxLoadLoaderKilled: the nginx worker running a load is killed
// with SIGKILL in the middle of its callback. Its waiters in the other
// workers and in this Go process notice the dead loader, one of them
// takes the load over, the key is loaded once more, and nobody hangs.
func TestNginxLoadLoaderKilled(t *testing.T) {
	e := startLoadNginx(t)
	cf, rel := e.files("killed")
	q := url.Values{"k": {"killed"}, "v": {"lua-value"}, "cf": {cf}, "rel": {rel}, "ttl": {"60"}, "wait_timeout": {"30"}}
	first := e.startLoader("/gol", q)
	line := strings.Fields(loads(t, cf)[0])
	victim, err := strconv.Atoi(line[1])
	if err != nil || line[0] != "lua" {
		t.Fatalf("first load: %q", line)
	}

	const waiters = 8
	base := e.waits()
	answers := e.async(waiters, "/gol", q)
	goAnswer := make(chan error, 1)
	var goValue []byte
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		goValue, _, err = e.c.Load(ctx, nil, []byte("killed"), goLoader(cf, rel, "go-value"), lru.LoadOptions{TTL: time.Minute})
		goAnswer <- err
	}()
	e.waitsAtLeast(base + waiters + 1)

	killed := time.Now()
	must(t, syscall.Kill(victim, syscall.SIGKILL))
	waitUntil(t, 10*time.Second, "another process takes the load over", func() bool { return len(loads(t, cf)) >= 2 })
	took := time.Since(killed)
	// The new loader polls (Lua: every 20 ms at most; Go: every
	// shm.OwnerCheckInterval) and then announces itself; on a loaded
	// 2-core machine give it a second.
	if took > time.Second {
		t.Errorf("the load was taken over %v after the loader died; want well under a second", took)
	}
	release(t, rel)

	line = strings.Fields(loads(t, cf)[1])
	want := map[string]string{"lua": "lua-value", "go": "go-value"}[line[0]]
	if r := <-first; r.err == nil {
		t.Errorf("the killed loader's request answered %v", r.a)
	}
	served := 0
	for i := 0; i < waiters; i++ {
		r := <-answers
		if r.err != nil {
			continue // it was waiting in the killed worker
		}
		served++
		if r.a.pid == victim || r.a.value != want || r.a.err != "nil" || (r.a.src != "waited" && r.a.src != "loaded") {
			t.Errorf("waiter answered %v; want %q", r.a, want)
		}
	}
	if err := <-goAnswer; err != nil || string(goValue) != want {
		t.Errorf("Go waiter: %q, %v; want %q", goValue, err, want)
	}
	if served == 0 {
		t.Errorf("no nginx waiter answered (all %d were in the killed worker?)", waiters)
	}
	if l := loads(t, cf); len(l) != 2 {
		t.Errorf("%d loads, want 2 (the killed one and its replacement): %q", len(l), l)
	}
	st, err := e.c.Loads().Stats()
	must(t, err)
	if st.Takeovers != 1 || st.Loads != 2 {
		t.Errorf("load table %+v; want 2 loads, one of them a takeover", st)
	}
	// Every worker, the respawned one included, now finds the value.
	for _, a := range eachWorker(t, e.s, "/gol?"+url.Values{"k": {"killed"}, "cf": {cf}}.Encode(), loadWorkers, nil) {
		if a, err := parseAnswer(a); err != nil || a.value != want || a.src != "hit" {
			t.Errorf("after the takeover: %v %v", a, err)
		}
	}
	t.Logf("taken over after %v by %q; %d of %d waiters outside the killed worker; %+v", took, line, served, waiters, st)
}

// TestNginxLoadOutcomes: what the callback returns reaches every caller
// waiting on its load, in every process, and what it writes follows
// lru/load.go's rules, read back by Go.
func TestNginxLoadOutcomes(t *testing.T) {
	e := startLoadNginx(t)

	t.Run("error reaches every waiter", func(t *testing.T) {
		e.t = t
		cf, rel := e.files("err")
		q := url.Values{"k": {"err"}, "mode": {"error"}, "v": {"db-down"}, "cf": {cf}, "rel": {rel}, "wait_timeout": {"30"}}
		loader := e.startLoader("/gol", q)
		base := e.waits()
		waiters := e.async(6, "/gol", q)
		goErr := make(chan error, 1)
		var goSrc lru.Source
		go func() {
			_, src, err := e.c.Load(context.Background(), nil, []byte("err"), goLoader(cf, "", "go-value"), lru.LoadOptions{})
			goSrc = src
			goErr <- err
		}()
		e.waitsAtLeast(base + 7)
		release(t, rel)
		if r := <-loader; r.err != nil || r.a.typ != "nil" || r.a.err != "db-down" || r.a.src != "loaded" {
			t.Errorf("loader: %v %v", r.a, r.err)
		}
		for i := 0; i < 6; i++ {
			if r := <-waiters; r.err != nil || r.a.typ != "nil" || r.a.err != "db-down" || r.a.src != "waited" {
				t.Errorf("waiter: %v %v", r.a, r.err)
			}
		}
		var le *lru.LoadError
		if err := <-goErr; !errors.As(err, &le) || le.Msg != "db-down" || goSrc != lru.SourceWaited {
			t.Errorf("Go waiter: %v (%v)", err, goSrc)
		}
		if l := loads(t, cf); len(l) != 1 {
			t.Errorf("loads: %q", l)
		}
		if _, err := e.c.Get([]byte("err")); !errors.Is(err, lru.ErrNotFound) {
			t.Errorf("a failed load cached something: %v", err)
		}
	})

	t.Run("negative caching", func(t *testing.T) {
		e.t = t
		cf, _ := e.files("neg")
		// Lua finds nothing and remembers it for neg_ttl: a TypeNone
		// entry that every worker and Go take for a cached absence.
		q := url.Values{"k": {"neg"}, "mode": {"nil"}, "neg_ttl": {"60"}, "cf": {cf}}
		if a := e.call("/gol", q); a.typ != "nil" || a.err != "nil" || a.src != "loaded" {
			t.Errorf("first: %v", a)
		}
		for pid, s := range eachWorker(t, e.s, "/gol?"+q.Encode(), loadWorkers, nil) {
			if a, err := parseAnswer(s); err != nil || a.typ != "nil" || a.err != "nil" || a.src != "hit" {
				t.Errorf("worker %d: %v %v", pid, a, err)
			}
		}
		_, m, _, err := e.c.Read(nil, []byte("neg"), lru.ReadOptions{Absent: true})
		if err != nil || m.Type != lru.TypeNone || m.Expires == 0 {
			t.Errorf("Go reads %+v, %v; want a TypeNone entry with a deadline", m, err)
		} else if left := time.Until(time.UnixMilli(m.Expires)); left < 55*time.Second || left > 60*time.Second {
			t.Errorf("the cached absence lives %v more; want about 60s", left)
		}
		_, src, err := e.c.Load(context.Background(), nil, []byte("neg"), goLoader(cf, "", "x"), lru.LoadOptions{NegativeTTL: time.Minute})
		if !errors.Is(err, lru.ErrNotFound) || src != lru.SourceHit {
			t.Errorf("Go GetOrLoad of Lua's cached absence: %v, %v", src, err)
		}
		if a, err := e.s.Get("/get?k=neg"); err != nil || !strings.HasSuffix(a, "nil nil nil") {
			t.Errorf("resty.shmlru get of a cached absence: %q %v", a, err)
		}
		if l := loads(t, cf); len(l) != 1 {
			t.Errorf("loads: %q", l)
		}

		// Go finds nothing and remembers it: Lua takes it for a hit.
		_, src, err = e.c.Load(context.Background(), nil, []byte("neg2"), func(context.Context, []byte) ([]byte, error) {
			return nil, lru.ErrNotFound
		}, lru.LoadOptions{NegativeTTL: time.Minute})
		if !errors.Is(err, lru.ErrNotFound) || src != lru.SourceLoaded {
			t.Fatalf("Go: %v %v", src, err)
		}
		cf2, _ := e.files("neg2")
		for pid, s := range eachWorker(t, e.s, "/gol?"+url.Values{"k": {"neg2"}, "v": {"x"}, "cf": {cf2}}.Encode(), loadWorkers, nil) {
			if a, err := parseAnswer(s); err != nil || a.typ != "nil" || a.err != "nil" || a.src != "hit" {
				t.Errorf("worker %d on Go's cached absence: %v %v", pid, a, err)
			}
		}
		if l := loads(t, cf2); len(l) != 0 {
			t.Errorf("Lua loaded a key that Go remembered as absent: %q", l)
		}
	})

	t.Run("stale while revalidate", func(t *testing.T) {
		e.t = t
		cf, rel := e.files("swr")
		q := url.Values{"k": {"swr"}, "v": {"v1"}, "ttl": {"0.3"}, "stale_ttl": {"60"}, "cf": {cf}}
		if a := e.call("/gol", q); a.value != "v1" || a.src != "loaded" {
			t.Fatalf("first: %v", a)
		}
		// lru/load.go's stale window: TTL+StaleTTL in the region, flags
		// 0x80000000|window in ms.
		_, m, _, err := e.c.Read(nil, []byte("swr"), lru.ReadOptions{})
		if err != nil || m.Flags != 0x80000000|60000 {
			t.Errorf("Go reads %+v %v; want flags 0x80000000|60000", m, err)
		} else if left := time.Until(time.UnixMilli(m.Expires)); left < 59*time.Second || left > 60300*time.Millisecond {
			t.Errorf("the entry lives %v more; want ttl+stale_ttl, about 60.3s", left)
		}
		// Once the ttl has passed, every caller gets v1 at once while
		// one refresh (its callback held by the release file) runs in a
		// timer.
		q2 := url.Values{"k": {"swr"}, "v": {"v2"}, "ttl": {"0.3"}, "stale_ttl": {"60"}, "cf": {cf}, "rel": {rel}}
		waitUntil(t, 5*time.Second, "the value goes stale", func() bool {
			a := e.call("/gol", q2)
			if a.value != "v1" || (a.src != "hit" && a.src != "stale") {
				t.Fatalf("before the refresh: %v", a)
			}
			return a.src == "stale"
		})
		waitUntil(t, 5*time.Second, "the refresh starts", func() bool { return len(loads(t, cf)) == 2 })
		start := time.Now()
		stale := e.async(8, "/gol", q2)
		for i := 0; i < 8; i++ {
			if r := <-stale; r.err != nil || r.a.value != "v1" || r.a.src != "stale" {
				t.Errorf("during the refresh: %v %v", r.a, r.err)
			}
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("stale answers took %v: they waited for the refresh", d)
		}
		v, src, err := e.c.Load(context.Background(), nil, []byte("swr"), goLoader(cf, "", "go"), lru.LoadOptions{TTL: time.Second, StaleTTL: time.Minute})
		if err != nil || string(v) != "v1" || src != lru.SourceStale {
			t.Errorf("Go during Lua's refresh: %q %v %v", v, src, err)
		}
		release(t, rel)
		waitUntil(t, 5*time.Second, "the refreshed value", func() bool {
			a := e.call("/gol", q2)
			return a.value == "v2" && a.src == "hit"
		})
		if l := loads(t, cf); len(l) != 2 {
			t.Errorf("loads: %q; want the first and one refresh", l)
		}
	})

	t.Run("wait_timeout shorter than the load", func(t *testing.T) {
		e.t = t
		cf, rel := e.files("slow")
		q := url.Values{"k": {"slow"}, "v": {"slow-value"}, "cf": {cf}, "rel": {rel}, "wait_timeout": {"30"}}
		loader := e.startLoader("/gol", q)
		start := time.Now()
		a := e.call("/gol", url.Values{"k": {"slow"}, "v": {"x"}, "cf": {cf}, "wait_timeout": {"0.2"}})
		took := time.Since(start)
		if a.typ != "nil" || a.err != "timeout waiting for the load" || a.src != "nil" {
			t.Errorf("impatient waiter: %v", a)
		}
		// The deadline is taken on ngx.now(), the time the worker cached
		// when its event loop last woke, in milliseconds: the wait may end
		// up to a few milliseconds short of 0.2 s of this clock.
		if took < 190*time.Millisecond || took > 3*time.Second {
			t.Errorf("the 0.2 s wait took %v", took)
		}
		release(t, rel)
		if r := <-loader; r.err != nil || r.a.value != "slow-value" || r.a.src != "loaded" {
			t.Errorf("loader: %v %v", r.a, r.err)
		}
		if l := loads(t, cf); len(l) != 1 {
			t.Errorf("loads: %q", l)
		}
	})

	t.Run("callback raises", func(t *testing.T) {
		e.t = t
		cf, rel := e.files("raise")
		q := url.Values{"k": {"raise"}, "mode": {"raise"}, "v": {"boom"}, "cf": {cf}, "rel": {rel}, "wait_timeout": {"30"}}
		loader := e.startLoader("/gol", q)
		base := e.waits()
		waiters := e.async(4, "/gol", q)
		e.waitsAtLeast(base + 4)
		release(t, rel)
		r := <-loader
		if r.err != nil || r.a.typ != "nil" || !strings.HasPrefix(r.a.err, "callback threw an error: ") ||
			!strings.HasSuffix(r.a.err, "boom") || r.a.src != "loaded" {
			t.Fatalf("loader: %v %v", r.a, r.err)
		}
		// The waiters get the loader's message, cut to 88 bytes.
		msg := r.a.err[:min(len(r.a.err), 88)]
		for i := 0; i < 4; i++ {
			if w := <-waiters; w.err != nil || w.a.typ != "nil" || w.a.err != msg || w.a.src != "waited" {
				t.Errorf("waiter: %v %v; want %q", w.a, w.err, msg)
			}
		}
		// The flight was released: the next caller loads at once.
		tk, err := e.c.Loads().Begin([]byte("raise"), time.Minute)
		must(t, err)
		if tk.State != lru.LoadMine {
			t.Errorf("after the raise the load is still claimed: %v", tk.State)
		}
		must(t, e.c.Loads().End(&tk, lru.LoadAbandoned, ""))
		if a := e.call("/gol", url.Values{"k": {"raise"}, "v": {"fine"}, "cf": {cf}}); a.value != "fine" || a.src != "loaded" {
			t.Errorf("after the raise: %v", a)
		}
	})

	t.Run("phases", func(t *testing.T) {
		e.t = t
		// Go holds the load; access and a timer wait for it, while
		// header_filter, which cannot yield, refuses at once.
		tk, err := e.c.Loads().Begin([]byte("phase"), time.Minute)
		must(t, err)
		if tk.State != lru.LoadMine {
			t.Fatalf("BeginLoad: %v", tk.State)
		}
		cf, _ := e.files("phase")
		q := url.Values{"k": {"phase"}, "v": {"lua"}, "cf": {cf}, "wait_timeout": {"30"}}
		resp, err := e.client.Get(e.s.URL + "/gol_hf?" + q.Encode())
		must(t, err)
		resp.Body.Close()
		hf, err := url.QueryUnescape(resp.Header.Get("X-Answer"))
		must(t, err)
		if a, err := parseAnswer(hf); err != nil || a.typ != "nil" || !strings.Contains(a.err, "header_filter phase does not allow") {
			t.Errorf("header_filter: %q %v", hf, err)
		}
		base := e.waits()
		access := e.async(1, "/gol_access", q)
		timer := e.async(1, "/gol_timer", q)
		e.waitsAtLeast(base + 2)
		_, err = e.c.Write([]byte("phase"), []byte("from-go"), lru.WriteOptions{})
		must(t, err)
		must(t, e.c.Loads().End(&tk, lru.LoadDone, ""))
		if r := <-access; r.err != nil || r.a.value != "from-go" || r.a.src != "waited" {
			t.Errorf("access phase: %v %v", r.a, r.err)
		}
		if r := <-timer; r.err != nil || r.a.value != "from-go" || r.a.src != "waited/timer" {
			t.Errorf("timer: %v %v", r.a, r.err)
		}
		if l := loads(t, cf); len(l) != 0 {
			t.Errorf("a Lua callback ran: %q", l)
		}
	})

	t.Run("lease runs out", func(t *testing.T) {
		e.t = t
		cf, rel := e.files("lease")
		q := url.Values{"k": {"lease"}, "v": {"leased"}, "cf": {cf}, "rel": {rel}, "lease": {"0.2"}, "wait_timeout": {"30"}}
		start := time.Now() // before the claim: the lease ends 0.2 s after it at the earliest
		loader := e.startLoader("/gol", q)
		waiter := e.async(1, "/gol", q)
		waitUntil(t, 10*time.Second, "a waiter takes over the expired lease", func() bool { return len(loads(t, cf)) == 2 })
		if took := time.Since(start); took < 200*time.Millisecond {
			t.Errorf("taken over %v after the claim, before the 0.2 s lease ran out", took)
		}
		release(t, rel)
		for _, ch := range []<-chan result{loader, waiter} {
			if r := <-ch; r.err != nil || r.a.value != "leased" || r.a.src != "loaded" {
				t.Errorf("%v %v", r.a, r.err)
			}
		}
	})
}

// workerPids returns the pids of the processes whose parent is the nginx
// master: its workers.
func workerPids(t *testing.T, master int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	must(t, err)
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, not ")".
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(master) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		t.Fatalf("no workers under nginx master %d", master)
	}
	return pids
}

// TestNginxLoadErrorAfterTableMovedOn: nginx workers wait on a load that
// fails while other keys' loads keep the load table busy. The workers are
// stopped (SIGSTOP) from before the load ends until the other loads have
// gone through every flight of the window they can take, so they read the
// outcome only after the table has moved on: each still gets the loader's
// error, and no worker runs the callback itself.
func TestNginxLoadErrorAfterTableMovedOn(t *testing.T) {
	e := startLoadNginx(t)
	key := "busy"
	cf, _ := e.files(key)
	mine, err := e.c.Loads().Begin([]byte(key), 0)
	must(t, err)
	if mine.State != lru.LoadMine {
		t.Fatalf("BeginLoad: %v", mine.State)
	}
	const waiters = 8
	base := e.waits()
	answers := e.async(waiters, "/gol", url.Values{"k": {key}, "v": {"lua-value"}, "cf": {cf}, "wait_timeout": {"30"}})
	e.waitsAtLeast(base + waiters)

	workers := workerPids(t, e.s.MasterPID())
	cont := func() {
		for _, pid := range workers {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(cont) // nginx must be able to stop whatever happens
	for _, pid := range workers {
		must(t, syscall.Kill(pid, syscall.SIGSTOP))
	}
	must(t, e.c.Loads().End(&mine, lru.LoadFailed, "db down"))
	// Other keys whose window starts at the failed load's flight claim
	// every flight they may, then end.
	flights := uint32(e.c.Geometry().Loads)
	var claimed []lru.LoadTicket
	for i := 0; ; i++ {
		k := []byte(fmt.Sprint("other-", i))
		if uint32(xxhash.Sum64(k))&(flights-1) != mine.Flight {
			continue
		}
		tk, err := e.c.Loads().Begin(k, 0)
		must(t, err)
		if tk.State == lru.LoadWaiting && tk.Flight == flights {
			break // no flight of the window left
		}
		if tk.State != lru.LoadMine {
			t.Fatalf("BeginLoad(%s): %v", k, tk.State)
		}
		if tk.Flight == mine.Flight {
			t.Errorf("another key's load took flight %d while nginx waiters had not read its outcome", tk.Flight)
		}
		claimed = append(claimed, tk)
	}
	for i := range claimed {
		must(t, e.c.Loads().End(&claimed[i], lru.LoadDone, ""))
	}
	cont()

	for i := 0; i < waiters; i++ {
		if r := <-answers; r.err != nil || r.a.typ != "nil" || r.a.err != "db down" || r.a.src != "waited" {
			t.Errorf("waiter: %v %v; want the loader's error", r.a, r.err)
		}
	}
	if l := loads(t, cf); len(l) != 0 {
		t.Errorf("nginx workers ran the callback: %q", l)
	}
}

// TestNginxLoadLateLoaderKeepsNewValue: a Lua loader's lease runs out while
// its callback runs, and Go takes the load over and writes its value. When
// the callback returns at last, its value (or the absence it found) is not
// written over Go's, and its request still gets what the callback
// returned.
func TestNginxLoadLateLoaderKeepsNewValue(t *testing.T) {
	e := startLoadNginx(t)
	for _, late := range []struct {
		mode, value, neg string
	}{{"value", "lua-value", ""}, {"nil", "nil", "60"}} {
		t.Run(late.mode, func(t *testing.T) {
			e.t = t
			key := "late-" + late.mode
			cf, rel := e.files(key)
			q := url.Values{"k": {key}, "mode": {late.mode}, "v": {"lua-value"}, "cf": {cf}, "rel": {rel},
				"lease": {"0.1"}, "ttl": {"60"}, "neg_ttl": {late.neg}, "wait_timeout": {"30"}}
			loader := e.startLoader("/gol", q)
			// Go waits until the lease runs out, takes the load over,
			// and writes its value.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			v, src, err := e.c.Load(ctx, nil, []byte(key), goLoader(cf, "", "go-value"), lru.LoadOptions{TTL: time.Minute})
			if err != nil || string(v) != "go-value" || src != lru.SourceLoaded {
				t.Fatalf("Go's load: %q %v %v", v, src, err)
			}
			release(t, rel)
			if r := <-loader; r.err != nil || r.a.value != late.value || r.a.err != "nil" || r.a.src != "loaded" {
				t.Errorf("the late loader's request: %v %v; want its own %s", r.a, r.err, late.value)
			}
			if v, err := e.c.Get([]byte(key)); err != nil || string(v) != "go-value" {
				t.Errorf("after the late loader: %q, %v; want Go's value", v, err)
			}
			for pid, s := range eachWorker(t, e.s, "/gol?"+url.Values{"k": {key}, "cf": {cf}}.Encode(), loadWorkers, nil) {
				if a, err := parseAnswer(s); err != nil || a.value != "go-value" || a.src != "hit" {
					t.Errorf("worker %d after the late loader: %v %v", pid, a, err)
				}
			}
			if l := loads(t, cf); len(l) != 2 {
				t.Errorf("loads: %q; want Lua's and Go's", l)
			}
		})
	}
}
