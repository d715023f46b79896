package lru

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
	"golang.org/x/sys/unix"
)

// inStep marks c in step for an hour, as an agent that just confirmed its
// stream would.
func inStep(t *testing.T, c *Cache) {
	t.Helper()
	if err := c.Tracker().SetInStep(TrackClock() + int64(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

// trackFill is a whole fill of key with v: guard, store.
func trackFill(t *testing.T, c *Cache, key, v string) bool {
	t.Helper()
	g, err := c.Tracker().BeginFill([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	ok, err := c.Tracker().StoreFill([]byte(key), []byte(v), false, WriteOptions{}, g)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestTrackedNothingServedOutOfStep(t *testing.T) {
	c := newCache(t, nil)
	// A new cache has no agent: nothing tracked is served, nothing filled.
	if _, _, err := c.Tracker().Get(nil, []byte("k")); !errors.Is(err, ErrNotInStep) {
		t.Fatalf("Tracker.Get on a new cache: %v, want ErrNotInStep", err)
	}
	if _, err := c.Tracker().BeginFill([]byte("k")); !errors.Is(err, ErrNotInStep) {
		t.Fatalf("BeginFill on a new cache: %v, want ErrNotInStep", err)
	}
	inStep(t, c)
	if _, _, err := c.Tracker().Get(nil, []byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Tracker.Get of a missing key: %v, want ErrNotFound", err)
	}
	if !trackFill(t, c, "k", "v1") {
		t.Fatal("an undisturbed fill was not stored")
	}
	if v, _, err := c.Tracker().Get(nil, []byte("k")); err != nil || string(v) != "v1" {
		t.Fatalf("Tracker.Get after a fill: %q, %v", v, err)
	}
	// A confirmation that ran out: not served.
	if err := c.Tracker().SetInStep(0); err != nil {
		t.Fatal(err)
	}
	if err := c.Tracker().SetInStep(TrackClock() - 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Tracker().Get(nil, []byte("k")); !errors.Is(err, ErrNotInStep) {
		t.Fatalf("Tracker.Get past the in-step instant: %v, want ErrNotInStep", err)
	}
	// A plain write of the key is not a tracked entry.
	inStep(t, c)
	c.Set([]byte("plain"), []byte("x"), 0)
	if _, _, err := c.Tracker().Get(nil, []byte("plain")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Tracker.Get of an untracked entry: %v, want ErrNotFound", err)
	}
}

func TestTrackedInvalidateAllDropsEverything(t *testing.T) {
	c := newCache(t, nil)
	inStep(t, c)
	for i := range 100 {
		trackFill(t, c, fmt.Sprint("k", i), "v")
	}
	gen, err := c.Tracker().InvalidateAll()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Tracker().Get(nil, []byte("k1")); !errors.Is(err, ErrNotInStep) {
		t.Fatalf("Tracker.Get right after InvalidateAll: %v, want ErrNotInStep", err)
	}
	inStep(t, c)
	for i := range 100 {
		if v, _, err := c.Tracker().Get(nil, []byte(fmt.Sprint("k", i))); !errors.Is(err, ErrNotFound) {
			t.Fatalf("k%d of the old generation served: %q, %v", i, v, err)
		}
	}
	s, err := c.Tracker().State()
	if err != nil || s.Gen != gen || s.Counters.Generations != 1 || !s.InStep {
		t.Fatalf("TrackState %+v, %v; want gen %d, 1 generation, in step", s, err, gen)
	}
}

// The "caching in progress" race: a fill that read the store before a
// change must not keep what it read, whichever way the change and the
// store interleave.
func TestTrackedFillRefusedAfterInvalidation(t *testing.T) {
	c := newCache(t, nil)
	inStep(t, c)
	key := []byte("k")
	// The change arrives between the fill's read and its store.
	g, _ := c.Tracker().BeginFill(key)
	if err := c.Tracker().Invalidate(key); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Tracker().StoreFill(key, []byte("old"), false, WriteOptions{}, g); ok || err != nil {
		t.Fatalf("StoreFill after an invalidation of its key: stored %v, %v", ok, err)
	}
	if _, _, err := c.Tracker().Get(nil, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the refused fill is served: %v", err)
	}
	// The change arrives after the store: the invalidation deletes it.
	trackFill(t, c, "k", "old")
	c.Tracker().Invalidate(key)
	if _, _, err := c.Tracker().Get(nil, key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an invalidated fill is served: %v", err)
	}
	// Every entry dropped while the fill read.
	g, _ = c.Tracker().BeginFill(key)
	c.Tracker().InvalidateAll()
	inStep(t, c)
	if ok, _ := c.Tracker().StoreFill(key, []byte("old"), false, WriteOptions{}, g); ok {
		t.Fatal("a fill begun in the previous generation was stored")
	}
	// A fill of an absent key caches the absence.
	g, _ = c.Tracker().BeginFill(key)
	if ok, err := c.Tracker().StoreFill(key, []byte("ignored"), true, WriteOptions{TTL: time.Minute}, g); !ok || err != nil {
		t.Fatalf("absent fill: %v, %v", ok, err)
	}
	if v, m, err := c.Tracker().Get(nil, key); err != nil || m.Type != TypeNone || len(v) != 0 {
		t.Fatalf("cached absence: %q, %+v, %v", v, m, err)
	}
	s, _ := c.Tracker().State()
	if s.Counters.Refused != 2 || s.Counters.Invalidations != 2 {
		t.Fatalf("counters %+v, want 2 refused, 2 invalidations", s.Counters)
	}
}

// Read with Tracked is Tracker.Get; a tracked read is neither stale nor a
// peek.
func TestTrackedReadOptions(t *testing.T) {
	c := newCache(t, nil)
	inStep(t, c)
	trackFill(t, c, "k", "v")
	if v, _, _, err := c.Read(nil, []byte("k"), ReadOptions{Tracked: true}); err != nil || string(v) != "v" {
		t.Fatalf("Read with Tracked: %q, %v", v, err)
	}
	for _, o := range []ReadOptions{{Tracked: true, Stale: true}, {Tracked: true, Peek: true}} {
		if _, _, _, err := c.Read(nil, []byte("k"), o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Read with %+v: %v, want ErrBadOptions", o, err)
		}
	}
}

func TestTrackedBadGuard(t *testing.T) {
	c := newCache(t, nil)
	for _, g := range []FillTicket{{}, {Gen: StaleFlag | 1}, {Gen: 1, Slot: 1 << 30}} {
		if _, err := c.Tracker().StoreFill([]byte("k"), nil, false, WriteOptions{}, g); !errors.Is(err, ErrBadOptions) {
			t.Errorf("StoreFill with guard %+v: %v, want ErrBadOptions", g, err)
		}
	}
}

func TestNextGen(t *testing.T) {
	for _, c := range [][2]uint32{{1, 2}, {StaleFlag - 1, 1}, {ResurrectFlag - 1, 1}, {0, 1}} {
		if g := nextGen(c[0]); g != c[1] {
			t.Errorf("nextGen(%d) = %d, want %d", c[0], g, c[1])
		}
	}
}

func init() {
	childRoles["agent"] = func(c *Cache, _ string) error {
		ok, err := c.Tracker().ClaimAgent()
		if err != nil || !ok {
			return fmt.Errorf("claim: %v, %v", ok, err)
		}
		fmt.Println("agent", os.Getpid())
		holdUntilKilled()
		return nil
	}
}

// The agent role is one process's at a time, and free again the moment
// that process dies.
func TestAgentRoleAcrossProcesses(t *testing.T) {
	c := newCache(t, nil)
	ch := startChild(t, "agent", c.Path(), "")
	line := ch.line()
	pid, _ := strconv.Atoi(line[len("agent "):])
	if ok, err := c.Tracker().ClaimAgent(); ok || err != nil {
		t.Fatalf("ClaimAgent while a live child holds the role: %v, %v", ok, err)
	}
	if s, _ := c.Tracker().State(); s.AgentPid != pid {
		t.Fatalf("AgentPid %d, want the child's %d", s.AgentPid, pid)
	}
	ch.cmd.Process.Kill()
	ch.cmd.Wait()
	if s, _ := c.Tracker().State(); s.AgentPid != 0 {
		t.Fatalf("AgentPid %d after the agent died, want 0", s.AgentPid)
	}
	if ok, err := c.Tracker().ClaimAgent(); !ok || err != nil {
		t.Fatalf("ClaimAgent after the agent died: %v, %v", ok, err)
	}
	if s, _ := c.Tracker().State(); s.AgentPid != os.Getpid() || s.Counters.Agents != 2 {
		t.Fatalf("TrackState %+v after taking the role", s)
	}
	// A second attachment in this process is another candidate.
	c2, err := Open(c.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if ok, _ := c2.Tracker().ClaimAgent(); ok {
		t.Fatal("a second attachment took a held role")
	}
	inStep(t, c)
	c.Close() // gives the role up and leaves the cache out of step
	if s, _ := c2.Tracker().State(); s.InStep || s.AgentPid != 0 {
		t.Fatalf("after the agent closed: %+v", s)
	}
	if ok, _ := c2.Tracker().ClaimAgent(); !ok {
		t.Fatal("the role was not free after its holder closed")
	}
}

func TestTrackedGetOrLoad(t *testing.T) {
	c := newCache(t, nil)
	ctx := t.Context()
	key := []byte("k")
	loads := 0
	val := "v1"
	load := func(ctx context.Context, key []byte) ([]byte, error) {
		loads++
		return []byte(val), nil
	}
	o := LoadOptions{TTL: time.Minute, Tracked: true}
	// Out of step: the loader runs for every call, nothing is kept.
	for range 2 {
		if v, src, err := c.Load(ctx, nil, key, load, o); err != nil || string(v) != "v1" || src != SourceLoaded {
			t.Fatalf("out of step: %q %v %v", v, src, err)
		}
	}
	if loads != 2 {
		t.Fatalf("%d loads out of step, want 2", loads)
	}
	inStep(t, c)
	for i, want := range []Source{SourceLoaded, SourceHit} {
		if v, src, err := c.Load(ctx, nil, key, load, o); err != nil || string(v) != "v1" || src != want {
			t.Fatalf("in step, call %d: %q %v %v, want source %v", i, v, src, err, want)
		}
	}
	// The key changes while it loads: the caller gets what it read, and
	// the next caller loads again.
	c.Tracker().Invalidate(key)
	racing := func(ctx context.Context, key []byte) ([]byte, error) {
		v, _ := load(ctx, key)
		val = "v2"
		c.Tracker().Invalidate(key) // the store changed it after the loader read it
		return v, nil
	}
	if v, _, err := c.Load(ctx, nil, key, racing, o); err != nil || string(v) != "v1" {
		t.Fatalf("racing load: %q %v", v, err)
	}
	if v, src, err := c.Load(ctx, nil, key, load, o); err != nil || string(v) != "v2" || src != SourceLoaded {
		t.Fatalf("after the racing load: %q %v %v; want v2 loaded anew", v, src, err)
	}
	if _, err := c.GetOrLoad(ctx, key, load, LoadOptions{Tracked: true, StaleTTL: time.Second, TTL: time.Second}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("Tracked with StaleTTL: %v, want ErrBadOptions", err)
	}
}

func init() {
	// tracked-reader reads k with Tracker.Get for each line on its stdin.
	childRoles["tracked-reader"] = func(c *Cache, _ string) error {
		fmt.Println("ready")
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			v, _, err := c.Tracker().Get(nil, []byte("k"))
			switch {
			case err == nil:
				fmt.Println("hit", string(v))
			case errors.Is(err, ErrNotInStep):
				fmt.Println("notinstep")
			default:
				fmt.Println("error", err)
			}
		}
		return in.Err()
	}
}

// namespaceOffset is how far (s) a time namespace's CLOCK_MONOTONIC can be
// set behind this one's (never below 0) or ahead, up to half an hour.
func namespaceOffset(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	off := min(1800, ts.Sec/2)
	if off < 5 {
		t.Fatalf("CLOCK_MONOTONIC reads %ds: too soon after boot for a namespace behind it", ts.Sec)
	}
	return off
}

// "In step" is one instant in every process that maps the region, whatever
// its time namespace: a reader whose CLOCK_MONOTONIC is half an hour
// behind the agent's must stop serving tracked copies when the agent's
// confirmation runs out, not half an hour later; one ahead must serve them
// until then.
func TestTrackedInStepAcrossTimeNamespaces(t *testing.T) {
	off := namespaceOffset(t)
	c := newCache(t, nil)
	if ok, err := c.Tracker().ClaimAgent(); !ok || err != nil {
		t.Fatalf("ClaimAgent: %v %v", ok, err)
	}
	if _, err := c.Tracker().InvalidateAll(); err != nil {
		t.Fatal(err)
	}
	inStep(t, c)
	trackFill(t, c, "k", "v")
	for _, off := range []int64{-off, off} {
		t.Run(fmt.Sprintf("monotonic%+ds", off), func(t *testing.T) {
			ch := startChild(t, "tracked-reader", c.Path(), "", testenv.TimeNamespace(t, off)...)
			if l := ch.line(); l != "ready" {
				ch.wait(t)
				t.Fatalf("child: %q", l)
			}
			read := func() string {
				fmt.Fprintln(ch.stdin, "read")
				return ch.line()
			}
			// The agent confirms for half a second more.
			if err := c.Tracker().SetInStep(0); err != nil {
				t.Fatal(err)
			}
			until := TrackClock() + int64(500*time.Millisecond)
			if err := c.Tracker().SetInStep(until); err != nil {
				t.Fatal(err)
			}
			if l := read(); l != "hit v" {
				t.Errorf("in step: the reader said %q, want a hit", l)
			}
			time.Sleep(time.Duration(until-TrackClock()) + 10*time.Millisecond)
			if _, _, err := c.Tracker().Get(nil, []byte("k")); !errors.Is(err, ErrNotInStep) {
				t.Fatalf("here, past the confirmation: %v, want ErrNotInStep", err)
			}
			if l := read(); l != "notinstep" {
				t.Errorf("past the confirmation: the reader said %q, want notinstep", l)
			}
			ch.stdin.Close()
			ch.wait(t)
		})
	}
}
