package ffi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/ngxrun"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// resty.shmlru.near in nginx, against a real redis-server, with this test
// playing the host's tracking agent through lru (ClaimAgent,
// InvalidateAll, SetInStep, Invalidate: the real agent is module near's,
// which this module does not depend on). Redis's own count of GET commands
// (INFO commandstats) tells a fill from a hit. nginx runs nearWorkers
// workers; redis-server is started by the test on a free loopback port
// (internal/testenv), and is missing as nginx is (testenv.Missing).
// Handlers: ffi/t/ngx_near.lua.
//
//   - TestNginxNearFillsAndHits: a miss is one GET, then every worker
//     hits; Go's GetTracked reads the fill with the generation as flags;
//     Redis's change plus Invalidate is read once; an absence cached, read
//     by Go, then invalidated; Go's StoreFill of a value and of an absence
//     served to nginx without Redis; empty values, CRLF and RESP inside, all
//     256 byte values and 100 KiB, byte for byte both ways; the TTL; an
//     instance over a resty.shmlru cache; Redis's unix socket; prefixes.
//   - TestNginxNearNotInStep: out of step, every get is a GET and nothing is
//     cached, not even over a plain entry; back in step, the generation
//     before is a miss; an in-step instant that runs out.
//   - TestNginxNearOnceAcrossProcesses: requests and goroutines of Go's
//     tracked GetOrLoad miss one key while CLIENT PAUSE holds the GET: one
//     GET, one load, everyone gets the value.
//   - TestNginxNearErrors: Redis down, a GET past timeout under CLIENT
//     PAUSE, AUTH as an ACL user with SELECT, a wrong password, a WRONGTYPE
//     reply (not cached), a bad key, a miss and a hit in header_filter, and
//     every bad option of near.new.

const nearWorkers = 3

// The locations of ffi/t/ngx_near.lua.
const nearLocations = `
        location = /near { content_by_lua_block { require("ngx_near").get() } }
        location = /near_hf {
            content_by_lua_block { ngx.say("body") }
            header_filter_by_lua_block { require("ngx_near").get_hf() }
        }
        location = /near_new { content_by_lua_block { require("ngx_near").new_err() } }
`

// nearEnv is a redis-server, an nginx whose workers read it through
// resty.shmlru.near, and the test's own handle on their region.
type nearEnv struct {
	t   *testing.T
	c   *lru.Cache
	s   *ngxrun.Server
	rs  *redisServer
	r   *redis
	gen uint32 // the generation the agent set last
}

func startNear(t *testing.T) *nearEnv {
	t.Helper()
	testenv.NeedNginx(t)
	rs := startRedis(t)
	region := shm.Path(fmt.Sprintf("shmlru-near-test-%d-%s", os.Getpid(), t.Name()))
	c, err := lru.Open(region, &lru.Options{Size: 8 << 20, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); shm.Remove(region) })
	// A port where nothing listens, for the "down" instance.
	down := testenv.RefusedPort(t)
	luaT, err := filepath.Abs("t")
	if err != nil {
		t.Fatal(err)
	}
	s := testenv.Nginx(t, ngxrun.Config{
		Workers: nearWorkers, Region: region, Size: "8m",
		LuaPath: luaT + "/?.lua;",
		Extra:   nearLocations,
		// Made in the master from the region's path: each worker opens it
		// at its first get.
		Init: fmt.Sprintf(`        near_conf = { region = %q, port = %d, down = %d, sock = %q }
        near_main, near_init_err = require("resty.shmlru.near").new{ cache = %q, port = %d, ttl = 60, neg_ttl = 60 }`,
			region, rs.Port, down, rs.Sock, region, rs.Port),
	}, func(log string) {
		// The "down" instance's refused connections and the "slow" one's
		// timeout are logged by the cosocket itself.
		var kept []string
		for _, l := range strings.Split(log, "\n") {
			if !strings.Contains(l, "connect() failed (111: Connection refused)") && !strings.Contains(l, "lua tcp socket read timed out") {
				kept = append(kept, l)
			}
		}
		checkLog(t, strings.Join(kept, "\n"))
	})
	e := &nearEnv{t: t, c: c, s: s, rs: rs, r: rs.client(t)}
	e.resync()
	return e
}

