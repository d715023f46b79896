package ffi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

// The tests of resty.shmlru.mlcache in nginx (handlers in
// ffi/t/ngx_load.lua; the instance named "ml" keeps its L2 keys under
// "ml:"), on load_test.go's nginx:
//
//   - TestNginxMLCacheLevels: hit levels 3, 1 and 2 in one worker and
//     across workers, and an instance made in init_by_lua.
//   - TestNginxMLCacheCoherence: every worker holds a key in L1; a Go write
//     to another key of the shard keeps the L1 copies; Go's Set, a table
//     written by Go as JSON and Go's Delete are each seen by the very next
//     get of every worker; a Lua load is seen by the others.
//   - TestNginxMLCacheNegative: neg_ttl in L1 and L2, read by Go, and its
//     expiry.
//   - TestNginxMLCacheLoadOnce: one L3 callback for 16 requests and a Go
//     GetOrLoad.
//   - TestNginxMLCacheAPI: set, peek, delete, purge, update, get_bulk, the
//     callback's ttl, l1_serializer, resurrect_ttl, tables, argument errors.
//   - TestNginxMLCacheL1HitAllocates: L1 hits with the JIT on allocate
//     (almost) nothing.
//   - TestNginxMLCacheUpdateMode: with l1_coherence "update", L1 serves
//     its copy until update(), which then applies Go's Set, Delete and
//     Flush in every worker.
//   - TestNginxMLCacheInvalidationBreadth: a write drops from L1 the
//     entries of its key's stripe, not those of its shard: after one write
//     (and after a hundred writes of other keys) the other L1 entries are
//     still hits, in both modes.

// perWorker sends GET path?q until every worker has answered at least
// rounds times, and returns every answer it got, in order.
func (e *loadEnv) perWorker(path string, q url.Values, rounds int) []answer {
	e.t.Helper()
	var all []answer
	count := map[int]int{}
	for i := 0; i < 4000; i++ {
		a := e.call(path, q)
		all = append(all, a)
		count[a.pid]++
		done := len(count) >= loadWorkers
		for _, n := range count {
			done = done && n >= rounds
		}
		if done {
			return all
		}
	}
	e.t.Fatalf("GET %s: not every worker answered %d times in 4000 requests: %v", path, rounds, count)
	return nil
}

// TestNginxMLCacheLevels: hit levels 3 (the callback), 1 (this worker's
// L1) and 2 (L2: another instance's or worker's first get), and an
// instance created in init_by_lua, whose region each worker opens on first
// use.
func TestNginxMLCacheLevels(t *testing.T) {
	e := startLoadNginx(t)
	cf, _ := e.files("levels")
	s, err := e.get("/ml_levels", url.Values{"k": {"lv"}, "v": {"val"}, "cf": {cf}})
	must(t, err)
	if f := strings.Split(s, "\t"); len(f) != 4 || f[1] != "val nil 3" || f[2] != "val nil 1" || f[3] != "val nil 2" {
		t.Errorf("levels in one worker: %q; want the callback (3), L1 (1), a fresh instance's L2 (2)", s)
	}

	// One load, then every worker: L2 the first time, L1 after.
	q := url.Values{"k": {"shared"}, "v": {"sv"}, "cf": {cf}}
	first := e.call("/ml", q)
	if first.value != "sv" || first.src != "3" {
		t.Errorf("first get: %v", first)
	}
	seen := map[int]bool{first.pid: true}
	for _, a := range e.perWorker("/ml", q, 2) {
		want := "1"
		if !seen[a.pid] {
			want = "2"
			seen[a.pid] = true
		}
		if a.value != "sv" || a.err != "nil" || a.src != want {
			t.Errorf("worker %d: %v; want level %s", a.pid, a, want)
		}
	}
	if l := loads(t, cf); len(l) != 2 {
		t.Errorf("loads: %q; want one for lv and one for shared", l)
	}

	if s, err := e.s.Get("/ml_init_err"); err != nil || s != "nil" {
		t.Fatalf("mlcache.new in init_by_lua: %q %v", s, err)
	}
	cfInit, _ := e.files("init")
	q = url.Values{"k": {"i"}, "v": {"from-init"}, "cf": {cfInit}}
	for _, a := range e.perWorker("/ml_init", q, 1) {
		if a.value != "from-init" || a.err != "nil" || (a.src != "3" && a.src != "2" && a.src != "1") {
			t.Errorf("the instance from init_by_lua: %v", a)
		}
	}
	if l := loads(t, cfInit); len(l) != 1 {
		t.Errorf("loads through the instance from init_by_lua: %q", l)
	}
	if v, err := e.c.Get([]byte("init:i")); err != nil || string(v) != "from-init" {
		t.Errorf("Go reads the init instance's key: %q %v", v, err)
	}
}

