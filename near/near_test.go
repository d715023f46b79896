package near

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

func TestGetFillsOnceThenHits(t *testing.T) {
	r := startRedis(t)
	rc := direct(t, r.Addr())
	c := newClient(t, options(t, regionPath(t, "a"), r.Addr()))
	inStep(t, c.Cache())
	ctx := context.Background()
	do(t, rc, "SET", "user:1", "alice")
	before := getCalls(t, rc)
	for i := range 5 {
		v, err := c.Get(ctx, "user:1")
		if err != nil || string(v) != "alice" {
			t.Fatalf("Get %d: %q, %v", i, v, err)
		}
	}
	if n := getCalls(t, rc) - before; n != 1 {
		t.Fatalf("%d GETs reached Redis for 5 reads, want 1", n)
	}
	// An absent key is cached as absent, and tracked like any other.
	for range 3 {
		if _, err := c.Get(ctx, "user:2"); !errors.Is(err, Nil) {
			t.Fatalf("Get of an absent key: %v, want Nil", err)
		}
	}
	if n := getCalls(t, rc) - before; n != 2 {
		t.Fatalf("%d GETs reached Redis, want 2 (one per key)", n)
	}
	// This host's writes are read back at once.
	if err := c.Set(ctx, "user:2", []byte("bob"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get(ctx, "user:2"); err != nil || string(v) != "bob" {
		t.Fatalf("Get after Set: %q, %v", v, err)
	}
	if err := c.Del(ctx, "user:1", "user:2"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "user:1"); !errors.Is(err, Nil) {
		t.Fatalf("Get after Del: %v, want Nil", err)
	}
}

func TestPrefixesLimitWhatIsCached(t *testing.T) {
	r := startRedis(t)
	rc := direct(t, r.Addr())
	o := options(t, regionPath(t, "a"), r.Addr())
	o.Prefixes = []string{"user:"}
	c := newClient(t, o)
	inStep(t, c.Cache())
	do(t, rc, "SET", "other", "x")
	before := getCalls(t, rc)
	for range 3 {
		if v, err := c.Get(context.Background(), "other"); err != nil || string(v) != "x" {
			t.Fatalf("Get: %q %v", v, err)
		}
	}
	if n := getCalls(t, rc) - before; n != 3 {
		t.Fatalf("a key outside the prefixes: %d GETs for 3 reads, want 3", n)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{},
		{Cache: "x"},
		{Cache: "x", Redis: options(t, "", "127.0.0.1:1").Redis, MaxLag: -1},
		{Cache: "x", Redis: options(t, "", "127.0.0.1:1").Redis, MaxLag: time.Millisecond},
	} {
		if _, err := New(o); err == nil || !strings.HasPrefix(err.Error(), "near: Options.") {
			t.Errorf("New(%+v): %v, want an error naming the option", o, err)
		}
	}
}

// Two hosts: a write through one makes the other's region drop the key.
// The delay from the write's return to the drop is measured.
func TestTwoHostsInvalidationDelay(t *testing.T) {
	r := startRedis(t)
	a := newClient(t, options(t, regionPath(t, "hostA"), r.Addr()))
	bPath := regionPath(t, "hostB")
	b := startHost(t, "host", bPath, 200*time.Millisecond, r.Addr())
	bCache, err := lru.Open(bPath, &lru.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bCache.Close()
	inStep(t, a.Cache())
	inStep(t, bCache)
	ctx := context.Background()
	var delays []time.Duration
	for i := range 200 {
		key := fmt.Sprint("k", i%20)
		if got := b.call(t, "get "+key); !strings.HasPrefix(got, "v ") && got != "nil" {
			t.Fatalf("host B get: %s", got)
		}
		if _, _, err := bCache.Tracker().Get(nil, []byte(key)); err != nil {
			t.Fatalf("host B did not cache %s: %v", key, err)
		}
		if err := a.Set(ctx, key, []byte(fmt.Sprint("v", i)), 0); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			_, _, err := bCache.Tracker().Get(nil, []byte(key))
			if errors.Is(err, lru.ErrNotFound) {
				break
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("host B still holds %s 10s after host A wrote it (%v)", key, err)
			}
		}
		delays = append(delays, time.Since(start))
		if got := b.call(t, "get "+key); got != fmt.Sprint("v v", i) {
			t.Fatalf("host B read %q after host A wrote v%d", got, i)
		}
	}
	slices.Sort(delays)
	t.Logf("invalidation delay host A write -> host B region: p50 %v, p99 %v, max %v (%d writes)",
		delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1], len(delays))
}

// readsWithinBound reads key through c until it reads want, and fails the test
// if that takes longer than the bound after the change (plus slack for a
// loaded machine's scheduling, which the bound does not cover).
func readsWithinBound(t *testing.T, c *Client, key, want string, changed time.Time) {
	t.Helper()
	bound := c.o.MaxLag + 2*time.Second
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		v, err := c.Get(ctx, key)
		cancel()
		if err == nil && string(v) == want {
			return
		}
		if since := time.Since(changed); since > bound {
			t.Fatalf("%s still reads %q (%v) %v after the change to %q", key, v, err, since, want)
		}
	}
}