// resync is what the agent does when it takes the role or its stream of
// invalidations may have lost messages: drop every tracked entry, then,
// once subscribed again, publish that the cache is in step (for an hour:
// the test's agent confirms nothing after).
func (e *nearEnv) resync() {
	e.t.Helper()
	ok, err := e.c.Tracker().ClaimAgent()
	must(e.t, err)
	if !ok {
		e.t.Fatal("ClaimAgent: another attachment holds the agent role")
	}
	e.gen, err = e.c.Tracker().InvalidateAll()
	must(e.t, err)
	must(e.t, e.c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
}

// nearAnswer is one line of ffi/t/ngx_near.lua.
type nearAnswer struct {
	pid                  int
	typ, value, err, src string
}

func (a nearAnswer) String() string {
	return fmt.Sprintf("[%d %s %q err=%s %s]", a.pid, a.typ, a.value, a.err, a.src)
}

func parseNear(s string) (nearAnswer, error) {
	f := strings.Split(s, "\t")
	if len(f) != 5 {
		return nearAnswer{}, fmt.Errorf("not an answer: %q", s)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return nearAnswer{}, fmt.Errorf("not an answer: %q", s)
	}
	v, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil {
		return nearAnswer{}, fmt.Errorf("not an answer: %q", s)
	}
	return nearAnswer{pid, f[1], string(v), f[3], f[4]}, nil
}

// get asks instance inst (ffi/t/ngx_near.lua) of some worker for key.
func (e *nearEnv) get(inst, key string) nearAnswer {
	e.t.Helper()
	s, err := e.s.GetWithin("/near?"+url.Values{"i": {inst}, "k": {key}}.Encode(), 30*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	a, err := parseNear(s)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// expect asks the main instance for key and checks the value (nil: Redis
// has none) and the source.
func (e *nearEnv) expect(key string, want *string, src string) nearAnswer {
	e.t.Helper()
	a := e.get("main", key)
	switch {
	case a.err != "nil":
		e.t.Errorf("get %q: %v", key, a)
	case want == nil && a.typ != "nil":
		e.t.Errorf("get %q: %v, want nil", key, a)
	case want != nil && (a.typ != "string" || a.value != *want):
		e.t.Errorf("get %q: %v, want %q", key, a, *want)
	case a.src != src:
		e.t.Errorf("get %q: %v, want source %s", key, a, src)
	}
	return a
}

// expectGets checks how many GETs Redis has run since the last reset.
func (e *nearEnv) expectGets(want int, what string) {
	e.t.Helper()
	if got := e.r.gets(); got != want {
		e.t.Errorf("%s: Redis ran %d GETs, want %d", what, got, want)
	}
}

// tracked reads key as Go's tracked readers do.
func (e *nearEnv) tracked(key string) (string, lru.Meta, error) {
	v, m, err := e.c.Tracker().Get(nil, []byte(key))
	return string(v), m, err
}

func str(s string) *string { return &s }

func TestNginxNearFillsAndHits(t *testing.T) {
	e := startNear(t)
	r := e.r
	r.do("SET", "k", "v1")
	r.do("CONFIG", "RESETSTAT")

	// A miss fills from Redis, once; then every worker hits, and Redis
	// hears nothing more.
	e.expect("k", str("v1"), "loaded")
	e.expectGets(1, "the first get")
	if v, m, err := e.tracked("k"); err != nil || v != "v1" || m.Flags != e.gen || m.Type != lru.TypeBytes {
		t.Errorf("Go's GetTracked of nginx's fill: %q %+v %v (generation %d)", v, m, err, e.gen)
	}
	seen := map[int]bool{}
	for i := 0; i < 200 && len(seen) < nearWorkers; i++ {
		seen[e.expect("k", str("v1"), "hit").pid] = true
	}
	if len(seen) < nearWorkers {
		t.Errorf("only %d of %d workers answered", len(seen), nearWorkers)
	}
	e.expectGets(1, "hits in every worker")
	// The instance made over the worker's open cache reads the same.
	if a := e.get("obj", "k"); a.value != "v1" || a.src != "hit" {
		t.Errorf("the instance over a resty.shmlru cache: %v", a)
	}
	// Redis's unix socket.
	r.do("SET", "viaunix", "u")
	if a := e.get("unix", "viaunix"); a.value != "u" || a.src != "loaded" {
		t.Errorf("over the unix socket: %v", a)
	}
	e.expectGets(2, "and one over the unix socket")

	// The key changes in Redis and the agent invalidates it: the next get
	// reads the new value, once.
	r.do("SET", "k", "v2")
	must(t, e.c.Tracker().Invalidate([]byte("k")))
	e.expect("k", str("v2"), "loaded")
	e.expect("k", str("v2"), "hit")
	e.expectGets(3, "after the invalidation")

	// A key Redis does not have: nil, remembered as an absence that Go's
	// tracked readers see too.
	e.expect("nope", nil, "loaded")
	e.expect("nope", nil, "hit")
	e.expectGets(4, "an absent key, twice")
	if _, m, err := e.tracked("nope"); err != nil || m.Type != lru.TypeNone || m.Flags != e.gen {
		t.Errorf("Go's GetTracked of nginx's absence: %+v %v", m, err)
	}
	// Redis gets it, the agent invalidates it: the absence is gone.
	r.do("SET", "nope", "now")
	must(t, e.c.Tracker().Invalidate([]byte("nope")))
	e.expect("nope", str("now"), "loaded")
	e.expectGets(5, "an absence invalidated")

	// Go's fill is nginx's hit: Redis does not even have the key.
	g, err := e.c.Tracker().BeginFill([]byte("gofill"))
	must(t, err)
	if ok, err := e.c.Tracker().StoreFill([]byte("gofill"), []byte("from Go"), false, lru.WriteOptions{TTL: time.Minute}, g); !ok || err != nil {
		t.Fatalf("StoreFill: %v %v", ok, err)
	}
	e.expect("gofill", str("from Go"), "hit")
	g, err = e.c.Tracker().BeginFill([]byte("gonone"))
	must(t, err)
	if ok, err := e.c.Tracker().StoreFill([]byte("gonone"), nil, true, lru.WriteOptions{TTL: time.Minute}, g); !ok || err != nil {
		t.Fatalf("StoreFill absent: %v %v", ok, err)
	}
	e.expect("gonone", nil, "hit")
	e.expectGets(5, "Go's fills")

	// The bytes as Redis has them: empty, CRLFs and RESP inside, every
	// byte value, and a value larger than the module's first buffer.
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	values := map[string]string{
		"empty": "", "crlf": "a\r\nb\r\n", "resp": "$-1\r\n*2\r\n-ERR x\r\n", "all": string(all),
		"big": strings.Repeat("0123456789abcdef", 100<<10/16),
	}
	for k, v := range values {
		r.do("SET", k, v)
	}
	for k, v := range values {
		e.expect(k, str(v), "loaded")
		e.expect(k, str(v), "hit")
		if got, _, err := e.tracked(k); err != nil || got != v {
			t.Errorf("Go's GetTracked of %q: %d bytes, %v; want %d bytes", k, len(got), err, len(v))
		}
	}
	e.expectGets(5+len(values), "the byte-exact values")

	// Values expire after ttl at most: opts.ttl is 60 s.
	if d, err := e.c.TTL([]byte("k")); err != nil || d <= 59*time.Second || d > time.Minute {
		t.Errorf("TTL of a fill: %v %v; want 60s", d, err)
	}
	if d, err := e.c.TTL([]byte("nope")); err != nil || d <= 59*time.Second || d > time.Minute {
		t.Errorf("TTL of a refilled absence: %v %v; want 60s", d, err)
	}
	// With the agent's prefixes, a key under none of them is Redis's
	// every time: nothing would invalidate a copy.
	r.do("SET", "user:1", "ada")
	r.do("SET", "other", "o")
	r.do("CONFIG", "RESETSTAT")
	for i, want := range []string{"loaded", "hit", "hit"} {
		if a := e.get("pfx", "user:1"); a.value != "ada" || a.src != want {
			t.Errorf("get %d of a key under a prefix: %v; want %s", i, a, want)
		}
		if a := e.get("pfx", "other"); a.value != "o" || a.src != "loaded" {
			t.Errorf("get %d of a key under no prefix: %v", i, a)
		}
	}
	e.expectGets(4, "one key under a prefix, one under none, three times")
	if _, _, _, err := e.c.Peek(nil, []byte("other")); !errors.Is(err, lru.ErrNotFound) {
		t.Errorf("a key under no prefix was cached: %v", err)
	}

	problems, err := e.c.Check()
	must(t, err)
	if len(problems) != 0 {
		t.Errorf("Check: %v", problems)
	}
}

// Not in step (the agent died, or its stream is late): every get asks
// Redis and nothing is cached; once the agent is back in step, copies of
// the generation before are misses.
func TestNginxNearNotInStep(t *testing.T) {
	e := startNear(t)
	r := e.r
	r.do("SET", "k", "old")
	e.expect("k", str("old"), "loaded")
	e.expect("k", str("old"), "hit")
	r.do("CONFIG", "RESETSTAT")

	must(t, e.c.Tracker().SetInStep(0))
	r.do("SET", "k", "new")
	r.do("SET", "fresh", "f")
	// An entry that is no fill (no flags: no generation) is not served
	// either.
	r.do("SET", "plain", "from Redis")
	must(t, e.c.Set([]byte("plain"), []byte("set by hand"), 0))
	for i := 0; i < 3; i++ {
		e.expect("k", str("new"), "loaded")
		e.expect("fresh", str("f"), "loaded")
		e.expect("none", nil, "loaded")
		e.expect("plain", str("from Redis"), "loaded")
	}
	e.expectGets(12, "out of step, every get")
	for _, k := range []string{"fresh", "none"} {
		if _, _, _, err := e.c.Peek(nil, []byte(k)); !errors.Is(err, lru.ErrNotFound) {
			t.Errorf("out of step, %q was cached: %v", k, err)
		}
	}
	if _, _, err := e.tracked("k"); !errors.Is(err, lru.ErrNotInStep) {
		t.Errorf("Go's GetTracked out of step: %v", err)
	}

	// The agent is back: it drops everything and confirms. The copy of k
	// from the generation before is not served.
	old := e.gen
	e.resync()
	if e.gen == old {
		t.Fatalf("InvalidateAll kept generation %d", old)
	}
	r.do("CONFIG", "RESETSTAT")
	e.expect("k", str("new"), "loaded")
	e.expect("k", str("new"), "hit")
	e.expect("fresh", str("f"), "loaded")
	e.expect("plain", str("from Redis"), "loaded") // and overwritten by the fill
	e.expect("plain", str("from Redis"), "hit")
	e.expectGets(3, "in step again")

	// The in-step instant passes without a new confirmation: out of step.
	must(t, e.c.Tracker().SetInStep(0))
	until := lru.TrackClock() + int64(time.Second)
	must(t, e.c.Tracker().SetInStep(until))
	e.expect("k", str("new"), "hit")
	time.Sleep(time.Duration(until - lru.TrackClock() + int64(10*time.Millisecond)))
	e.expect("k", str("new"), "loaded")
	e.expectGets(4, "after the confirmation ran out")
}

// Many callers on the host miss one key at once, nginx workers and Go
// processes' tracked GetOrLoad alike: Redis hears one GET. CLIENT PAUSE
// holds that GET for a while, so that the others find the load under way
// and wait for it.
func TestNginxNearOnceAcrossProcesses(t *testing.T) {
	e := startNear(t)
	r := e.r
	r.do("SET", "hot", "hot value")
	r.do("CONFIG", "RESETSTAT")
	before, err := e.c.Loads().Stats()
	must(t, err)
	r.do("CLIENT", "PAUSE", "500", "ALL")

	const nginxCallers, goCallers = 16, 4
	var wg sync.WaitGroup
	answers := make(chan string, nginxCallers+goCallers)
	for i := 0; i < nginxCallers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := e.s.GetWithin("/near?k=hot", 30*time.Second)
			if err != nil {
				answers <- err.Error()
				return
			}
			a, err := parseNear(s)
			if err != nil || a.err != "nil" {
				answers <- fmt.Sprint(a, err)
				return
			}
			answers <- a.value
		}()
	}
	loader := func(ctx context.Context, key []byte) ([]byte, error) {
		c, err := e.rs.dial()
		if err != nil {
			return nil, err
		}
		defer c.close()
		v, err := c.do("GET", string(key))
		switch {
		case err != nil:
			return nil, err
		case v == nil:
			return nil, lru.ErrNotFound
		}
		return []byte(v.(string)), nil
	}
	for i := 0; i < goCallers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			v, err := e.c.GetOrLoad(ctx, []byte("hot"), loader, lru.LoadOptions{Tracked: true, TTL: time.Minute, NegativeTTL: time.Minute})
			if err != nil {
				answers <- err.Error()
				return
			}
			answers <- string(v)
		}()
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != "hot value" {
			t.Errorf("a caller got %q", a)
		}
	}
	e.expectGets(1, fmt.Sprintf("%d nginx and %d Go callers", nginxCallers, goCallers))
	after, err := e.c.Loads().Stats()
	must(t, err)
	t.Logf("load table: %d load, %d waits", after.Loads-before.Loads, after.Waits-before.Waits)
	if after.Loads-before.Loads != 1 || after.Waits == before.Waits {
		t.Errorf("load table: %d loads, %d waits; want 1 load and callers waiting on it", after.Loads-before.Loads, after.Waits-before.Waits)
	}
	e.expect("hot", str("hot value"), "hit")
}