// TestNginxMLCacheCoherence: a value every worker holds in L1 is replaced
// or removed by a Go process, and the very next get in every worker
// returns the new value (or nil), with no update() call; a write to
// another key of the same shard keeps the L1 copies (the version check).
func TestNginxMLCacheCoherence(t *testing.T) {
	e := startLoadNginx(t)
	key := []byte("ml:co")
	q := url.Values{"k": {"co"}, "nocb": {"1"}}
	must(t, e.c.Set(key, []byte("v1"), 0))
	// Every worker holds v1 in L1.
	all := e.perWorker("/ml", q, 2)
	inL1 := map[int]bool{}
	for _, a := range all {
		if a.value != "v1" {
			t.Fatalf("priming: %v", a)
		}
		if a.src == "1" {
			inL1[a.pid] = true
		}
	}
	if len(inL1) != loadWorkers {
		t.Fatalf("L1 hits in %d workers, want %d", len(inL1), loadWorkers)
	}

	// check reads the key until every worker has answered twice: each
	// worker's first answer must be at levelFirst (but for the worker
	// that holds it already, at levelThen), later ones at levelThen.
	check := func(what, typ, value, levelFirst, levelThen string, holder int) {
		t.Helper()
		seen := map[int]bool{holder: true}
		for _, a := range e.perWorker("/ml", q, 2) {
			want := levelThen
			if !seen[a.pid] {
				want = levelFirst
				seen[a.pid] = true
			}
			if a.typ != typ || !sameValue(typ, a.value, value) || a.err != "nil" || a.src != want {
				t.Errorf("%s: worker %d answered %v; want %s %s at level %s", what, a.pid, a, typ, value, want)
			}
		}
	}

	// Another key of the same shard changes: the shard's clock moves,
	// each worker compares its entry's version, finds it unchanged, and
	// serves its L1 copy.
	var other []byte
	for i := 0; other == nil; i++ {
		if k := []byte(fmt.Sprint("neighbour", i)); e.c.Binding().ShardOf(k) == e.c.Binding().ShardOf(key) {
			other = k
		}
	}
	must(t, e.c.Set(other, []byte("x"), 0))
	check("after a write to another key of the shard", "string", "v1", "1", "1", 0)

	// Go replaces the value: the next get everywhere reads L2 (level 2),
	// then L1 again.
	must(t, e.c.Set(key, []byte("v2"), 0))
	check("after Go's Set", "string", "v2", "2", "1", 0)

	// A table, as JSON with the flags 0x4A534F4E, written by Go.
	_, err := e.c.Write(key, []byte(`{"name":"Ada","langs":["en","fr"]}`), lru.WriteOptions{Flags: 0x4A534F4E})
	must(t, err)
	check("after Go wrote a table", "table", `{"name":"Ada","langs":["en","fr"]}`, "2", "1", 0)

	// Go deletes the key: the next get everywhere misses.
	_, err = e.c.Delete(key)
	must(t, err)
	seenDel := map[int]bool{}
	for _, a := range e.perWorker("/ml", q, 2) {
		seenDel[a.pid] = true
		if a.typ != "nil" || a.err != "nil" || a.src != "-1" {
			t.Errorf("after Go's Delete: worker %d answered %v; want a miss (nil nil -1)", a.pid, a)
		}
	}
	// A Lua set in one worker reaches the others too.
	a := e.call("/ml", url.Values{"k": {"co"}, "v": {"from-lua"}, "cf": {e.dir + "/co.count"}})
	if a.value != "from-lua" || a.src != "3" {
		t.Errorf("Lua's load: %v", a)
	}
	check("after one worker's load", "string", "from-lua", "2", "1", a.pid)
	if v, err := e.c.Get(key); err != nil || string(v) != "from-lua" {
		t.Errorf("Go reads %q %v", v, err)
	}
}

