package lru

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSetGetDelete(t *testing.T) {
	c := newCache(t, nil)
	if _, err := c.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if err := c.Set([]byte("a"), []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get([]byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	if err := c.Set([]byte("a"), []byte("two"), 0); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Get([]byte("a")); string(v) != "two" {
		t.Fatalf("after overwrite Get = %q", v)
	}
	if ok, err := c.Delete([]byte("a")); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if ok, _ := c.Delete([]byte("a")); ok {
		t.Fatal("second Delete reported a deletion")
	}
	if _, err := c.Get([]byte("a")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if n, _ := c.Len(); n != 0 {
		t.Fatalf("Len = %d after delete", n)
	}
	mustCheck(t, c)
}

func TestEmptyValueIsNotMissing(t *testing.T) {
	c := newCache(t, nil)
	c.Set([]byte("e"), nil, 0)
	v, err := c.Get([]byte("e"))
	if err != nil || v == nil || len(v) != 0 {
		t.Fatalf("Get of an empty value = %v, %v; want empty non-nil", v, err)
	}
}

func TestValuesSpanningBlocks(t *testing.T) {
	c := newCache(t, nil)
	for _, n := range []int{0, 1, 15, 16, 17, 60, 64, 200, 4096, 100000} {
		for _, kl := range []int{1, 16, 17, 100, 5000} {
			key := bytes.Repeat([]byte{'k'}, kl)
			key[0] = byte(n)
			val := make([]byte, n)
			for i := range val {
				val[i] = byte(i * 7)
			}
			if err := c.Set(key, val, 0); err != nil {
				t.Fatal(n, kl, err)
			}
			got, err := c.Get(key)
			if err != nil || !bytes.Equal(got, val) {
				t.Fatalf("value of %d bytes under a %d-byte key: got %d bytes, %v", n, kl, len(got), err)
			}
		}
	}
	mustCheck(t, c)
}

func TestGetIntoAppends(t *testing.T) {
	c := newCache(t, nil)
	c.Write([]byte("k"), []byte("value"), WriteOptions{Flags: 42})
	dst := []byte("prefix:")
	got, m, err := c.GetInto(dst, []byte("k"))
	if err != nil || string(got) != "prefix:value" || m.Flags != 42 || m.Type != TypeBytes || m.Version == 0 {
		t.Fatalf("GetInto = %q, %+v, %v", got, m, err)
	}
	got, _, err = c.GetInto(dst, []byte("missing"))
	if !errors.Is(err, ErrNotFound) || string(got) != "prefix:" {
		t.Fatalf("GetInto of a miss = %q, %v; want dst unchanged", got, err)
	}
}

func TestGetIntoDoesNotAllocate(t *testing.T) {
	c := newCache(t, nil)
	key, val := []byte("key"), bytes.Repeat([]byte("v"), 300)
	c.Set(key, val, 0)
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, err := c.GetInto(buf[:0], key); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("GetInto allocates %v times per call", allocs)
	}
}

func TestKeyAndValueLimits(t *testing.T) {
	c := newCache(t, nil)
	g := c.Geometry()
	c.Set([]byte("keep"), []byte("me"), 0)
	cases := []struct {
		key, val []byte
		want     error
	}{
		{nil, []byte("x"), ErrEmptyKey},
		{[]byte{}, []byte("x"), ErrEmptyKey},
		{make([]byte, g.MaxKey+1), []byte("x"), ErrKeyTooLarge},
		{[]byte("big"), make([]byte, g.MaxValue+1), ErrValueTooLarge},
	}
	for _, tc := range cases {
		if err := c.Set(tc.key, tc.val, 0); !errors.Is(err, tc.want) {
			t.Errorf("Set(%d-byte key, %d-byte value) = %v, want %v", len(tc.key), len(tc.val), err, tc.want)
		}
	}
	if err := c.Set(make([]byte, g.MaxKey), make([]byte, g.MaxValue), 0); err != nil {
		t.Errorf("Set at both limits: %v", err)
	}
	if _, err := c.Get(nil); !errors.Is(err, ErrEmptyKey) {
		t.Errorf("Get(nil) = %v", err)
	}
	err := c.Set([]byte("big"), make([]byte, g.MaxValue+1), 0)
	if !strings.Contains(err.Error(), fmt.Sprint(g.MaxValue)) {
		t.Errorf("the error should name the limit: %v", err)
	}
	// Nothing the cache held was lost to the rejected calls, except what
	// the legitimate max-size write evicted.
	if _, err := c.Get(make([]byte, g.MaxKey)); err != nil {
		t.Errorf("max-size entry: %v", err)
	}
	mustCheck(t, c)
}

func TestRejectedWriteChangesNothing(t *testing.T) {
	c := newCache(t, nil)
	c.Set([]byte("k"), []byte("v"), 0)
	before, _ := c.Stats()
	c.Write([]byte("k"), []byte("not a number"), WriteOptions{Type: TypeNumber})
	c.Write([]byte("k"), []byte{7}, WriteOptions{Type: TypeBool})
	c.Write([]byte("k"), []byte("x"), WriteOptions{Type: Type(9)})
	c.Add([]byte("k"), []byte("other"), 0)
	if v, _ := c.Get([]byte("k")); string(v) != "v" {
		t.Fatalf("value changed by rejected writes: %q", v)
	}
	after, _ := c.Stats()
	if after.Sets != before.Sets {
		t.Fatalf("rejected writes counted as sets: %d -> %d", before.Sets, after.Sets)
	}
}

func TestAddReplaceCAS(t *testing.T) {
	c := newCache(t, nil)
	k := []byte("k")
	if err := c.Replace(k, []byte("x"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Replace of a missing key: %v", err)
	}
	if err := c.Add(k, []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(k, []byte("2"), 0); !errors.Is(err, ErrExists) {
		t.Fatalf("Add over a live key: %v", err)
	}
	if err := c.Replace(k, []byte("3"), 0); err != nil {
		t.Fatal(err)
	}
	_, m, _ := c.GetInto(nil, k)
	nv, err := c.CompareAndSwap(k, m.Version, []byte("4"), 0)
	if err != nil || nv == m.Version {
		t.Fatalf("CAS with the current version: %v, %v", nv, err)
	}
	if _, err := c.CompareAndSwap(k, m.Version, []byte("5"), 0); !errors.Is(err, ErrVersionMismatch) {
		t.Fatalf("CAS with a stale version: %v", err)
	}
	if v, _ := c.Get(k); string(v) != "4" {
		t.Fatalf("value after CAS = %q", v)
	}
	if _, err := c.CompareAndSwap([]byte("nope"), 1, []byte("x"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CAS of a missing key: %v", err)
	}
	// Versions do not repeat after a delete and re-add.
	c.Delete(k)
	c.Add(k, []byte("again"), 0)
	if _, m2, _ := c.GetInto(nil, k); m2.Version <= nv {
		t.Fatalf("version after re-add %d, not above %d", m2.Version, nv)
	}
}

func TestTTLExpiry(t *testing.T) {
	c := newCache(t, nil)
	k := []byte("k")
	c.Set(k, []byte("v"), time.Hour)
	ttl, err := c.TTL(k)
	if err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL = %v, %v", ttl, err)
	}
	c.Set([]byte("forever"), []byte("v"), 0)
	if ttl, err := c.TTL([]byte("forever")); ttl != 0 || err != nil {
		t.Fatalf("TTL of a non-expiring entry = %v, %v", ttl, err)
	}
	// Expire in the past: make the entry expired without waiting.
	expireNow(t, c, k)
	if _, err := c.Get(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of an expired entry: %v", err)
	}
	v, _, stale, err := c.GetStale(nil, k)
	if err != nil || !stale || string(v) != "v" {
		t.Fatalf("GetStale = %q, stale %v, %v", v, stale, err)
	}
	// Still stored: its (negative) time left, as ngx.shared.DICT's ttl.
	if ttl, err := c.TTL(k); err != nil || ttl >= 0 {
		t.Fatalf("TTL of an expired entry = %v, %v; want a negative TTL", ttl, err)
	}
	if err := c.Expire(k, time.Hour); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Expire of an expired entry: %v", err)
	}
	if err := c.Replace(k, []byte("x"), 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Replace of an expired entry: %v", err)
	}
	if err := c.Add(k, []byte("new"), 0); err != nil {
		t.Fatalf("Add over an expired entry: %v", err)
	}
	if v, _ := c.Get(k); string(v) != "new" {
		t.Fatalf("after Add over expired: %q", v)
	}
	if err := c.Expire(k, 0); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := c.TTL(k); ttl != 0 {
		t.Fatalf("Expire(0) left TTL %v", ttl)
	}
	c.Delete(k)
	if _, err := c.TTL(k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("TTL of a deleted entry: %v", err)
	}
}

// ttlLeft's rule at and around a deadline: 0 only for no deadline, -1 ms
// (not 0) at the deadline's millisecond.
func TestTTLLeft(t *testing.T) {
	for _, c := range []struct{ expires, now, want int64 }{
		{0, 1000, 0}, {1001, 1000, 1}, {1000, 1000, -1}, {999, 1000, -1}, {990, 1000, -10},
	} {
		if got := ttlLeft(c.expires, c.now); got != c.want {
			t.Errorf("ttlLeft(%d, %d) = %d, want %d", c.expires, c.now, got, c.want)
		}
	}
}

// expireNow moves the entry's deadline into the past through the region,
// the way time passing would.
func expireNow(t *testing.T, c *Cache, key []byte) {
	t.Helper()
	h := hashKey(key)
	s := c.shardFor(h)
	if err := s.withLock(lockChange, func() error {
		i, _ := s.find(key, h)
		if i == 0 {
			return fmt.Errorf("expireNow: %q not found", key)
		}
		s.setExpires(s.ent(i), nowMillis()-1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestFlushExpiredAndFlush(t *testing.T) {
	c := newCache(t, nil)
	for i := 0; i < 10; i++ {
		k := []byte(fmt.Sprint("k", i))
		c.Set(k, []byte("v"), time.Hour)
		if i%2 == 0 {
			expireNow(t, c, k)
		}
	}
	if n, err := c.FlushExpired(2); n != 2 || err != nil {
		t.Fatalf("FlushExpired(2) = %d, %v", n, err)
	}
	if n, _ := c.FlushExpired(0); n != 3 {
		t.Fatalf("FlushExpired(0) = %d, want the 3 left", n)
	}
	if n, _ := c.Len(); n != 5 {
		t.Fatalf("Len = %d", n)
	}
	st, _ := c.Stats()
	if st.Expirations != 5 {
		t.Fatalf("Expirations = %d", st.Expirations)
	}
	free0, _ := c.FreeSpace()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Len(); n != 0 {
		t.Fatalf("Len after Flush = %d", n)
	}
	if free1, _ := c.FreeSpace(); free1 <= free0 {
		t.Fatalf("Flush freed nothing: %d -> %d", free0, free1)
	}
	mustCheck(t, c)
}

func TestIncr(t *testing.T) {
	c := newCache(t, nil)
	k := []byte("n")
	if _, err := c.Incr(k, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Incr of a missing key: %v", err)
	}
	v, _, err := c.IncrInit(k, 2, 10, time.Hour)
	if err != nil || v != 12 {
		t.Fatalf("IncrInit = %v, %v", v, err)
	}
	if v, err := c.Incr(k, -0.5); err != nil || v != 11.5 {
		t.Fatalf("Incr = %v, %v", v, err)
	}
	if ttl, _ := c.TTL(k); ttl <= 0 {
		t.Fatalf("Incr dropped the init TTL: %v", ttl)
	}
	b, m, _ := c.GetInto(nil, k)
	if f, ok := DecodeNumber(b); !ok || f != 11.5 || m.Type != TypeNumber {
		t.Fatalf("stored number = %v %v %v", f, ok, m.Type)
	}
	c.Set([]byte("s"), []byte("text"), 0)
	if _, err := c.Incr([]byte("s"), 1); !errors.Is(err, ErrNotNumber) {
		t.Fatalf("Incr of a string: %v", err)
	}
	// An expired number is replaced by init+delta, as ngx.shared.DICT does.
	expireNow(t, c, k)
	if v, _, _ := c.IncrInit(k, 1, 100, 0); v != 101 {
		t.Fatalf("IncrInit over expired = %v", v)
	}
	// A number under a long key: still updated.
	long := bytes.Repeat([]byte("L"), 700)
	c.IncrInit(long, 1, 0, 0)
	if v, _ := c.Incr(long, 1); v != 2 {
		t.Fatalf("Incr under a long key = %v", v)
	}
	mustCheck(t, c)
}

func TestTypedValuesAndFlags(t *testing.T) {
	c := newCache(t, nil)
	c.Write([]byte("n"), EncodeNumber(3.25), WriteOptions{Type: TypeNumber, Flags: 7})
	c.Write([]byte("b"), EncodeBool(true), WriteOptions{Type: TypeBool})
	v, m, _ := c.GetInto(nil, []byte("n"))
	if f, _ := DecodeNumber(v); f != 3.25 || m.Type != TypeNumber || m.Flags != 7 {
		t.Fatalf("number: %v %+v", f, m)
	}
	v, m, _ = c.GetInto(nil, []byte("b"))
	if b, ok := DecodeBool(v); !b || !ok || m.Type != TypeBool {
		t.Fatalf("bool: %v %+v", b, m)
	}
}

func TestNoEvictKeepsOldValue(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	g := c.Geometry()
	big := make([]byte, g.MaxValue)
	// Fill the shard with live entries.
	for i := 0; ; i++ {
		r, err := c.Write([]byte(fmt.Sprint("fill", i)), make([]byte, 1000), WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Forcible {
			break
		}
	}
	c.Set([]byte("k"), []byte("old"), 0)
	if _, err := c.Write([]byte("k"), big, WriteOptions{NoEvict: true}); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("NoEvict write into a full cache: %v", err)
	}
	if v, _ := c.Get([]byte("k")); string(v) != "old" {
		t.Fatalf("a refused NoEvict write lost the old value: %q", v)
	}
	if r, err := c.Write([]byte("k"), big, WriteOptions{}); err != nil || !r.Forcible {
		t.Fatalf("evicting write: %+v, %v", r, err)
	}
	mustCheck(t, c)
}

// ngx.shared.DICT fails this sequence on an empty zone ("no memory") because
// its slab allocator fragments; a write here never fails for want of a
// contiguous run.
func TestNoFragmentation(t *testing.T) {
	c := newCache(t, &Options{Size: 8 << 20, Shards: 1, MaxValueSize: 2 << 20})
	mb, kb := make([]byte, 1<<20), make([]byte, 100<<10)
	for i, step := range []struct {
		key string
		val []byte
	}{{"a", mb}, {"b", kb}, {"a", mb}, {"c", mb}, {"d", kb}, {"c", mb}} {
		if err := c.Set([]byte(step.key), step.val, 0); err != nil {
			t.Fatalf("step %d: Set(%s, %d bytes): %v", i, step.key, len(step.val), err)
		}
	}
	// And the same with the cache full of small entries in between.
	for i := 0; i < 20000; i++ {
		c.Set([]byte(fmt.Sprint("small", i)), make([]byte, 90), 0)
		if i%1000 == 0 {
			if err := c.Set([]byte("big"), mb, 0); err != nil {
				t.Fatalf("1 MB write among small ones: %v", err)
			}
		}
	}
	mustCheck(t, c)
}

func TestExactLRUEviction(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1, MaxEntries: 100})
	max := c.Geometry().MaxEntries
	for i := 0; i < max; i++ {
		c.Set([]byte(fmt.Sprint(i)), []byte("v"), 0)
	}
	c.Get([]byte("0")) // 0 becomes most recent; 1 is now the LRU tail
	c.Set([]byte("new"), []byte("v"), 0)
	if _, err := c.Get([]byte("1")); !errors.Is(err, ErrNotFound) {
		t.Fatal("the least recently used entry was not the one evicted")
	}
	if _, err := c.Get([]byte("0")); err != nil {
		t.Fatal("a recently read entry was evicted")
	}
	st, _ := c.Stats()
	if st.Evictions != 1 {
		t.Fatalf("Evictions = %d", st.Evictions)
	}
}

func TestExpiredGoBeforeLive(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1, MaxEntries: 10})
	n := c.Geometry().MaxEntries
	for i := 0; i < n; i++ {
		c.Set([]byte(fmt.Sprint(i)), []byte("v"), time.Hour)
	}
	expireNow(t, c, []byte("3")) // not the tail, but within the scan window
	c.Set([]byte("new"), []byte("v"), 0)
	if _, err := c.Get([]byte("0")); err != nil {
		t.Fatal("a live tail entry was evicted while an expired one was there")
	}
	st, _ := c.Stats()
	if st.Expirations != 1 || st.Evictions != 0 {
		t.Fatalf("expirations %d evictions %d", st.Expirations, st.Evictions)
	}
}

func TestKeysAndRange(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	for _, k := range []string{"a", "b", "c"} {
		c.Set([]byte(k), []byte("v"+k), 0)
	}
	c.Set([]byte("x"), []byte("v"), time.Hour)
	expireNow(t, c, []byte("x"))
	c.Get([]byte("a")) // a read marks "a" and leaves the order as it is
	c.Set([]byte("b"), []byte("vb"), 0)
	keys, err := c.Keys(0)
	if err != nil || fmt.Sprintf("%s", keys) != "[b c a]" {
		t.Fatalf("Keys = %s, %v (want most recently written first, expired left out)", keys, err)
	}
	if keys, _ := c.Keys(2); len(keys) != 2 {
		t.Fatalf("Keys(2) returned %d", len(keys))
	}
	before, _ := c.Stats()
	var all []string
	c.Range(func(k []byte, m Meta, size int) bool {
		all = append(all, fmt.Sprintf("%s:%d", k, size))
		return true
	}, true)
	if fmt.Sprint(all) != "[b:2 x:1 c:2 a:2]" {
		t.Fatalf("Range = %v", all)
	}
	if after, _ := c.Stats(); after.Counters != before.Counters {
		t.Fatal("Range changed the counters")
	}
}

func TestStatsCountEvents(t *testing.T) {
	c := newCache(t, nil)
	c.Set([]byte("a"), []byte("1"), 0)
	c.Get([]byte("a"))
	c.Get([]byte("b"))
	c.Delete([]byte("a"))
	c.Peek(nil, []byte("a"))
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Counters{Hits: 1, Misses: 1, Sets: 1, Deletes: 1}
	if st.Counters != want {
		t.Fatalf("counters %+v, want %+v", st.Counters, want)
	}
	if st.HitRatio() != 0.5 {
		t.Fatalf("hit ratio %v", st.HitRatio())
	}
}

func TestLists(t *testing.T) {
	c := newCache(t, nil)
	k := []byte("q")
	if n, err := c.LLen(k); n != 0 || err != nil {
		t.Fatalf("LLen of a missing list = %d, %v", n, err)
	}
	c.RPush(k, []byte("b"), TypeBytes)
	c.LPush(k, []byte("a"), TypeBytes)
	if n, err := c.RPush(k, EncodeNumber(3), TypeNumber); n != 3 || err != nil {
		t.Fatalf("RPush = %d, %v", n, err)
	}
	v, typ, err := c.LPop(nil, k)
	if string(v) != "a" || typ != TypeBytes || err != nil {
		t.Fatalf("LPop = %q %v %v", v, typ, err)
	}
	v, typ, _ = c.RPop(nil, k)
	if f, _ := DecodeNumber(v); f != 3 || typ != TypeNumber {
		t.Fatalf("RPop = %v %v", f, typ)
	}
	c.RPop(nil, k)
	if _, _, err := c.LPop(nil, k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pop of an emptied list: %v", err)
	}
	if n, _ := c.Len(); n != 0 {
		t.Fatal("an emptied list was not removed")
	}
	c.Set([]byte("s"), []byte("x"), 0)
	if _, err := c.LPush([]byte("s"), []byte("y"), TypeBytes); !errors.Is(err, ErrNotList) {
		t.Fatalf("LPush onto a string: %v", err)
	}
	if _, err := c.LLen([]byte("s")); !errors.Is(err, ErrNotList) {
		t.Fatalf("LLen of a string: %v", err)
	}
	if _, err := c.LPush(k, []byte("y"), TypeBool); !errors.Is(err, ErrBadValue) {
		t.Fatalf("LPush of a bool: %v", err)
	}
	mustCheck(t, c)
}

func TestClosedCache(t *testing.T) {
	c := newCache(t, nil)
	c.Close()
	if _, err := c.Get([]byte("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := c.Set([]byte("a"), nil, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v", err)
	}
	if _, err := c.Check(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Check after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestReopenSeesData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c1, err := Open(path, &Options{Size: 2 << 20, Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	c1.Set([]byte("k"), []byte("v"), 0)
	c1.Close()
	c2, err := Open(path, nil) // adopts the existing geometry
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.Created() || c2.Geometry().Shards != 2 {
		t.Fatalf("reopen: created %v, shards %d", c2.Created(), c2.Geometry().Shards)
	}
	if v, _ := c2.Get([]byte("k")); string(v) != "v" {
		t.Fatalf("reopened cache lost data: %q", v)
	}
	if _, err := Open(path, &Options{Size: 2 << 20, Shards: 4, Exact: true}); !errors.Is(err, ErrGeometry) {
		t.Fatalf("Exact with other shards: %v", err)
	}
	if _, err := Open(path, &Options{Size: 4 << 20, Exact: true}); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("Exact with another size: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []Options{
		{Size: -1},
		{Size: 1 << 20, Shards: 3},
		{Size: 1 << 20, MaxEntries: 1 << 30},
		{Size: 1 << 20, MaxValueSize: 1 << 30},
		{Size: 64 << 10, Shards: 64},
		{Size: 1 << 20, MaxEntries: -1},
		{Size: 1 << 20, MaxValueSize: -1},
		{Size: 1 << 20, Shards: -2},
	} {
		if _, err := Open(filepath.Join(dir, "x"), &o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Open(%+v) = %v, want ErrBadOptions", o, err)
		}
	}
}

func TestReadFitChangesNothingWhenTooSmall(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	c.Set([]byte("a"), []byte("0123456789"), 0)
	c.Set([]byte("b"), []byte("x"), 0) // b is now at the head
	before, _ := c.Stats()
	buf := make([]byte, 0, 4)
	_, m, _, err := c.Read(buf, []byte("a"), ReadOptions{Fit: true})
	if !errors.Is(err, ErrBufferTooSmall) || m.Size != 10 {
		t.Fatalf("Read into 4 bytes: %v, size %d", err, m.Size)
	}
	after, _ := c.Stats()
	keys, _ := c.Keys(0)
	if after.Counters != before.Counters || string(keys[0]) != "b" {
		t.Fatalf("a read that did not fit changed the cache: %+v, order %s", after.Counters, keys)
	}
	v, _, _, err := c.Read(make([]byte, 0, 10), []byte("a"), ReadOptions{Fit: true})
	if err != nil || string(v) != "0123456789" {
		t.Fatalf("retry: %q %v", v, err)
	}
	if st, _ := c.Stats(); st.Hits != before.Hits+1 {
		t.Fatalf("hits %d, want %d", st.Hits, before.Hits+1)
	}
}

func TestPopFitLeavesItem(t *testing.T) {
	c := newCache(t, nil)
	k := []byte("q")
	c.RPush(k, []byte("a long item"), TypeBytes)
	_, _, size, err := c.Binding().Pop(make([]byte, 0, 3), k, true, true)
	if !errors.Is(err, ErrBufferTooSmall) || size != 11 {
		t.Fatalf("Pop into 3 bytes: %v, size %d", err, size)
	}
	if n, _ := c.LLen(k); n != 1 {
		t.Fatalf("the item that did not fit was removed: len %d", n)
	}
	v, _, _, err := c.Binding().Pop(make([]byte, 0, 11), k, true, true)
	if err != nil || string(v) != "a long item" {
		t.Fatalf("retry: %q %v", v, err)
	}
}

// Keys and values that end exactly at a unit boundary, and one byte on
// either side, written over and over (shrinking and growing in place and
// not): the storage arithmetic must never step past an entry's end.
func TestEntriesFillingUnitsExactly(t *testing.T) {
	c := newCache(t, &Options{Size: 1 << 20, Shards: 1})
	for _, kl := range []int{15, 16, 17, 48, 63, 64, 65} {
		key := bytes.Repeat([]byte{'k'}, kl)
		for _, n := range []int{0, 0, 1, 15, 16, 17, 15, 0, 200, 31, 32, 33} {
			v := bytes.Repeat([]byte{byte(n)}, n)
			if _, err := c.Write(key, v, WriteOptions{Flags: uint32(n % 2)}); err != nil {
				t.Fatalf("Set(%d-byte key, %d-byte value): %v", kl, len(v), err)
			}
			got, m, err := c.GetInto(nil, key)
			if err != nil || !bytes.Equal(got, v) || m.Flags != uint32(n%2) {
				t.Fatalf("Get(%d-byte key) = %q %+v, %v", kl, got, m, err)
			}
			mustCheck(t, c)
		}
	}
	if st, _ := c.Stats(); st.Resets != 0 {
		t.Fatalf("%d shard resets", st.Resets)
	}
}
