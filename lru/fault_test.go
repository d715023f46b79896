package lru

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A region file truncated underneath a live process must not kill it: the
// operation that touches the missing pages returns ErrCorrupt, and so does
// every later one, until the cache is reopened.
func TestTruncatedUnderneath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c := openAt(t, path, &Options{Size: 1 << 20})
	c.Set([]byte("k"), []byte("v"), 0)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get([]byte("k")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get on a truncated region: %v, want ErrCorrupt", err)
	}
	if err := c.Set([]byte("k"), []byte("v"), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Set after the fault: %v", err)
	}
	if _, err := c.Check(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check after the fault: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening finds an empty file and makes a new cache of it.
	c2 := openAt(t, path, &Options{Size: 1 << 20})
	if _, err := c2.Get([]byte("k")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reopened: %v", err)
	}
}

// Corruption found during an operation resets only that shard, reports
// ErrCorrupt once, and the cache goes on serving.
func TestCorruptionResetsShard(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 2})
	k := []byte("victim")
	c.Set(k, []byte("v"), 0)
	s := c.shardFor(hashKey(k))
	other := keysInShard(c, 1-s.idx, 5, "o")
	for _, o := range other {
		c.Set(o, []byte("v"), 0)
	}
	// Point the victim's bucket at a block index far out of range.
	s.buckets[uint32(hashKey(k))&uint32(c.g.nbuckets-1)] = 0xfffffff0
	if _, err := c.Get(k); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get through a corrupt bucket: %v", err)
	}
	if _, err := c.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the reset: %v", err)
	}
	for _, o := range other {
		if _, err := c.Get(o); err != nil {
			t.Fatalf("the other shard lost %q: %v", o, err)
		}
	}
	mustCheck(t, c)
}

// Check reports what it finds and changes nothing.
func TestCheckReportsCorruption(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	for i := 0; i < 50; i++ {
		c.Set([]byte{byte('a' + i%26), byte(i)}, make([]byte, 100), 0)
	}
	s := &c.shards[0]
	e := s.ent(s.h.Head)
	e.Prev = 7      // a broken back link
	s.h.FreeUnits++ // a count that disagrees
	before := *s.h
	ps, err := c.Check()
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, p := range ps {
		msgs = append(msgs, p.Msg)
	}
	if len(ps) < 2 {
		t.Fatalf("Check found %d problems: %q", len(ps), msgs)
	}
	if *s.h != before {
		t.Fatal("Check changed the shard")
	}
}

// A hostile entry count must not make a write loop for billions of
// evictions: the write fails with ErrCorrupt and the shard is reset.
func TestHostileEntryCountIsBounded(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	c.Set([]byte("a"), []byte("v"), 0)
	c.shards[0].h.Entries = 1<<32 - 1
	if err := c.Set([]byte("b"), []byte("v"), 0); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Set with a hostile entry count: %v", err)
	}
	if err := c.Set([]byte("b"), []byte("v"), 0); err != nil {
		t.Fatalf("after the reset: %v", err)
	}
	mustCheck(t, c)
}

// A panic in a Range callback reaches the caller, and leaves neither the
// process-local mutex nor the region lock held: a caller that recovers must
// not leave other processes waiting on a live owner forever.
func TestPanicInRangeReleasesLocks(t *testing.T) {
	// Not newCache: its deferred Close would wait forever on a mutex that
	// the bug this test is about left locked.
	c, err := Open(filepath.Join(t.TempDir(), "c"), &Options{Size: 1 << 20, Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.Set([]byte("k"), []byte("v"), 0)
	func() {
		defer func() {
			if p := recover(); p != "callback" {
				t.Fatalf("recovered %v, want the callback's panic", p)
			}
		}()
		c.Range(func([]byte, Meta, int) bool { panic("callback") }, false)
	}()
	s := &c.shards[0]
	if !s.mu.TryLock() {
		t.Fatal("the process-local mutex is still held")
	}
	s.mu.Unlock()
	if o, _ := c.r.LockOwner(&s.h.Lock); o.Held {
		t.Fatalf("the region lock is still held: %+v", o)
	}
	if _, err := c.Get([]byte("k")); err != nil {
		t.Fatal(err)
	}
	c.Close()
}
