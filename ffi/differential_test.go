package ffi_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/ngxrun"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// The differential test of resty.shmlru against ngx.shared.DICT: nginx with
// one worker, a lua_shared_dict and a shmlru cache (both 32 MiB, so
// neither evicts), in which ffi/t/differential.lua makes the same random
// calls on both (every method but capacity and free_space, every value
// type including rejected ones, flags, TTLs, lists, bad keys) and compares
// every returned value (nil against false, error strings and flags too)
// and every raised error; each run starts with every method called on bad
// selves and with a dot, whose raised errors must be the same, position
// and all. TTLs that expire are followed by a yield until
// both clocks are past them; the differences by design (ffi/README.md)
// are left out, each for the reason differential.lua's header gives. A
// failure names the seed, the step, the call, both results and the calls
// before it. After the runs the cache passes Check. `make test-nginx` and
// `go test ./ffi/` run it.

// The seeds and steps of TestNginxDifferential; SHMLRU_DIFF_SEEDS ("1,2,3")
// and SHMLRU_DIFF_STEPS replace them to replay a failure or run longer, and
// SHMLRU_DIFF_VERBOSE=1 logs how often each error came up.
var (
	diffSeeds = []int{1, 2, 3, 4, 5, 6, 7, 8}
	diffSteps = 1500
)

// The methods the seeds must call, each returning a value (neither nil nor
// false) at least once, flush_all aside (it returns nothing): a harness that
// stopped generating one would otherwise pass without testing it.
var diffMethods = []string{"get", "get_stale", "set", "safe_set", "add", "safe_add", "replace", "delete",
	"incr", "lpush", "rpush", "lpop", "rpop", "llen", "ttl", "expire", "flush_all", "flush_expired", "get_keys"}

var diffOK = regexp.MustCompile(`^ok seed=(\d+) steps=(\d+) calls=(\d+) episodes=(\d+) stale=(\d+) expired_ttls=(\d+) bad_self=(\d+) (.*)$`)

// TestNginxDifferential makes the same random calls on a lua_shared_dict
// and on resty.shmlru in one nginx worker and fails on the first result
// that differs (ffi/t/differential.lua says what is compared and what is
// not).
func TestNginxDifferential(t *testing.T) {
	testenv.NeedNginx(t)
	seeds, steps := diffSeeds, diffSteps
	if v := os.Getenv("SHMLRU_DIFF_SEEDS"); v != "" {
		seeds = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				t.Fatalf("SHMLRU_DIFF_SEEDS=%q: %v", v, err)
			}
			seeds = append(seeds, n)
		}
	}
	if v := os.Getenv("SHMLRU_DIFF_STEPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("SHMLRU_DIFF_STEPS=%q: %v", v, err)
		}
		steps = n
	}

	region := shm.Path(fmt.Sprintf("shmlru-diff-test-%d", os.Getpid()))
	t.Cleanup(func() { shm.Remove(region) })
	luaT, err := filepath.Abs("t")
	if err != nil {
		t.Fatal(err)
	}
	// Both 32 MiB (shmlru: 16 shards of 2 MiB). A run holds under 200 KB at
	// any time (measured over 40 seeds: a few dozen keys, values up to
	// 30,000 bytes), so neither evicts; an eviction would show as a
	// mismatch (forcible true, or an entry missing on one side).
	s := testenv.Nginx(t, ngxrun.Config{
		Workers: 1, Region: region, Size: "32m",
		HTTP:    "    lua_shared_dict diffdict 32m;",
		LuaPath: luaT + "/?.lua;",
		Extra:   `        location = /diff { content_by_lua_block { require("differential").handler() } }`,
	}, func(log string) { checkLog(t, log) })

	start := time.Now()
	calls, stale, expiredTTLs, badSelf := 0, 0, 0, 0
	called, values := map[string]int{}, map[string]int{}
	for _, seed := range seeds {
		path := fmt.Sprintf("/diff?seed=%d&steps=%d", seed, steps)
		if os.Getenv("SHMLRU_DIFF_VERBOSE") != "" {
			path += "&verbose=1"
		}
		a, err := s.GetSlow(path)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		first, _, _ := strings.Cut(a, "\n")
		m := diffOK.FindStringSubmatch(first)
		if m == nil {
			t.Fatalf("seed %d (replay: SHMLRU_DIFF_SEEDS=%d SHMLRU_DIFF_STEPS=%d):\n%s", seed, seed, steps, a)
		}
		t.Log(a)
		n, _ := strconv.Atoi(m[3])
		calls += n
		n, _ = strconv.Atoi(m[5])
		stale += n
		n, _ = strconv.Atoi(m[6])
		expiredTTLs += n
		n, _ = strconv.Atoi(m[7])
		badSelf += n
		for _, f := range strings.Fields(m[8]) {
			// method=calls/values/errors
			name, counts, _ := strings.Cut(f, "=")
			var c, v, e int
			if _, err := fmt.Sscanf(counts, "%d/%d/%d", &c, &v, &e); err != nil {
				t.Fatalf("seed %d: bad count %q", seed, f)
			}
			called[name] += c
			values[name] += v
		}
	}
	t.Logf("%d seeds, %d calls compared on each side, in %v", len(seeds), calls, time.Since(start).Round(time.Millisecond))

	// What the default seeds must have covered (a replay of one seed
	// covers less).
	if os.Getenv("SHMLRU_DIFF_SEEDS") == "" && steps >= diffSteps {
		if calls < 5000 {
			t.Errorf("only %d calls compared; want at least 5000", calls)
		}
		if stale == 0 {
			t.Errorf("no get_stale found an expired entry: the TTL episodes tested nothing")
		}
		if expiredTTLs == 0 {
			t.Errorf("no ttl of an expired entry was compared")
		}
		if badSelf < 100*len(seeds) {
			t.Errorf("only %d calls on a bad self compared in %d seeds", badSelf, len(seeds))
		}
		for _, name := range diffMethods {
			if called[name] == 0 {
				t.Errorf("%s was never called", name)
			} else if values[name] == 0 && name != "flush_all" {
				t.Errorf("%s never returned a value in %d calls", name, called[name])
			}
		}
	}

	// The cache passes its consistency check after all that.
	c, err := lru.Open(region, &lru.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	problems, err := c.Check()
	if err != nil || len(problems) != 0 {
		t.Errorf("Check after the differential runs: %v, %v", problems, err)
	}
}
