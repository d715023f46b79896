package lru

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// Benchmarks of the Go API in one process. bench/ compares them with other
// caches; these track the cache's own costs. Run: go test -run '^$' -bench . ./lru/

const benchKeys = 1 << 16

func benchCache(b *testing.B, o *Options) (*Cache, [][]byte) {
	c, err := Open(filepath.Join(b.TempDir(), "c"), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	keys := make([][]byte, benchKeys)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key:%016d", i))
	}
	return c, keys
}

func fill(b *testing.B, c *Cache, keys [][]byte, val []byte) {
	for _, k := range keys {
		if err := c.Set(k, val, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetHit(b *testing.B) {
	c, keys := benchCache(b, &Options{Size: 64 << 20})
	fill(b, c, keys, make([]byte, 32))
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := c.GetInto(buf[:0], keys[i&(benchKeys-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetMiss(b *testing.B) {
	c, keys := benchCache(b, &Options{Size: 64 << 20})
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := c.GetInto(buf[:0], keys[i&(benchKeys-1)]); err != ErrNotFound {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetCopy(b *testing.B) {
	c, keys := benchCache(b, &Options{Size: 64 << 20})
	fill(b, c, keys, make([]byte, 32))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(keys[i&(benchKeys-1)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	c, keys := benchCache(b, &Options{Size: 64 << 20})
	val := make([]byte, 32)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Set(keys[i&(benchKeys-1)], val, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetEvict writes into a cache that holds a fraction of the keys,
// so almost every write evicts.
func BenchmarkSetEvict(b *testing.B) {
	c, keys := benchCache(b, &Options{Size: 1 << 20})
	val := make([]byte, 512)
	fill(b, c, keys[:4096], val)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Set(keys[i&(benchKeys-1)], val, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st, _ := c.Stats(); st.Evictions == 0 {
		b.Fatal("nothing was evicted")
	}
}

// BenchmarkParallelMixed is 90% GetInto, 10% Set from GOMAXPROCS goroutines.
func BenchmarkParallelMixed(b *testing.B) {
	c, keys := benchCache(b, &Options{Size: 64 << 20})
	val := make([]byte, 32)
	fill(b, c, keys, val)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
		buf := make([]byte, 0, 64)
		for pb.Next() {
			k := keys[rng.IntN(benchKeys)]
			if rng.IntN(10) == 0 {
				c.Set(k, val, 0)
			} else {
				c.GetInto(buf[:0], k)
			}
		}
	})
}

// BenchmarkGetHitHot reads 1024 keys that stay in the CPU cache: the
// operation's own cost, without memory misses.
func BenchmarkGetHitHot(b *testing.B) {
	c, keys := benchCache(b, &Options{Size: 64 << 20})
	keys = keys[:1024]
	fill(b, c, keys, make([]byte, 32))
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := c.GetInto(buf[:0], keys[i&1023]); err != nil {
			b.Fatal(err)
		}
	}
}
