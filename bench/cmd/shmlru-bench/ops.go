package main

import (
	"runtime"
	"time"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
)

// The single operations of the first table.
var opNames = []string{"Get (hit)", "Get (miss)", "Set (update)", "Set (insert, evicting)", "Delete"}

// OpResult is one cell of the operations table.
type OpResult struct {
	Size   string    `json:"size"`
	Op     string    `json:"op"`
	Peer   string    `json:"peer"`
	Median Sample    `json:"median"`
	All    []float64 `json:"ns_per_op_all"`
}

func runOps(e *env, cfg Config) []OpResult {
	var out []OpResult
	for _, sz := range cfg.OpsSizes {
		C := capacityFor(sz)
		val := workload.Value(sz.Value)
		hot := workload.KeySet(sz.Key, C, 0)
		hitKeys := shuffled(hot, 1)
		miss := workload.KeySet(sz.Key, 1<<16, 1<<50)
		fresh := workload.KeySet(sz.Key, max(4*C, 1<<17), 1<<51)
		defs := allPeers()
		caches := make([]peers.Cache, len(defs))
		for i, d := range defs {
			caches[i] = openForOps(e, d, sz, C)
			peers.Check(d.Name, caches[i])
		}
		type cur struct{ hit, miss, set, fresh, del cursor }
		curs := make([]cur, len(defs))
		for i := range curs {
			curs[i] = cur{cursor{keys: hitKeys}, cursor{keys: miss}, cursor{keys: hitKeys}, cursor{keys: fresh}, cursor{keys: hitKeys}}
		}
		logf("ops %s: %d peers x %d reps", sz, len(defs), cfg.Reps)
		// Each round runs every op of a peer, in opNames's order but for
		// the inserts last: they evict the keys the others use.
		samples := rounds(cfg.Reps, len(defs), func(pi int) []Sample {
			c, kind, cu := caches[pi], defs[pi].Kind, &curs[pi]
			prefill(c, kind, hot, val)
			buf := make([]byte, 0, sz.Value)
			runtime.GC()
			ss := make([]Sample, len(opNames))
			ss[0] = runFor(cfg.Dur, loopGet(c, &cu.hit, buf))
			ss[1] = runFor(cfg.Dur, loopGet(c, &cu.miss, buf))
			ss[2] = runFor(cfg.Dur, loopSet(c, &cu.set, val))
			ss[4] = runDelete(cfg.Dur, c, kind, &cu.del, val)
			ss[3] = runFor(cfg.Dur, loopSet(c, &cu.fresh, val))
			return ss
		})
		for pi, d := range defs {
			for oi, op := range opNames {
				var ss []Sample
				for _, round := range samples[pi] {
					ss = append(ss, round[oi])
				}
				r := OpResult{Size: sz.String(), Op: op, Peer: d.Name, Median: medianSample(ss)}
				if op == "Get (hit)" && r.Median.HitRatio() < 0.999 {
					logf("ops %s: %s's Get (hit) found only %.2f%% of the stored keys", sz, d.Name, 100*r.Median.HitRatio())
				}
				for _, s := range ss {
					r.All = append(r.All, s.NsPerOp)
				}
				out = append(out, r)
			}
			caches[pi].Close()
		}
	}
	return out
}

// opsRoom is how much more than the pre-filled keys shmlru's MaxEntries is
// in the single-operation loops (percent). MaxEntries caps each shard at
// MaxEntries/shards entries and the keys hash unevenly over the shards, so
// at exactly the capacity the fullest shards evict some keys; a loop that
// walks every key in one order then misses them over and over (each set
// evicts the next key the walk comes to), and *Set (update)* would time
// evicting inserts. With a quarter more room every key stays stored, as in
// the other peers.
const opsRoom = 125

// openForOps opens d for the single-operation loops, sized for capacity
// keys that must all stay stored. shmlru's region is the one the mixed
// workloads give it (the same geometry: shards, heap), with the higher
// MaxEntries.
func openForOps(e *env, d peerDef, sz workload.Size, capacity int) peers.Cache {
	if d.Name != shmlruDef.Name {
		return d.Open(e, sz, capacity)
	}
	o := peers.ShmlruOptions(capacity, sz.Key, sz.Value)
	o.MaxEntries = capacity * opsRoom / 100
	c, err := peers.OpenShmlru(e.shmPath("shmlru"), o, true)
	check(err)
	return c
}

// runDelete times deletes of present keys: rounds of a batch of keys
// stored untimed, then deleted timed.
func runDelete(dur time.Duration, c peers.Cache, kind peers.Kind, cu *cursor, val []byte) Sample {
	batch := 4096
	if kind == peers.Server {
		batch = 256
	}
	keys := make([][]byte, batch)
	var s Sample
	var ms runtime.MemStats
	for start := time.Now(); time.Since(start) < dur; {
		for i := range keys {
			keys[i] = cu.next()
		}
		prefill(c, kind, keys, val)
		runtime.ReadMemStats(&ms)
		m0 := ms.Mallocs
		t0 := time.Now()
		for _, k := range keys {
			c.Del(k)
		}
		s.Ns += int64(time.Since(t0))
		runtime.ReadMemStats(&ms)
		s.Mallocs += ms.Mallocs - m0
		s.Ops += int64(batch)
	}
	s.finish()
	return s
}