// Errors are specific and say what to do; none of them caches anything.
func TestNginxNearErrors(t *testing.T) {
	e := startNear(t)
	r := e.r
	errOf := func(inst, key, want string) {
		t.Helper()
		a := e.get(inst, key)
		if a.typ != "nil" || !strings.Contains(a.err, want) {
			t.Errorf("get %q from %s: %v; want an error with %q", key, inst, a, want)
		}
	}

	errOf("down", "k", "near: Redis 127.0.0.1:")
	errOf("down", "k", "connect: connection refused (is redis-server running there? check opts.host and opts.port)")

	// Redis does not answer within opts.timeout.
	r.do("SET", "paused", "p")
	r.do("CLIENT", "PAUSE", "1500", "ALL")
	errOf("slow", "paused", "GET: timeout (opts.timeout is 100 ms)")
	r.do("PING") // paused too: answered when the pause ends
	if a := e.get("slow", "paused"); a.value != "p" {
		t.Errorf("after the pause: %v", a)
	}

	// AUTH as an ACL user, and SELECT: the value comes from database 2.
	r.do("ACL", "SETUSER", "near", "on", ">near-pw", "~*", "+@all")
	r.do("SELECT", "2")
	r.do("SET", "in2", "from db 2")
	r.do("SELECT", "0")
	if a := e.get("auth", "in2"); a.value != "from db 2" || a.err != "nil" {
		t.Errorf("AUTH and SELECT: %v", a)
	}
	errOf("badauth", "k", "AUTH: WRONGPASS")
	errOf("badauth", "k", "(check opts.password and opts.user)")

	// An error reply: the key holds a list.
	r.do("RPUSH", "list", "x")
	errOf("main", "list", "near: Redis 127.0.0.1:")
	errOf("main", "list", "GET: WRONGTYPE")
	if _, _, _, err := e.c.Peek(nil, []byte("list")); !errors.Is(err, lru.ErrNotFound) {
		t.Errorf("an error reply was cached: %v", err)
	}

	errOf("main", "", "bad key: a non-empty string expected, got an empty string")

	// header_filter allows no cosocket: a miss fails saying so; a hit needs
	// none.
	hf := func(key string) nearAnswer {
		t.Helper()
		resp, err := http.Get(e.s.URL + "/near_hf?k=" + url.QueryEscape(key))
		must(t, err)
		resp.Body.Close()
		s, err := url.QueryUnescape(resp.Header.Get("X-Answer"))
		must(t, err)
		a, err := parseNear(s)
		must(t, err)
		return a
	}
	if a := hf("k"); a.typ != "nil" || !strings.Contains(a.err, "header_filter phase does not allow; call get in rewrite, access, content or a timer") {
		t.Errorf("a miss in header_filter: %v", a)
	}
	r.do("SET", "k", "v")
	e.expect("k", str("v"), "loaded")
	if a := hf("k"); a.value != "v" || a.src != "hit" {
		t.Errorf("a hit in header_filter: %v", a)
	}

	// near.new's answers to bad options.
	for o, want := range map[string]string{
		`nil`:                                     "bad opts: a table expected, got nil",
		`{ port = 1 }`:                            "bad opts.cache: a region path or a cache that resty.shmlru.open returned expected, got nil",
		`{ cache = "r", port = 0 }`:               "bad opts.port: 0; a TCP port expected",
		`{ cache = "r", timeout = 0 }`:            "bad opts.timeout: 0; milliseconds > 0 expected",
		`{ cache = "r", ttl = -1 }`:               "bad opts.ttl: -1; seconds >= 0 expected",
		`{ cache = "r", neg_ttl = "x" }`:          "bad opts.neg_ttl: x; seconds >= 0 expected",
		`{ cache = "r", user = "u" }`:             "bad opts.user: it needs opts.password (AUTH user password)",
		`{ cache = "r", db = 1.5 }`:               "bad opts.db: 1.5; a database number >= 0 expected",
		`{ cache = "r", password = 5 }`:           "bad opts.password: a string expected, got number",
		`{ cache = "r", region_opts = "64m" }`:    "bad opts.region_opts: a table (shmlru.open's opts) expected",
		`{ cache = "r", host = "" }`:              `bad opts.host: a host name, an address or "unix:/path" expected`,
		`{ cache = "r", pool_size = 0 }`:          "bad opts.pool_size: 0; a number of connections >= 1 expected",
		`{ cache = "r", keepalive_timeout = -1 }`: "bad opts.keepalive_timeout: -1; milliseconds >= 0 expected",
		`{ cache = "r", prefixes = "user:" }`:     "bad opts.prefixes: a list of key prefixes expected, got string",
		`{ cache = "r", prefixes = { "a", "" } }`: "bad opts.prefixes[2]: a non-empty string expected",
		`{ cache = "r" }`:                         "ok",
	} {
		got, err := e.s.Get("/near_new?" + url.Values{"o": {o}}.Encode())
		must(t, err)
		if got != want {
			t.Errorf("near.new(%s): %q, want %q", o, got, want)
		}
	}
}
