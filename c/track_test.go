package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
)

// Tracked reads and fills through the C ABI (test/track_driver.c, a C
// program on libshmlru.so) while this test plays the host's agent with
// lru on the same region, and reads and fills from Go too: the C calls and
// Go's Tracker.Get, BeginFill and StoreFill must be one protocol.
//
// What they cover: not in step; fills from C read by Go and from Go read
// by C; cached absences; an Invalidate between begin and store (refused);
// InvalidateAll (old copies missed, a fill begun before it refused, a new
// generation) (TestTrackedFillsThroughC); the tracked read stopped between
// its copy and its in-step check while the agent catches up, through a
// test hook in fast.c (TestTrackedReadIsOneInstant); shmlru_get_tracked
// against lru's tracked read for every kind of entry, counters included
// (TestTrackedReadNativeMatchesGo); the in-step instant read on one clock
// by a driver in a time namespace whose monotonic clock is behind or ahead
// (TestTrackedInStepAcrossTimeNamespaces), and by one without /proc, which
// never takes the cache for in step (TestTrackedWithoutProcIsNotInStep).

// startTrackDriver starts track_driver on region and waits for its
// "ready"; wrap, if given, is a command prefix (such as unshare).
func startTrackDriver(t *testing.T, region string, wrap ...string) *driver {
	t.Helper()
	bin := buildC(t, "test/track_driver.c")
	d := startDriver(t, append(append([]string{}, wrap...), bin, region)...)
	d.Await("ready")
	return d
}

func hexVal(s string) string {
	if s == "" {
		return "-"
	}
	return hex.EncodeToString([]byte(s))
}

