package main

import (
	"fmt"
	"net/url"
	"os"
	"strconv"

	lru2 "github.com/hashicorp/golang-lru/v2"
	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/lru"
)

// DensityResult is how many entries of one size a 64 MiB cache holds.
type DensityResult struct {
	Size          string  `json:"size"` // "16B/32B"
	Cache         string  `json:"cache"`
	FirstEviction int     `json:"first_eviction"` // entries stored when the first set had to evict
	Steady        int     `json:"steady"`         // entries held after storing as many keys again
	BytesPerEntry float64 `json:"bytes_per_entry"`
	// Note says how the cache was set up; for shmlru, its geometry and
	// its heap at the end of the fill.
	Note string `json:"note"`
}

const densityBytes = 64 << 20

// dictName is the name of lua_shared_dict rows.
var dictName = fmt.Sprintf("lua_shared_dict %dm", densityBytes>>20)

// densityZone is the lua_shared_dict of densityBytes that bench/lua's
// /density fills with entries of size sz: one zone per size, so that no
// fill starts in a zone whose slabs an earlier size has carved.
func densityZone(sz workload.Size) string {
	return fmt.Sprintf("density_%d_%d", sz.Key, sz.Value)
}

// runDensity fills a 64 MiB shmlru at default options, and a 64m
// lua_shared_dict, with distinct keys of each size until a set first
// evicts, then with as many keys again, and counts what they hold.
func runDensity(e *env, cfg Config) []DensityResult {
	var out []DensityResult
	for _, sz := range workload.Sizes {
		out = append(out, shmlruDensity(e, sz))
		if d, err := luaDensity(e, sz); err != nil {
			logf("density %s lua_shared_dict: %v", sz, err)
			out = append(out, DensityResult{Size: sz.String(), Cache: dictName, Note: "not measured: " + err.Error()})
		} else {
			out = append(out, d)
		}
	}
	return out
}

func shmlruDensity(e *env, sz workload.Size) DensityResult {
	path := e.shmPath("density")
	c, err := lru.Open(path, &lru.Options{Size: densityBytes})
	check(err)
	defer os.Remove(path)
	defer c.Close()
	g := c.Geometry()
	key, val := make([]byte, sz.Key), workload.Value(sz.Value)
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
	runs := 0
	for _, ss := range st.Shards {
		runs += ss.FreeRuns
	}
	d := DensityResult{Size: sz.String(), Cache: "shmlru", FirstEviction: first, Steady: st.Entries,
		BytesPerEntry: float64(densityBytes) / float64(st.Entries)}
	d.Note = fmt.Sprintf("default options: %d shards, heap %d B and %d buckets per shard; at the end %d B used, %d entries chained, %d B free in %d runs",
		g.Shards, g.HeapPerShard, g.BucketsPerShard, st.UsedBytes, st.Chained, st.FreeBytes, runs)
	logf("density %s shmlru: first eviction at %d, held %d (%d chained, %d B free in %d runs)", sz, first, st.Entries, st.Chained, st.FreeBytes, runs)
	return d
}

// luaDensity fills the nginx worker's lua_shared_dict of densityBytes for
// sz as shmlruDensity fills shmlru (bench/lua/shmlru_bench.lua, /density).
func luaDensity(e *env, sz workload.Size) (DensityResult, error) {
	var r struct {
		First    int `json:"first_eviction"`
		Steady   int `json:"steady"`
		Capacity int `json:"capacity"`
		Free     int `json:"free_space"`
	}
	q := url.Values{"dict": {densityZone(sz)}, "key": {strconv.Itoa(sz.Key)}, "value": {strconv.Itoa(sz.Value)}}
	if err := e.nginxGet("/density", q, &r); err != nil {
		return DensityResult{}, err
	}
	d := DensityResult{Size: sz.String(), Cache: dictName, FirstEviction: r.First, Steady: r.Steady,
		BytesPerEntry: float64(densityBytes) / float64(r.Steady),
		Note:          fmt.Sprintf("%s, a zone of its own per size; capacity() %d B, free_space() %d B at the end", nginxVersion(), r.Capacity, r.Free)}
	logf("density %s lua_shared_dict: first eviction at %d, held %d", sz, r.First, r.Steady)
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
