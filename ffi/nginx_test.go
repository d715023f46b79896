package ffi_test

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/shmlru/shmlru/internal/ngxrun"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// resty.shmlru in Debian's nginx, with workers workers on a loopback port
// (configuration by ngxrun; the cache opened in init_worker_by_lua), and
// this Go process on the same region. `make test-nginx` runs these alone;
// `go test ./ffi/` (make test-go) with the rest.
//
//   - TestNginxWorkersShareCacheWithGo: the master's init_by_lua open is
//     refused; Go writes strings, numbers and booleans with flags and every
//     worker reads them with their Lua types; Lua writes and Go reads the
//     types back; a counter incremented from every worker and from Go
//     loses nothing.
//   - TestNginxReloadAndKilledWorker: after nginx -s reload the new workers
//     see what the old ones wrote; a worker killed with SIGKILL is
//     respawned, and the cache goes on serving and passes Check.
//   - TestNginxRegionTruncatedUnderWorkers: the region's file truncated
//     under running workers: gets answer "corrupt" and no worker dies.

const workers = 3

// startNginx opens the region from Go, then starts nginx on it.
func startNginx(t *testing.T) (*lru.Cache, *ngxrun.Server) {
	t.Helper()
	testenv.NeedNginx(t)
	region := shm.Path(fmt.Sprintf("shmlru-nginx-test-%d", os.Getpid()))
	c, err := lru.Open(region, &lru.Options{Size: 8 << 20, Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); shm.Remove(region) })
	s := testenv.Nginx(t, ngxrun.Config{Workers: workers, Region: region, Size: "8m"},
		func(log string) { checkLog(t, log) })
	return c, s
}

// checkLog fails on errors in nginx's log other than the expected reports
// of a killed worker.
func checkLog(t *testing.T, log string) {
	t.Helper()
	for _, l := range strings.Split(log, "\n") {
		bad := strings.Contains(l, "[error]") || strings.Contains(l, "[crit]") || strings.Contains(l, "[emerg]") ||
			(strings.Contains(l, "[alert]") && !strings.Contains(l, "exited on signal 9"))
		if bad {
			t.Errorf("nginx error log: %s", l)
		}
	}
}

