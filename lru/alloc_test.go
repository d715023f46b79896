package lru

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// fillShard fills a one-shard cache with n-byte values under keys
// "f0", "f1", ... until a write first evicts, and returns how many it
// holds then.
func fillShard(t *testing.T, c *Cache, n int) int {
	t.Helper()
	for i := 0; ; i++ {
		r, err := c.Write([]byte(fmt.Sprint("f", i)), bytes.Repeat([]byte{byte(i)}, n), WriteOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Forcible {
			held, _ := c.Len()
			return held
		}
	}
}

// stats returns the cache's counters and fill, failing the test on error.
func stats(t *testing.T, c *Cache) Stats {
	t.Helper()
	st, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A set into a full shard evicts what it needs and at most one entry more:
// a value the size of k entries evicts k or k+1 of them.
func TestEvictionBound(t *testing.T) {
	c := newCache(t, &Options{Size: 4 << 20, Shards: 1})
	fillShard(t, c, 100)
	entry := unitsFor(len("f1000"), 100, false) * unitSize // the bytes one filler entry takes
	for _, size := range []int{100, 1000, 10000, 100000, c.Geometry().MaxValue} {
		before := stats(t, c)
		if err := c.Set([]byte("big"), make([]byte, size), 0); err != nil {
			t.Fatal(err)
		}
		after := stats(t, c)
		evicted := int(after.Evictions - before.Evictions)
		// Room the old "big" freed counts; the new one needs its own units.
		need := unitsFor(3, size, false)*unitSize - int(before.FreeBytes)
		want := (need + entry - 1) / entry
		if evicted > max(want, 0)+1 {
			t.Errorf("a %d-byte value evicted %d entries of %d bytes; it needed %d", size, evicted, entry, want)
		}
		mustCheck(t, c)
	}
}

// A shard with enough free space in small holes takes a large value as a
// chain without evicting anything, reads it back whole, and frees the
// pieces into the holes they came from.
func TestChainInFragmentedShard(t *testing.T) {
	c := newCache(t, &Options{Size: 4 << 20, Shards: 1})
	held := fillShard(t, c, 200)
	// Delete every other filler: holes of one entry each, between live
	// entries, so that no free run is longer than one entry.
	for i := 0; i < held+1; i += 2 {
		c.Delete([]byte(fmt.Sprint("f", i)))
	}
	st := stats(t, c)
	big := make([]byte, min(int(st.FreeBytes)/2, c.Geometry().MaxValue))
	for i := range big {
		big[i] = byte(i * 7)
	}
	r, err := c.Write([]byte("big"), big, WriteOptions{Flags: 9})
	if err != nil || r.Forcible {
		t.Fatalf("a %d-byte value into %d free bytes in holes: %+v, %v", len(big), st.FreeBytes, r, err)
	}
	after := stats(t, c)
	if after.Evictions != st.Evictions || after.Chained != 1 {
		t.Fatalf("evictions %d -> %d, chained %d: want no eviction and one chain", st.Evictions, after.Evictions, after.Chained)
	}
	v, m, err := c.GetInto(nil, []byte("big"))
	if err != nil || !bytes.Equal(v, big) || m.Flags != 9 {
		t.Fatalf("the chained value read back wrong: %d bytes, %+v, %v", len(v), m, err)
	}
	mustCheck(t, c)
	// Rewrite it smaller (no longer a chain), then delete it: the holes
	// are back.
	if err := c.Set([]byte("big"), []byte("small"), 0); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, c); st.Chained != 0 {
		t.Fatalf("chained %d after a small rewrite", st.Chained)
	}
	c.Delete([]byte("big"))
	if end := stats(t, c); end.FreeBytes != st.FreeBytes || end.Shards[0].FreeRuns != st.Shards[0].FreeRuns {
		t.Fatalf("free %d bytes in %d runs, want %d in %d", end.FreeBytes, end.Shards[0].FreeRuns, st.FreeBytes, st.Shards[0].FreeRuns)
	}
	mustCheck(t, c)
}

// Values of every size from 1 byte to the limit, under random keys: no
// write ever fails, and every read returns the last value written or
// nothing.
func TestMixedSizesNeverFail(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			c := newCache(t, &Options{Size: 2 << 20, Shards: 1 << (seed - 1)})
			max := c.Geometry().MaxValue
			rng := rand.New(rand.NewPCG(seed, 99))
			last := map[string][]byte{}
			chains := 0
			for step := 0; step < 6000; step++ {
				k := fmt.Sprint("k", rng.IntN(400))
				// Log-uniform sizes: as many tiny values as huge ones.
				n := min(max, int(math.Exp2(rng.Float64()*math.Log2(float64(max)))))
				if rng.IntN(10) == 0 {
					n = max
				}
				v := make([]byte, n)
				for i := 0; i < n; i += 61 {
					v[i] = byte(rng.Uint32())
				}
				var err error
				switch rng.IntN(10) {
				case 0:
					_, err = c.Delete([]byte(k))
					delete(last, k)
				case 1, 2:
					got, gerr := c.Get([]byte(k))
					if want, ok := last[k]; gerr == nil && (!ok || !bytes.Equal(got, want)) {
						t.Fatalf("step %d: %s read %d bytes, last written %d (%v)", step, k, len(got), len(want), ok)
					}
				default:
					_, err = c.Write([]byte(k), v, WriteOptions{Flags: uint32(n & 1)})
					last[k] = v
				}
				if err != nil {
					t.Fatalf("step %d: %d-byte value: %v", step, n, err)
				}
				if st := stats(t, c); st.Chained > 0 {
					chains++
				}
				if step%500 == 0 {
					mustCheck(t, c)
				}
			}
			mustCheck(t, c)
			if chains == 0 {
				t.Fatal("no value was ever stored as a chain: the test exercised too little")
			}
		})
	}
}