// TestNginxMLCacheUpdateMode: an instance with l1_coherence "update" keeps
// mlcache's contract. A Go write is not seen by a worker's L1 hit until
// that worker calls update(); the get after it, in every worker, reads the
// new value (L2, then L1 again). The same for Go's Delete and for a Flush,
// which laps every ring.
func TestNginxMLCacheUpdateMode(t *testing.T) {
	e := startLoadNginx(t)
	key := []byte("mlu:up")
	q := url.Values{"k": {"up"}, "name": {"mlu"}, "nocb": {"1"}}
	qu := url.Values{"k": {"up"}, "name": {"mlu"}, "nocb": {"1"}, "update": {"1"}}
	must(t, e.c.Set(key, []byte("v1"), 0))
	// check reads the key until every worker has answered twice through
	// path query qq; each worker's first answer must be at levelFirst,
	// later ones at levelThen.
	check := func(what string, qq url.Values, value, levelFirst, levelThen string) {
		t.Helper()
		seen := map[int]bool{}
		for _, a := range e.perWorker("/ml", qq, 2) {
			want := levelThen
			if !seen[a.pid] {
				want = levelFirst
				seen[a.pid] = true
			}
			if a.value != value || a.err != "nil" || a.src != want {
				t.Errorf("%s: worker %d answered %v; want %s at level %s", what, a.pid, a, value, want)
			}
		}
	}
	check("priming", q, "v1", "2", "1")
	must(t, e.c.Set(key, []byte("v2"), 0))
	check("after Go's Set, before update()", q, "v1", "1", "1")
	check("after Go's Set, with update()", qu, "v2", "2", "1")
	_, err := e.c.Delete(key)
	must(t, err)
	check("after Go's Delete, before update()", q, "v2", "1", "1")
	seen := map[int]bool{}
	for _, a := range e.perWorker("/ml", qu, 2) {
		seen[a.pid] = true
		if a.typ != "nil" || a.src != "-1" {
			t.Errorf("after Go's Delete, with update(): worker %d answered %v; want a miss", a.pid, a)
		}
	}
	must(t, e.c.Set(key, []byte("v3"), 0))
	check("priming again", qu, "v3", "2", "1")
	must(t, e.c.Flush())
	must(t, e.c.Set(key, []byte("v4"), 0))
	check("after a Flush, with update()", qu, "v4", "2", "1")
}