func TestTrackedFillsThroughC(t *testing.T) {
	region := filepath.Join(t.TempDir(), "region")
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d := startTrackDriver(t, region)

	// No agent yet: not in step. The generation reads 0, and a fill is
	// refused before it begins, its guard zeroed.
	d.Expect("0 0", "gen")
	d.Expect(fmt.Sprintf("%d 0 0 0", statusNotInStep), "begin k")
	d.Expect(fmt.Sprintf("%d -1", statusBadArgument), "store k %s 0 0", hexVal("v"))
	d.Expect("notinstep", "read k")

	// The agent takes the role, drops whatever was tracked, and publishes
	// an hour in step.
	must(t, claim(c))
	gen, err := c.Tracker().InvalidateAll()
	must(t, err)
	d.Expect("0 0", "gen") // InvalidateAll leaves the cache not in step
	must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
	d.Expect(fmt.Sprintf("0 %d", gen), "gen")

	// A fill from C: stored with the generation as its flags, read by C
	// and by Go.
	if got := d.Ask("begin k"); !strings.HasPrefix(got, fmt.Sprintf("0 %d ", gen)) {
		t.Fatalf("begin k: %q", got)
	}
	d.Expect("0 1", "store k %s 0 60000", hexVal("from C"))
	d.Expect(fmt.Sprintf("0 %s %d 0", hexVal("from C"), gen), "get k")
	d.Expect("hit "+hexVal("from C"), "read k")
	v, m, err := c.Tracker().Get(nil, []byte("k"))
	if err != nil || string(v) != "from C" || m.Flags != gen || m.Type != lru.TypeBytes {
		t.Errorf("Go's Tracker.Get of C's fill: %q %+v %v", v, m, err)
	}

	// A fill from Go, read by C.
	g, err := c.Tracker().BeginFill([]byte("gk"))
	must(t, err)
	if ok, err := c.Tracker().StoreFill([]byte("gk"), []byte("from Go"), false, lru.WriteOptions{TTL: time.Minute}, g); !ok || err != nil {
		t.Fatalf("StoreFill: %v %v", ok, err)
	}
	d.Expect("hit "+hexVal("from Go"), "read gk")

	// A cached absence, both ways.
	d.Expect(fmt.Sprintf("0 %d", gen), "gen")
	if got := d.Ask("begin none"); !strings.HasPrefix(got, "0 ") {
		t.Fatalf("begin none: %q", got)
	}
	d.Expect(fmt.Sprintf("%d -1", statusBadValue), "store none %s 1 0", hexVal("x")) // an absence has no value
	d.Expect("0 1", "store none - 1 0")
	d.Expect(fmt.Sprintf("0 - %d %d", gen, lru.TypeNone), "get none")
	d.Expect("absent", "read none")
	if _, m, err := c.Tracker().Get(nil, []byte("none")); err != nil || m.Type != lru.TypeNone {
		t.Errorf("Go's Tracker.Get of C's absence: %+v %v", m, err)
	}
	g, err = c.Tracker().BeginFill([]byte("gnone"))
	must(t, err)
	if ok, err := c.Tracker().StoreFill([]byte("gnone"), nil, true, lru.WriteOptions{}, g); !ok || err != nil {
		t.Fatalf("StoreFill absent: %v %v", ok, err)
	}
	d.Expect("absent", "read gnone")

	// The key changes in the store between C's begin and store: the agent
	// invalidates it, and the fill keeps nothing (the race Redis calls
	// "caching in progress").
	if got := d.Ask("begin race"); !strings.HasPrefix(got, "0 ") {
		t.Fatalf("begin race: %q", got)
	}
	must(t, c.Tracker().Invalidate([]byte("race")))
	d.Expect("0 0", "store race %s 0 0", hexVal("old"))
	d.Expect(fmt.Sprint(statusNotFound), "get race")
	d.Expect("miss", "read race")
	if _, _, err := c.Tracker().Get(nil, []byte("race")); err != lru.ErrNotFound {
		t.Errorf("Go's Tracker.Get of a refused fill: %v", err)
	}
	// Go's fill is refused the same way, and C finds nothing either.
	g, err = c.Tracker().BeginFill([]byte("race"))
	must(t, err)
	must(t, c.Tracker().Invalidate([]byte("race")))
	if ok, err := c.Tracker().StoreFill([]byte("race"), []byte("old"), false, lru.WriteOptions{}, g); ok || err != nil {
		t.Errorf("Go's StoreFill after Invalidate: %v %v", ok, err)
	}
	d.Expect("miss", "read race")

	// The agent drops everything (its stream lost messages): every tracked
	// copy is from an older generation, a fill begun before is refused,
	// and once in step again the generation reads differently.
	if got := d.Ask("begin late"); !strings.HasPrefix(got, "0 ") {
		t.Fatalf("begin late: %q", got)
	}
	gen2, err := c.Tracker().InvalidateAll()
	must(t, err)
	if gen2 == gen {
		t.Fatalf("InvalidateAll kept generation %d", gen)
	}
	d.Expect("0 0", "gen")
	d.Expect("notinstep", "read k")
	d.Expect(fmt.Sprintf("%d 0 0 0", statusNotInStep), "begin k")
	must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
	d.Expect(fmt.Sprintf("0 %d", gen2), "gen")
	d.Expect("0 0", "store late %s 0 0", hexVal("from before"))
	d.Expect("miss", "read late")
	d.Expect("miss", "read k")  // flags gen, not gen2
	d.Expect("miss", "read gk") // Go's fill too
	if _, _, err := c.Tracker().Get(nil, []byte("k")); err != lru.ErrNotFound {
		t.Errorf("Go's Tracker.Get of an old generation's copy: %v", err)
	}

	// C and Go read one clock (lru.TrackClock): an instant a moment past
	// is out of step for C at once, one a little ahead is in step until it
	// passes. A clock of another origin would be decades off either way.
	must(t, c.Tracker().SetInStep(0))
	d.Expect("0 0", "gen")
	must(t, c.Tracker().SetInStep(lru.TrackClock()-int64(time.Millisecond)))
	d.Expect("0 0", "gen")
	must(t, c.Tracker().SetInStep(0))
	until := lru.TrackClock() + int64(time.Second)
	must(t, c.Tracker().SetInStep(until))
	d.Expect(fmt.Sprintf("0 %d", gen2), "gen")
	time.Sleep(time.Duration(until - lru.TrackClock() + int64(time.Millisecond)))
	d.Expect("0 0", "gen")

	s, err := c.Tracker().State()
	must(t, err)
	if s.Counters.Refused != 3 {
		t.Errorf("refused fills: %d, want 3 (two from C, one from Go)", s.Counters.Refused)
	}
	d.Close()
}