// eachWorker sends GET path on new connections until every one of want
// workers (none of them in old) has answered, and returns the answers by
// worker pid. With reuseport the kernel spreads connections over workers.
func eachWorker(t *testing.T, s *ngxrun.Server, path string, want int, old map[int]bool) map[int]string {
	t.Helper()
	seen := map[int]string{}
	for i := 0; i < 2000 && len(seen) < want; i++ {
		a, err := s.Get(path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if pid := ngxrun.WorkerOf(a); pid != 0 && !old[pid] {
			seen[pid] = a
		}
	}
	t.Logf("GET %s: %v", path, seen)
	if len(seen) < want {
		t.Fatalf("GET %s: only %d of %d new workers answered in 2000 requests: %v", path, len(seen), want, seen)
	}
	return seen
}

// expectAll checks that every answer (after the pid) is want.
func expectAll(t *testing.T, answers map[int]string, want string) {
	t.Helper()
	for pid, a := range answers {
		if got := strings.TrimSpace(strings.TrimPrefix(a, fmt.Sprint(pid))); got != want {
			t.Errorf("worker %d: got %q, want %q", pid, got, want)
		}
	}
}

func pids(m map[int]string) map[int]bool {
	out := map[int]bool{}
	for p := range m {
		out[p] = true
	}
	return out
}

func TestNginxWorkersShareCacheWithGo(t *testing.T) {
	c, s := startNginx(t)

	// The master refused to open the cache in the init phase.
	a, err := s.Get("/init_err")
	if err != nil || !strings.Contains(a, "init phase") {
		t.Errorf("init phase open: %q, %v; want a refusal naming the init phase", a, err)
	}

	// Go writes; every worker reads the same values with their types.
	must(t, c.Set([]byte("go:str"), []byte("hello from Go"), 0))
	_, err = c.Write([]byte("go:num"), lru.EncodeNumber(42.5), lru.WriteOptions{Type: lru.TypeNumber, Flags: 3})
	must(t, err)
	_, err = c.Write([]byte("go:bool"), lru.EncodeBool(true), lru.WriteOptions{Type: lru.TypeBool})
	must(t, err)
	expectAll(t, eachWorker(t, s, "/get?k=go:str", workers, nil), "string nil hello from Go")
	expectAll(t, eachWorker(t, s, "/get?k=go:num", workers, nil), "number 3 42.5")
	expectAll(t, eachWorker(t, s, "/get?k=go:bool", workers, nil), "boolean nil true")
	expectAll(t, eachWorker(t, s, "/get?k=absent", workers, nil), "nil nil nil")

	// Lua writes; Go reads the types back.
	for path, ans := range map[string]string{
		"/set?k=lua:num&t=number&v=7.25&f=5": "true nil",
		"/set?k=lua:bool&t=boolean&v=false":  "true nil",
		"/set?k=lua:str&t=string&v=from+Lua": "true nil",
	} {
		a, err := s.Get(path)
		if err != nil || !strings.HasSuffix(a, ans) {
			t.Fatalf("GET %s: %q, %v", path, a, err)
		}
	}
	v, m, err := c.GetInto(nil, []byte("lua:num"))
	must(t, err)
	if f, ok := lru.DecodeNumber(v); !ok || f != 7.25 || m.Type != lru.TypeNumber || m.Flags != 5 {
		t.Errorf("lua:num from Go: %v %v %+v", f, ok, m)
	}
	v, m, err = c.GetInto(nil, []byte("lua:bool"))
	must(t, err)
	if b, ok := lru.DecodeBool(v); !ok || b || m.Type != lru.TypeBool {
		t.Errorf("lua:bool from Go: %v %v %+v", b, ok, m)
	}
	v, err = c.Get([]byte("lua:str"))
	if err != nil || string(v) != "from Lua" {
		t.Errorf("lua:str from Go: %q, %v", v, err)
	}

	// Every worker and Go increment one counter: none is lost.
	const perWorker = 20
	answered := map[int]int{}
	for i := 0; i < perWorker*workers; i++ {
		a, err := s.Get("/incr?k=hits")
		must(t, err)
		answered[ngxrun.WorkerOf(a)]++
	}
	for i := 0; i < 10; i++ {
		_, _, err := c.IncrInit([]byte("hits"), 1, 0, 0)
		must(t, err)
	}
	v, err = c.Get([]byte("hits"))
	must(t, err)
	if f, _ := lru.DecodeNumber(v); f != perWorker*workers+10 {
		t.Errorf("shared counter = %v, want %d (answers by worker: %v)", f, perWorker*workers+10, answered)
	}
}

func TestNginxReloadAndKilledWorker(t *testing.T) {
	c, s := startNginx(t)
	must(t, c.Set([]byte("k"), []byte("before"), 0))
	first := eachWorker(t, s, "/get?k=k", workers, nil)
	expectAll(t, first, "string nil before")
	// A Lua write before the reload, read after it.
	if a, err := s.Get("/set?k=lua:kept&t=string&v=kept"); err != nil || !strings.HasSuffix(a, "true nil") {
		t.Fatalf("set: %q %v", a, err)
	}

	// nginx -s reload: new workers open the same region and see the same
	// entries; the old workers exit gracefully.
	must(t, s.Reload())
	after := eachWorker(t, s, "/get?k=lua:kept", workers, pids(first))
	expectAll(t, after, "string nil kept")
	must(t, c.Set([]byte("k"), []byte("after reload"), 0))
	expectAll(t, eachWorker(t, s, "/get?k=k", workers, pids(first)), "string nil after reload")

	// A worker killed with SIGKILL is respawned by the master; the new one
	// opens the cache and serves it, and the others never noticed.
	var victim int
	for pid := range after {
		victim = pid
		break
	}
	must(t, syscall.Kill(victim, syscall.SIGKILL))
	old := pids(first)
	for p := range after {
		old[p] = true
	}
	respawned := eachWorker(t, s, "/get?k=k", 1, old)
	expectAll(t, respawned, "string nil after reload")
	for i := 0; i < 50; i++ {
		a, err := s.Get("/incr?k=after-kill")
		must(t, err)
		if ngxrun.WorkerOf(a) == victim {
			t.Fatalf("the killed worker %d answered", victim)
		}
	}
	v, err := c.Get([]byte("after-kill"))
	must(t, err)
	if f, _ := lru.DecodeNumber(v); f != 50 {
		t.Errorf("counter after the kill = %v, want 50", f)
	}
	problems, err := c.Check()
	must(t, err)
	if len(problems) != 0 {
		t.Errorf("Check after reload and kill: %v", problems)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A region file truncated underneath running workers does not kill them:
// libshmlru.so's native path reads the region from C, outside Go's fault
// guard, and turns the fault on a page that is gone into SHMLRU_CORRUPT.
// Every worker answers get with nil, "corrupt", and the same workers go on
// answering (a worker killed by SIGBUS would be respawned under a new pid,
// and the master would log it, which checkLog reports).
func TestNginxRegionTruncatedUnderWorkers(t *testing.T) {
	c, s := startNginx(t)
	// A key of the last shard: its whole shard lies in the half that goes.
	var key []byte
	for i := 0; key == nil; i++ {
		if k := []byte(fmt.Sprint("gone", i)); c.Binding().ShardOf(k) == c.Geometry().Shards-1 {
			key = k
		}
	}
	must(t, c.Set(key, []byte("value"), 0))
	before := eachWorker(t, s, "/get?k="+string(key), workers, nil)
	expectAll(t, before, "string nil value")

	must(t, os.Truncate(c.Path(), c.Capacity()/2))
	after := eachWorker(t, s, "/get?k="+string(key), workers, nil)
	expectAll(t, after, "nil corrupt nil")
	for pid := range after {
		if _, ok := before[pid]; !ok {
			t.Errorf("worker %d answered after the truncation, but not before: a worker died", pid)
		}
	}
}