// TestNginxMLCacheInvalidationBreadth: 500 keys in one worker's L1; a
// write drops from L1 the written key and exactly the keys that share its
// stripe (of the region's 8192: in expectation a few hundredths of a key
// per write), in both modes; every other key is still an L1 hit, and every
// value read is right. (Before the stripes, a write dropped the L1 copies
// of its whole shard: a quarter of L1 here.)
func TestNginxMLCacheInvalidationBreadth(t *testing.T) {
	e := startLoadNginx(t)
	const n = 500
	stripe := func(k string) uint32 {
		st, _, err := e.c.Binding().Stripe([]byte(k))
		must(t, err)
		return st
	}
	for i := 1; i <= n; i++ {
		must(t, e.c.Set([]byte(fmt.Sprint("br", i)), []byte(fmt.Sprint("v", i)), 0))
	}
	for _, mode := range []string{"always", "update"} {
		for _, w := range []int{1, 100} {
			// The handler writes br1 and other2 .. other<w>.
			written := map[uint32]bool{stripe("br1"): true}
			for i := 2; i <= w; i++ {
				written[stripe(fmt.Sprint("other", i))] = true
			}
			var want []string
			for i := 2; i <= n; i++ {
				if k := fmt.Sprint("br", i); written[stripe(k)] {
					want = append(want, k)
				}
			}
			s, err := e.get("/ml_breadth", url.Values{"n": {fmt.Sprint(n)}, "w": {fmt.Sprint(w)}, "mode": {mode}})
			must(t, err)
			f := strings.Fields(s)
			if len(f) < 2 || f[1] != "true" {
				t.Fatalf("%s, %d writes: %q", mode, w, s)
			}
			missed := ""
			if len(f) > 2 {
				missed = f[2]
			}
			if missed != strings.Join(want, ",") {
				t.Errorf("%s, %d writes: L1 lost %q besides the written key; the keys sharing a written key's stripe are %q", mode, w, missed, want)
			}
			if len(want) > 2+w/5 {
				t.Errorf("%s, %d writes: %d keys share a written key's stripe, far more than %d stripes make likely", mode, w, len(want), e.c.Binding().Stripes())
			}
			t.Logf("%s, %d writes: %s of %d keys still L1 hits", mode, w, f[0], n)
		}
	}
}

// sameValue compares two values of a type: tables as the JSON they are
// printed as, whatever the order of their keys.
func sameValue(typ, got, want string) bool {
	if typ != "table" {
		return got == want
	}
	var g, w any
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	return reflect.DeepEqual(g, w)
}

// TestNginxMLCacheNegative: a callback's nil is cached for neg_ttl, in L1
// and as a TypeNone entry in L2 that Go's GetOrLoad takes for an absence;
// once neg_ttl has passed the callback runs again.
func TestNginxMLCacheNegative(t *testing.T) {
	e := startLoadNginx(t)
	cf, _ := e.files("neg")
	q := url.Values{"k": {"neg"}, "mode": {"nil"}, "cf": {cf}}
	if a := e.call("/ml", q); a.typ != "nil" || a.err != "nil" || a.src != "3" {
		t.Fatalf("first: %v", a)
	}
	for _, a := range e.perWorker("/ml", q, 2) {
		if a.typ != "nil" || a.err != "nil" || (a.src != "1" && a.src != "2") {
			t.Errorf("worker %d: %v; want a cached nil from L1 or L2", a.pid, a)
		}
	}
	if l := loads(t, cf); len(l) != 1 {
		t.Errorf("loads: %q", l)
	}
	_, src, err := e.c.Load(context.Background(), nil, []byte("ml:neg"), goLoader(cf, "", "go"), lru.LoadOptions{NegativeTTL: time.Minute})
	if !errors.Is(err, lru.ErrNotFound) || src != lru.SourceHit {
		t.Errorf("Go on mlcache's cached nil: %v %v", src, err)
	}

	// neg_ttl 0.3: cached, then loaded again once it has passed.
	cf2, _ := e.files("neg2")
	q = url.Values{"k": {"neg2"}, "mode": {"nil"}, "neg_ttl": {"0.3"}, "cf": {cf2}}
	if a := e.call("/ml", q); a.src != "3" {
		t.Fatalf("first: %v", a)
	}
	waitUntil(t, 5*time.Second, "the cached nil expires and the callback runs again", func() bool {
		a := e.call("/ml", q)
		if a.typ != "nil" || a.err != "nil" {
			t.Fatalf("%v", a)
		}
		return a.src == "3"
	})
	if l := loads(t, cf2); len(l) != 2 {
		t.Errorf("loads: %q; want 2", l)
	}
}