// The tracked read is one instant. The case: a tracked copy of k; the
// agent's confirmation has run out (its stream is late) and the store has
// changed k; the agent catches up, invalidating k and confirming again,
// while a reader is between reading the entry and checking that the cache
// is in step. Read as two calls (shmlru_get, then shmlru_tracked_gen), the
// old copy passes for current. shmlru_get_tracked, stopped at the same
// point (the native path has copied the entry and not yet checked), sees
// the shard's sequence moved, goes round again and misses.
func TestTrackedReadIsOneInstant(t *testing.T) {
	region := filepath.Join(t.TempDir(), "region")
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20})
	must(t, err)
	defer c.Close()
	d := startTrackDriver(t, region)
	must(t, claim(c))
	_, err = c.Tracker().InvalidateAll()
	must(t, err)
	key := []byte("k")
	inStep := func() { must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour))) }
	// lapsed leaves a tracked copy of k, and a confirmation run out.
	lapsed := func() {
		inStep()
		g, err := c.Tracker().BeginFill(key)
		must(t, err)
		if ok, err := c.Tracker().StoreFill(key, []byte("old"), false, lru.WriteOptions{}, g); !ok || err != nil {
			t.Fatalf("StoreFill: %v %v", ok, err)
		}
		must(t, c.Tracker().SetInStep(0))
		must(t, c.Tracker().SetInStep(lru.TrackClock()-1))
	}
	catchUp := func() {
		must(t, c.Tracker().Invalidate(key))
		inStep()
	}

	lapsed()
	d.Expect("at between", "oldread k")
	catchUp()
	d.Expect("hit "+hexVal("old"), "go") // served: why shmlru.h says not to read so

	lapsed()
	fallbacks := d.Ask("fallbacks")
	d.Expect("at tracked-copied", "iread k")
	catchUp()
	d.Expect("miss", "go")
	d.Expect(fallbacks, "fallbacks") // the native path answered, second round included

	// Nothing happens at the stop: not in step, as at that instant.
	lapsed()
	d.Expect("at tracked-copied", "iread k")
	d.Expect("notinstep", "go")
	// In step; the agent drops every tracked entry at the stop and
	// confirms again: the copy is of the generation before.
	lapsed()
	inStep()
	d.Expect("at tracked-copied", "iread k")
	_, err = c.Tracker().InvalidateAll()
	must(t, err)
	inStep()
	d.Expect("miss", "go")
	// In step; another key of k's shard is written at the stop: the read
	// goes round again and finds k as it is.
	lapsed()
	inStep()
	other := sameShard(t, c, key)
	d.Expect("at tracked-copied", "iread k")
	must(t, c.Set(other, []byte("x"), 0))
	d.Expect("hit "+hexVal("old"), "go")
	d.Expect(fallbacks, "fallbacks")
	d.Close()
}

// sameShard returns a key other than key in key's shard.
func sameShard(t *testing.T, c *lru.Cache, key []byte) []byte {
	for i := 0; i < 1<<16; i++ {
		k := []byte(fmt.Sprint("other", i))
		if c.Binding().ShardOf(k) == c.Binding().ShardOf(key) {
			return k
		}
	}
	t.Fatal("no other key in the shard")
	return nil
}