// NoEvict decides before it changes anything: a value the holes can take
// is stored (as a chain) with nothing evicted; one they cannot is refused
// and the old value survives.
func TestNoEvictInFragmentedShard(t *testing.T) {
	c := newCache(t, &Options{Size: 4 << 20, Shards: 1, MaxValueSize: 3 << 20})
	held := fillShard(t, c, 200)
	for i := 0; i < held+1; i += 2 {
		c.Delete([]byte(fmt.Sprint("f", i)))
	}
	c.Set([]byte("k"), []byte("old"), 0)
	st := stats(t, c)
	if _, err := c.Write([]byte("k"), make([]byte, int(st.FreeBytes)+1000), WriteOptions{NoEvict: true}); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("NoEvict of more than the free space: %v", err)
	}
	if v, _ := c.Get([]byte("k")); string(v) != "old" {
		t.Fatalf("a refused NoEvict write lost the old value: %q", v)
	}
	r, err := c.Write([]byte("k"), make([]byte, int(st.FreeBytes)/2), WriteOptions{NoEvict: true})
	if err != nil || r.Forcible {
		t.Fatalf("NoEvict of half the free space, in holes: %+v, %v", r, err)
	}
	if after := stats(t, c); after.Evictions != st.Evictions || after.Chained != 1 {
		t.Fatalf("evictions %d -> %d, chained %d", st.Evictions, after.Evictions, after.Chained)
	}
	mustCheck(t, c)
}

// A region of the previous layout is refused, naming both versions, and
// left as it is.
func TestOldLayoutRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c")
	c, err := Open(path, &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	h := (*cacheHeader)(unsafe.Pointer(&c.r.Data()[0]))
	h.Version = 2
	c.Close()
	_, err = Open(path, nil)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "version 2") || !strings.Contains(err.Error(), fmt.Sprint("version ", LayoutVersion)) {
		t.Fatalf("Open of a layout-2 region: %v", err)
	}
	// The layout just before this one, refused by a process that would
	// create the region, and not a byte of its data area changed (the
	// attachment's slot, in the region's own header, comes and goes).
	c, err = Open(path+"6", &Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	(*cacheHeader)(unsafe.Pointer(&c.r.Data()[0])).Version = LayoutVersion - 1
	dataLen := len(c.r.Data())
	c.Close()
	before, err := os.ReadFile(path + "6")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path+"6", &Options{Size: 1 << 20}); !errors.Is(err, ErrVersion) {
		t.Fatalf("Open of a layout-%d region: %v", LayoutVersion-1, err)
	}
	after, err := os.ReadFile(path + "6")
	if err != nil || len(after) != len(before) || !bytes.Equal(before[len(before)-dataLen:], after[len(after)-dataLen:]) {
		t.Fatalf("the refused region's data area changed (%v)", err)
	}
}

// classOf: exact below exactClasses, then eight classes per power of two,
// monotonic, and within range for every size a shard can hold.
func TestSizeClasses(t *testing.T) {
	prev := 0
	for n := uint32(1); n < maxUnitsPerShard; n = n + 1 + n/64 {
		c := classOf(n)
		if c < prev || c >= numClasses || (n < exactClasses && c != int(n)) {
			t.Fatalf("classOf(%d) = %d after %d", n, c, prev)
		}
		prev = c
	}
	if c := classOf(maxUnitsPerShard - 1); c != numClasses-1 {
		t.Fatalf("classOf(max) = %d", c)
	}
}
