package lru

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
)

// Tests of reads without the lock (snapshot.go), the reference bits that
// stand in for a hit's LRU move (refs.go), and the read counters kept per
// process slot (counters.go).

// ownRow returns the bytes of the read counter row this attachment writes.
func ownRow(c *Cache) (start, end int) {
	start = c.g.readsOff + c.r.Slot()%c.g.rows*c.g.rowStride
	return start, start + c.g.rowStride
}

// A hit on an entry already marked writes nothing that another process
// reads: the whole data area, but for this attachment's own row of read
// counters, is byte for byte as it was. The first hit marks the entry (one
// atomic OR, once), and every hit is counted in the row.
func TestHitWritesNothingShared(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 2})
	for i := 0; i < 50; i++ {
		if err := c.Set([]byte(fmt.Sprint("k", i)), []byte("value"), 0); err != nil {
			t.Fatal(err)
		}
	}
	data := c.r.Data()
	rowStart, rowEnd := ownRow(c)
	before := bytes.Clone(data)
	if _, err := c.Get([]byte("k7")); err != nil {
		t.Fatal(err)
	}
	marked := bytes.Clone(data)
	changed := 0
	for i := range data {
		if (i < rowStart || i >= rowEnd) && marked[i] != before[i] {
			changed++
		}
	}
	if changed != 1 {
		t.Fatalf("the first hit changed %d bytes outside its counter row, want 1 (the reference bit)", changed)
	}
	for i := 0; i < 1000; i++ {
		if _, _, err := c.GetInto(nil, []byte("k7")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get([]byte("no such key")); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	after := data
	if !bytes.Equal(after[:rowStart], marked[:rowStart]) || !bytes.Equal(after[rowEnd:], marked[rowEnd:]) {
		t.Fatal("hits on a marked entry, or a miss, wrote outside this attachment's counter row")
	}
	if st, _ := c.Stats(); st.Hits != 1001 || st.Misses != 1 {
		t.Fatalf("Stats counts %d hits, %d misses; want 1001, 1", st.Hits, st.Misses)
	}
}

// The order LRU keeps: writes put entries at the head, reads only mark
// them, and eviction moves a marked tail entry to the head instead of
// evicting it. So the entry read since it was written survives the
// eviction that takes the entries written around it and never read.
func TestReadEntryGetsASecondChance(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1, MaxEntries: 8})
	key := func(i int) []byte { return []byte(fmt.Sprint("k", i)) }
	for i := 0; i < 8; i++ {
		must(t, c.Set(key(i), []byte("v"), 0))
	}
	if _, err := c.Get(key(0)); err != nil { // the oldest: first in line for eviction
		t.Fatal(err)
	}
	for i := 8; i < 12; i++ { // four evictions
		must(t, c.Set(key(i), []byte("v"), 0))
	}
	for i := 0; i < 12; i++ {
		_, _, _, err := c.Peek(nil, key(i))
		if want := i == 0 || i >= 5; (err == nil) != want {
			t.Errorf("k%d present %v, want %v (k0 read, so spared; k1..k4 evicted)", i, err == nil, want)
		}
	}
	// k0's second chance is spent: unread since, it is the next to go once
	// the entries before it in the queue have gone.
	st, _ := c.Stats()
	if st.Evictions != 4 {
		t.Fatalf("evictions %d, want 4", st.Evictions)
	}
	for i := 12; i < 16; i++ {
		must(t, c.Set(key(i), []byte("v"), 0))
	}
	if _, _, _, err := c.Peek(nil, key(0)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("k0 survived a second round without a read: %v", err)
	}
}

// A write clears the mark: an entry read, then written, is evicted in its
// turn like any other unread one.
func TestWriteClearsTheMark(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1, MaxEntries: 4})
	key := func(i int) []byte { return []byte(fmt.Sprint("k", i)) }
	for i := 0; i < 4; i++ {
		must(t, c.Set(key(i), []byte("v"), 0))
	}
	c.Get(key(0))
	must(t, c.Set(key(0), []byte("w"), 0)) // in place: back at the head, unmarked
	for i := 4; i < 8; i++ {
		must(t, c.Set(key(i), []byte("v"), 0))
	}
	if _, _, _, err := c.Peek(nil, key(0)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("k0 kept a mark through its write: %v", err)
	}
}