// shmlru_get_tracked (the native path, and Go where it leaves the call to
// Go) answers as lru's tracked read does, and counts the same, for every
// kind of entry a tracked key can hold.
func TestTrackedReadNativeMatchesGo(t *testing.T) {
	region := filepath.Join(t.TempDir(), "region")
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20})
	must(t, err)
	defer c.Close()
	d := startTrackDriver(t, region)
	must(t, claim(c))
	gen, err := c.Tracker().InvalidateAll()
	must(t, err)
	inStep := func() { must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour))) }
	fill := func(key, v string, absent bool, ttl time.Duration) {
		g, err := c.Tracker().BeginFill([]byte(key))
		must(t, err)
		if ok, err := c.Tracker().StoreFill([]byte(key), []byte(v), absent, lru.WriteOptions{TTL: ttl}, g); !ok || err != nil {
			t.Fatalf("StoreFill %s: %v %v", key, ok, err)
		}
	}
	goRead := func(key string, bufLen int) string {
		v, m, _, err := c.Read(make([]byte, 0, bufLen), []byte(key), lru.ReadOptions{Tracked: true, Absent: true, Fit: true})
		switch {
		case err == nil:
			return fmt.Sprintf("0 %s %d %d", hexVal(string(v)), m.Flags, m.Type)
		case errors.Is(err, lru.ErrBufferTooSmall):
			return fmt.Sprintf("%d %d", statusBufferTooSmall, m.Size)
		}
		return fmt.Sprint(codeOf(err))
	}
	reads := func() (uint64, uint64) {
		s, err := c.Stats()
		must(t, err)
		return s.Hits, s.Misses
	}
	compare := func(key string, bufLen int, want string) {
		t.Helper()
		h0, m0 := reads()
		got := d.Ask(fmt.Sprintf("tget %s %d", key, bufLen))
		h1, m1 := reads()
		fromGo := goRead(key, bufLen)
		h2, m2 := reads()
		if got != fromGo || got != want {
			t.Errorf("tget %s %d: C %q, Go %q, want %q", key, bufLen, got, fromGo, want)
		}
		if h1-h0 != h2-h1 || m1-m0 != m2-m1 {
			t.Errorf("tget %s %d: C counted %d hits %d misses, Go %d and %d", key, bufLen, h1-h0, m1-m0, h2-h1, m2-m1)
		}
	}

	notInStep := fmt.Sprint(statusNotInStep)
	compare("missing", 100, notInStep)
	inStep()
	fill("bytes", "value", false, 0)
	fill("none", "", true, time.Minute)
	fill("expiring", "e", false, time.Millisecond)
	_, err = c.Write([]byte("num"), lru.EncodeNumber(42), lru.WriteOptions{Type: lru.TypeNumber, Flags: gen})
	must(t, err)
	must(t, c.Set([]byte("plain"), []byte("p"), 0))
	fill("older", "o", false, 0)
	time.Sleep(5 * time.Millisecond) // "expiring" expires
	compare("bytes", 100, fmt.Sprintf("0 %s %d %d", hexVal("value"), gen, lru.TypeBytes))
	compare("bytes", 5, fmt.Sprintf("0 %s %d %d", hexVal("value"), gen, lru.TypeBytes))
	compare("bytes", 4, fmt.Sprintf("%d 5", statusBufferTooSmall))
	compare("bytes", 0, fmt.Sprintf("%d 5", statusBufferTooSmall))
	compare("none", 0, fmt.Sprintf("0 - %d %d", gen, lru.TypeNone))
	compare("num", 100, fmt.Sprintf("0 %s %d %d", hex.EncodeToString(lru.EncodeNumber(42)), gen, lru.TypeNumber))
	compare("plain", 100, fmt.Sprint(statusNotFound))
	compare("expiring", 100, fmt.Sprint(statusNotFound))
	compare("missing", 100, fmt.Sprint(statusNotFound))
	// A new generation: the copies of the one before are misses.
	gen2, err := c.Tracker().InvalidateAll()
	must(t, err)
	inStep()
	fill("newer", "n", false, 0)
	compare("older", 100, fmt.Sprint(statusNotFound))
	compare("newer", 100, fmt.Sprintf("0 %s %d %d", hexVal("n"), gen2, lru.TypeBytes))
	must(t, c.Tracker().SetInStep(0))
	compare("newer", 100, notInStep)
	d.Close()
}

