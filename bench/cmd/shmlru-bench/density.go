package main

import (
	"fmt"
	"os"

	lru2 "github.com/hashicorp/golang-lru/v2"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/lru"
)

// DensityResult is how many 16 B/32 B entries a 64 MiB cache holds.
type DensityResult struct {
	Cache         string  `json:"cache"`
	FirstEviction int     `json:"first_eviction"` // entries stored when the first set had to evict
	Steady        int     `json:"steady"`         // entries held after filling with twice as many keys
	BytesPerEntry float64 `json:"bytes_per_entry"`
	Note          string  `json:"note"`
}

const densityBytes = 64 << 20

func runDensity(e *env, cfg Config) []DensityResult {
	var out []DensityResult
	for _, bs := range []int{0, 96} {
		path := e.shmPath("density")
		c, err := lru.Open(path, &lru.Options{Size: densityBytes, BlockSize: bs})
		check(err)
		g := c.Geometry()
		name := fmt.Sprintf("shmlru (default BlockSize %d)", g.BlockSize)
		if bs != 0 {
			name = fmt.Sprintf("shmlru (BlockSize %d)", bs)
		}
		key, val := make([]byte, 16), workload.Value(32)
		first := -1
		for i := 0; first < 0 || i < 2*first; i++ {
			workload.Key(key, uint64(i))
			r, err := c.Write(key, val, lru.WriteOptions{})
			check(err)
			if r.Forcible && first < 0 {
				first = i
			}
		}
		st, err := c.Stats()
		check(err)
		c.Close()
		os.Remove(path)
		out = append(out, DensityResult{Cache: name, FirstEviction: first, Steady: st.Entries,
			BytesPerEntry: float64(densityBytes) / float64(st.Entries),
			Note:          fmt.Sprintf("%d shards, %d blocks of %d B per shard, %d buckets per shard", g.Shards, g.BlocksPerShard, g.BlockSize, g.BucketsPerShard)})
		logf("density %s: first eviction at %d, steady %d", name, first, st.Entries)
	}
	if d, err := luaDensity(e); err != nil {
		logf("density lua_shared_dict: %v", err)
		out = append(out, DensityResult{Cache: "lua_shared_dict 64m", Note: "not measured: " + err.Error()})
	} else {
		out = append(out, d)
	}
	return out
}

// luaDensity fills the nginx worker's lua_shared_dict of densityBytes as
// runDensity fills shmlru (bench/lua/shmlru_bench.lua, /density).
func luaDensity(e *env) (DensityResult, error) {
	var r struct {
		First    int `json:"first_eviction"`
		Steady   int `json:"steady"`
		Capacity int `json:"capacity"`
		Free     int `json:"free_space"`
	}
	if err := e.nginxGet("/density", nil, &r); err != nil {
		return DensityResult{}, err
	}
	d := DensityResult{Cache: "lua_shared_dict 64m", FirstEviction: r.First, Steady: r.Steady,
		BytesPerEntry: float64(densityBytes) / float64(r.Steady),
		Note:          fmt.Sprintf("nginx %s, capacity() %d B", nginxVersion(), r.Capacity)}
	logf("density lua_shared_dict: first eviction at %d, steady %d", r.First, r.Steady)
	return d, nil
}

// HitResult is one row of the hit-ratio figure.
type HitResult struct {
	Cache    string  `json:"cache"`
	Entries  int     `json:"entries"` // capacity in entries (measured for shmlru)
	Shards   int     `json:"shards"`
	HitRatio float64 `json:"hit_ratio"`
	VsExact  float64 `json:"vs_exact"` // hit ratio / exact LRU's at the same capacity
	Evicted  uint64  `json:"evicted"`  // shmlru's evictions over the trace
}

// runHitRatio drives one Zipf(0.99) trace (cache-aside: a miss sets the
// key) through shmlru and through an exact LRU (hashicorp/golang-lru)
// holding as many entries as shmlru held in steady state. The first third
// of the trace warms up; the rest is counted.
func runHitRatio(cfg Config) []HitResult {
	ids := workload.ZipfTrace(cfg.HitU, cfg.HitLen, workload.ZipfS, 7)
	warm := len(ids) / 3
	key, val := make([]byte, 16), workload.Value(32)
	var out []HitResult
	for _, shards := range []int{8, 64, 1} {
		path := fmt.Sprintf("/dev/shm/shmlru-bench-%d-hitratio", os.Getpid())
		os.Remove(path)
		c, err := lru.Open(path, &lru.Options{Size: cfg.HitSize, Shards: shards})
		check(err)
		var hits, gets, entries int
		buf := make([]byte, 0, 64)
		for i, id := range ids {
			if i == warm {
				st, err := c.Stats()
				check(err)
				entries = st.Entries
			}
			workload.Key(key, uint64(id))
			var err error
			buf, _, err = c.GetInto(buf[:0], key)
			if i >= warm {
				gets++
			}
			if err == nil {
				if i >= warm {
					hits++
				}
			} else {
				check(c.Set(key, val, 0))
			}
		}
		st, _ := c.Stats()
		entries = (entries + st.Entries) / 2
		evicted := st.Evictions
		ns := c.Geometry().Shards
		c.Close()
		os.Remove(path)

		exact, _ := lru2.New[string, struct{}](entries)
		var ehits int
		for i, id := range ids {
			workload.Key(key, uint64(id))
			if _, ok := exact.Get(string(key)); ok {
				if i >= warm {
					ehits++
				}
			} else {
				exact.Add(string(key), struct{}{})
			}
		}
		sh := float64(hits) / float64(gets)
		eh := float64(ehits) / float64(gets)
		name := fmt.Sprintf("shmlru (Shards: %d)", shards)
		out = append(out,
			HitResult{Cache: name, Entries: entries, Shards: ns, HitRatio: sh, VsExact: sh / eh, Evicted: evicted},
			HitResult{Cache: "exact LRU (golang-lru), same capacity", Entries: entries, Shards: 1, HitRatio: eh, VsExact: 1})
		logf("hit ratio %s: %.4f vs exact %.4f at %d entries, %d evictions", name, sh, eh, entries, evicted)
	}
	return out
}