// A reader that takes no lock never uses what it copied while a change is
// under way: with a writer stopped (alive, in another process) after
// copying half its value, the unlocked read gives up, and once the writer
// is killed the locking path resets the shard: the half-written value is
// never returned.
func TestUnlockedReadGivesUpDuringAChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20, Shards: 1})
	must(t, c.Set([]byte("victim"), []byte("old value"), 0))
	k := startChild(t, "hook", path, "overwrite-copied:overwrite")
	if got := k.line(); got != "at overwrite-copied" {
		k.cmd.Process.Kill()
		k.cmd.Wait()
		t.Fatalf("child did not stop: %q\n%s", got, k.stderr)
	}
	s := c.shardFor(hashKey([]byte("victim")))
	if !s.dirty() {
		t.Fatal("the sequence is even while the child is mid-change")
	}
	if err := s.begin(); err != nil {
		t.Fatal(err)
	}
	_, _, _, _, ok := s.readUnlocked(nil, []byte("victim"), hashKey([]byte("victim")), ReadOptions{})
	var err error
	s.end(&err)
	if ok {
		t.Fatal("an unlocked read answered while a change was under way")
	}
	k.cmd.Process.Kill()
	k.cmd.Wait()
	if v, err := c.Get([]byte("victim")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the writer died mid-change: %q, %v; want the shard reset", v, err)
	}
	mustCheck(t, c)
}

// Every process counts its hits and misses in its own row, and Stats sums
// the rows, those of processes that have exited included.
func TestReadCountersSumOverProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20, Shards: 4})
	for i := 0; i < 20; i++ {
		must(t, c.Set([]byte(fmt.Sprint("k", i)), []byte("v"), 0))
	}
	const kids, gets = 3, 21 * 20
	for i := 0; i < kids; i++ {
		k := startChild(t, "getter", path, strconv.Itoa(gets))
		k.wait(t)
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// Each child reads k0..k19 and then one missing key, in turn: one
	// lookup in 21 misses.
	if want := uint64(kids * gets); st.Hits+st.Misses != want || st.Misses != want/21 {
		t.Fatalf("Stats: %d hits, %d misses; want %d lookups, %d of them misses", st.Hits, st.Misses, want, want/21)
	}
	var sum Counters
	for _, ss := range st.Shards {
		sum.add(&ss.Counters)
	}
	if sum.Hits != st.Hits || sum.Misses != st.Misses {
		t.Fatalf("shards sum to %d hits, %d misses; the cache says %d, %d", sum.Hits, sum.Misses, st.Hits, st.Misses)
	}
}

func init() {
	childRoles["getter"] = func(c *Cache, arg string) error {
		n, _ := strconv.Atoi(arg)
		for i := 0; i < n; i++ {
			k := []byte(fmt.Sprint("k", i%21)) // k20 was never set
			if _, err := c.Get(k); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		return nil
	}
}

// A small region has fewer counter rows than process slots, and slots then
// share rows: the counts stay exact (atomic adds).
func TestSmallRegionSharesCounterRows(t *testing.T) {
	c := newCache(t, &Options{Size: 128 << 10, Shards: 1})
	if c.g.rows >= c.r.Slots() || !c.sharedRows {
		t.Fatalf("%d rows for %d slots, shared %v: the test needs a region too small for a row per slot", c.g.rows, c.r.Slots(), c.sharedRows)
	}
	must(t, c.Set([]byte("k"), []byte("v"), 0))
	for i := 0; i < 100; i++ {
		c.Get([]byte("k"))
	}
	if st, _ := c.Stats(); st.Hits != 100 {
		t.Fatalf("hits %d, want 100", st.Hits)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// With more than 64 shards hits and misses are counted per group of
// shards: no shard is credited with another's reads (each reports none),
// and the cache's totals count every one. Before, shard 100's reads were
// reported as shard 36's.
func TestShardStatsOver64Shards(t *testing.T) {
	c := newCache(t, &Options{Size: 64 << 20, Shards: 128})
	for _, k := range keysInShard(c, 100, 10, "s100-") {
		must(t, c.Set(k, []byte("v"), 0))
		if _, err := c.Get(k); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Hits != 10 || st.Shards[100].Hits != 0 || st.Shards[36].Hits != 0 {
		t.Fatalf("hits: cache %d, shard 100 %d, shard 36 %d; want 10, 0, 0", st.Hits, st.Shards[100].Hits, st.Shards[36].Hits)
	}
}