// In step is one instant for C too (its tracked reads and the
// read-through's tracked look), whatever the reader's time namespace:
// a reader whose CLOCK_MONOTONIC is behind the agent's (half an hour, or
// half its reading if less) stops serving tracked copies when the agent's
// confirmation runs out, and one ahead serves them until then.
func TestTrackedInStepAcrossTimeNamespaces(t *testing.T) {
	var ts unix.Timespec
	must(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
	off := min(1800, ts.Sec/2)
	if off < 5 {
		t.Fatalf("CLOCK_MONOTONIC reads %ds: too soon after boot for a namespace behind it", ts.Sec)
	}
	region := filepath.Join(t.TempDir(), "region")
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20})
	must(t, err)
	defer c.Close()
	must(t, claim(c))
	gen, err := c.Tracker().InvalidateAll()
	must(t, err)
	must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
	g, err := c.Tracker().BeginFill([]byte("k"))
	must(t, err)
	if ok, err := c.Tracker().StoreFill([]byte("k"), []byte("v"), false, lru.WriteOptions{}, g); !ok || err != nil {
		t.Fatalf("StoreFill: %v %v", ok, err)
	}
	for _, off := range []int64{-off, off} {
		t.Run(fmt.Sprintf("monotonic%+ds", off), func(t *testing.T) {
			d := startTrackDriver(t, region, testenv.TimeNamespace(t, off)...)
			// The agent confirms for half a second more.
			must(t, c.Tracker().SetInStep(0))
			until := lru.TrackClock() + int64(500*time.Millisecond)
			must(t, c.Tracker().SetInStep(until))
			d.Expect(fmt.Sprintf("0 %d", gen), "gen")
			d.Expect("hit "+hexVal("v"), "read k")
			d.Expect("fresh "+hexVal("v"), "look k")
			time.Sleep(time.Duration(until-lru.TrackClock()) + 10*time.Millisecond)
			if _, _, err := c.Tracker().Get(nil, []byte("k")); !errors.Is(err, lru.ErrNotInStep) {
				t.Fatalf("here, past the confirmation: %v, want ErrNotInStep", err)
			}
			d.Expect("0 0", "gen")
			d.Expect("notinstep", "read k")
			d.Expect("notinstep", "look k")
			d.Close()
		})
	}
}

// A reader that cannot tell its time namespace's offset (here: no /proc)
// never takes the cache for in step: its tracked reads go to the store.
func TestTrackedWithoutProcIsNotInStep(t *testing.T) {
	testenv.NeedRoot(t, "unmount /proc in a mount namespace")
	testenv.Need(t, "unshare")
	region := filepath.Join(t.TempDir(), "region")
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20})
	must(t, err)
	defer c.Close()
	must(t, claim(c))
	_, err = c.Tracker().InvalidateAll()
	must(t, err)
	must(t, c.Tracker().SetInStep(lru.TrackClock()+int64(time.Hour)))
	g, err := c.Tracker().BeginFill([]byte("k"))
	must(t, err)
	if ok, err := c.Tracker().StoreFill([]byte("k"), []byte("v"), false, lru.WriteOptions{}, g); !ok || err != nil {
		t.Fatalf("StoreFill: %v %v", ok, err)
	}
	d := startTrackDriver(t, region, "unshare", "--mount", "--fork", "--kill-child", "sh", "-c", `umount -l /proc && exec "$0" "$@"`)
	d.Expect("0 0", "gen")
	d.Expect("notinstep", "read k")
	d.Expect(fmt.Sprintf("%d 0 0 0", statusNotInStep), "begin k")
	d.Close()
}

// claim takes the agent role, as the host's agent does first.
func claim(c *lru.Cache) error {
	ok, err := c.Tracker().ClaimAgent()
	if err == nil && !ok {
		err = fmt.Errorf("ClaimAgent: another attachment holds the role")
	}
	return err
}