func TestAgentKilledAnotherTakesOver(t *testing.T) {
	r := startRedis(t)
	rc := direct(t, r.Addr())
	path := regionPath(t, "host")
	first := startHost(t, "host", path, 200*time.Millisecond, r.Addr())
	o := options(t, path, r.Addr())
	o.NoAgent = true
	reader := newClient(t, o)
	s0 := inStep(t, reader.Cache())
	if s0.AgentPid != first.pid {
		t.Fatalf("agent pid %d, want the first host process %d", s0.AgentPid, first.pid)
	}
	second := startHost(t, "host", path, 200*time.Millisecond, r.Addr())
	if got := second.call(t, "agent"); got != "no" {
		t.Fatalf("second process is agent while the first lives: %s", got)
	}
	do(t, rc, "SET", "k", "old")
	if v, err := reader.Get(context.Background(), "k"); err != nil || string(v) != "old" {
		t.Fatalf("Get: %q %v", v, err)
	}
	first.kill()
	do(t, rc, "SET", "k", "new") // no agent hears this one
	changed := time.Now()
	var s lru.TrackState
	waitFor(t, 10*time.Second, "the second process taking the role", func() bool {
		s, _ = reader.Cache().Tracker().State()
		return s.AgentPid == second.pid && s.InStep
	})
	if s.Gen == s0.Gen || s.Counters.Agents != s0.Counters.Agents+1 {
		t.Fatalf("after the takeover: %+v, before: %+v; want a new generation and one more agent", s, s0)
	}
	// The copy from before the takeover is gone, not merely out of date.
	if _, _, err := reader.Cache().Tracker().Get(nil, []byte("k")); !errors.Is(err, lru.ErrNotFound) {
		t.Fatalf("the old copy survived the takeover: %v", err)
	}
	readsWithinBound(t, reader, "k", "new", changed)
}

func TestConnectionKilled(t *testing.T) {
	r := startRedis(t)
	rc := direct(t, r.Addr())
	c := newClient(t, options(t, regionPath(t, "a"), r.Addr()))
	s0 := inStep(t, c.Cache())
	do(t, rc, "SET", "k", "old")
	if v, _ := c.Get(context.Background(), "k"); string(v) != "old" {
		t.Fatalf("Get: %q", v)
	}
	n, err := do(t, rc, "CLIENT", "KILL", "USER", "default", "SKIPME", "yes").AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("CLIENT KILL killed nothing")
	}
	do(t, rc, "SET", "k", "new")
	changed := time.Now()
	waitFor(t, 10*time.Second, "the agent dropping the cache", func() bool {
		s, _ := c.Cache().Tracker().State()
		return s.Gen != s0.Gen
	})
	readsWithinBound(t, c, "k", "new", changed)
}

func TestRedisRestarted(t *testing.T) {
	r := startRedis(t)
	c := newClient(t, options(t, regionPath(t, "a"), r.Addr()))
	inStep(t, c.Cache())
	ctx := context.Background()
	if err := c.Set(ctx, "k", []byte("before"), 0); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get(ctx, "k"); string(v) != "before" {
		t.Fatalf("Get: %q", v)
	}
	r.Restart() // empty: no persistence
	changed := time.Now()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Get(ctx, "k")
		cancel()
		if errors.Is(err, Nil) {
			break
		}
		if time.Since(changed) > c.o.MaxLag+5*time.Second {
			t.Fatalf("k still reads from before the restart: %v", err)
		}
	}
	inStep(t, c.Cache())
	// A write on a connection the restart broke fails (a client does not
	// retry a write it cannot tell landed); the next one reconnects.
	waitFor(t, 10*time.Second, "a write after the restart", func() bool {
		return c.Set(ctx, "k", []byte("after"), 0) == nil
	})
	if v, err := c.Get(ctx, "k"); string(v) != "after" {
		t.Fatalf("Get after the restart: %q %v", v, err)
	}
}

func TestFlushAll(t *testing.T) {
	r := startRedis(t)
	rc := direct(t, r.Addr())
	c := newClient(t, options(t, regionPath(t, "a"), r.Addr()))
	s0 := inStep(t, c.Cache())
	ctx := context.Background()
	for i := range 50 {
		c.Set(ctx, fmt.Sprint("k", i), []byte("v"), 0)
		c.Get(ctx, fmt.Sprint("k", i))
	}
	do(t, rc, "FLUSHALL")
	waitFor(t, 10*time.Second, "the null invalidation dropping every key", func() bool {
		s, _ := c.Cache().Tracker().State()
		return s.Gen != s0.Gen
	})
	changed := time.Now()
	for i := range 50 {
		for {
			_, err := c.Get(ctx, fmt.Sprint("k", i))
			if errors.Is(err, Nil) {
				break
			}
			if time.Since(changed) > c.o.MaxLag+2*time.Second {
				t.Fatalf("k%d still read after FLUSHALL: %v", i, err)
			}
		}
	}
}

// While Redis is paused the agent cannot confirm its stream: after MaxLag
// the region serves nothing, and a read waits for Redis like any client.
func TestRedisPaused(t *testing.T) {
	r := startRedis(t)
	rc := direct(t, r.Addr())
	c := newClient(t, options(t, regionPath(t, "a"), r.Addr()))
	inStep(t, c.Cache())
	do(t, rc, "SET", "k", "v")
	if v, _ := c.Get(context.Background(), "k"); string(v) != "v" {
		t.Fatalf("Get: %q", v)
	}
	if err := do(t, rc, "CLIENT", "PAUSE", "1500", "ALL").Error(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	waitFor(t, c.o.MaxLag+2*time.Second, "the region going out of step", func() bool {
		s, _ := c.Cache().Tracker().State()
		return !s.InStep
	})
	if time.Since(paused) < c.o.MaxLag/2 {
		t.Fatalf("out of step %v after the pause, sooner than the pings could tell", time.Since(paused))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	v, err := c.Get(ctx, "k")
	cancel()
	if err == nil {
		t.Fatalf("Get while paused and out of step answered %q; want Redis's timeout, not the cached copy", v)
	}
	inStep(t, c.Cache()) // the pause ends by itself
	if v, err := c.Get(context.Background(), "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get after the pause: %q %v", v, err)
	}
}