// TestNginxMLCacheLoadOnce: mlcache's L3 is the read-through of every
// process: 16 requests over the workers and a Go GetOrLoad on the same L2
// key run one callback in total.
func TestNginxMLCacheLoadOnce(t *testing.T) {
	e := startLoadNginx(t)
	cf, rel := e.files("mlonce")
	q := url.Values{"k": {"once"}, "v": {"lua-value"}, "cf": {cf}, "rel": {rel}, "wait_timeout": {"30"}}
	loader := e.startLoader("/ml", q)
	base := e.waits()
	answers := e.async(15, "/ml", q)
	goDone := make(chan error, 1)
	var goValue []byte
	go func() {
		var err error
		goValue, err = e.c.GetOrLoad(context.Background(), []byte("ml:once"), goLoader(cf, rel, "go-value"), lru.LoadOptions{TTL: time.Minute})
		goDone <- err
	}()
	e.waitsAtLeast(base + 16)
	release(t, rel)
	if r := <-loader; r.err != nil || r.a.value != "lua-value" || r.a.src != "3" {
		t.Errorf("loader: %v %v", r.a, r.err)
	}
	for i := 0; i < 15; i++ {
		if r := <-answers; r.err != nil || r.a.value != "lua-value" || r.a.src != "2" {
			t.Errorf("waiter: %v %v; want the value from L2 (2)", r.a, r.err)
		}
	}
	if err := <-goDone; err != nil || string(goValue) != "lua-value" {
		t.Errorf("Go: %q %v", goValue, err)
	}
	if l := loads(t, cf); len(l) != 1 {
		t.Errorf("loads: %q", l)
	}
}

// TestNginxMLCacheAPI runs ffi/t/ngx_load.lua's checks of set, peek,
// delete, purge, update, get_bulk, l1_serializer, the callback's ttl,
// resurrect_ttl, tables and argument errors in one worker.
func TestNginxMLCacheAPI(t *testing.T) {
	e := startLoadNginx(t)
	s, err := e.get("/ml_api", url.Values{"prefix": {"api"}})
	must(t, err)
	if s != "ok" {
		t.Errorf("mlcache API checks failed:\n%s", s)
	}
}

// TestNginxMLCacheRestampExpire: an Expire that comes between set's write
// and the stamp after it does not leave L1 serving the value after L2's
// deadline (see ngx_load.lua's ml_restamp).
func TestNginxMLCacheRestampExpire(t *testing.T) {
	e := startLoadNginx(t)
	s, err := e.get("/ml_restamp", nil)
	must(t, err)
	if s != "ok" {
		t.Error(s)
	}
}

// TestNginxMLCacheUpdateError: an update() whose change call failed after
// moving the cursors drops every L1 copy (see ngx_load.lua's
// ml_update_err): a change it read but could not apply is not lost.
func TestNginxMLCacheUpdateError(t *testing.T) {
	e := startLoadNginx(t)
	s, err := e.get("/ml_update_err", nil)
	must(t, err)
	if s != "ok" {
		t.Error(s)
	}
}

// TestNginxMLCacheL1HitAllocates: the L1 hit path (lrucache lookup, one
// shmlru_changes call, a compare) compiles and allocates nothing:
// 100,000 gets of a key L1 holds allocate less than 64 KB (one cdata box a
// hit, were the clock read interpreted, would be 1.6 MB).
func TestNginxMLCacheL1HitAllocates(t *testing.T) {
	e := startLoadNginx(t)
	s, err := e.get("/ml_alloc", nil)
	must(t, err)
	f := strings.Split(s, "\t")
	if len(f) != 3 {
		t.Fatalf("/ml_alloc: %q", s)
	}
	hits, _ := strconv.Atoi(f[0])
	kb, err := strconv.ParseFloat(f[1], 64)
	if err != nil || hits != 100000 || !strings.HasPrefix(f[2], "true") {
		t.Fatalf("/ml_alloc: %q; want 100000 L1 hits with the JIT on", s)
	}
	if kb > 64 {
		t.Errorf("100,000 L1 hits allocated %.1f KB", kb)
	}
	t.Logf("100,000 L1 hits allocated %.1f KB", kb)
}
