package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
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
		samples := make([][][]Sample, len(defs))
		for i := range samples {
			samples[i] = make([][]Sample, len(opNames))
		}
		logf("ops %s: %d peers x %d reps", sz, len(defs), cfg.Reps)
		for rep := 0; rep < cfg.Reps; rep++ {
			for pi, d := range defs {
				c := caches[pi]
				prefill(c, d.Kind, hot, val)
				buf := make([]byte, 0, sz.Value)
				runtime.GC()
				cu := &curs[pi]
				add := func(op int, s Sample) { samples[pi][op] = append(samples[pi][op], s) }
				add(0, runFor(cfg.Dur, loopGet(c, &cu.hit, buf)))
				add(1, runFor(cfg.Dur, loopGet(c, &cu.miss, buf)))
				add(2, runFor(cfg.Dur, loopSet(c, &cu.set, val)))
				add(4, runDelete(cfg.Dur, c, d.Kind, &cu.del, val))
				add(3, runFor(cfg.Dur, loopSet(c, &cu.fresh, val)))
			}
		}
		for pi, d := range defs {
			for oi, op := range opNames {
				ss := samples[pi][oi]
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
// MaxEntries/shards entries, and the keys hash unevenly over the shards: at
// exactly the capacity, the fullest shards evict 0.3% of the keys as they
// are stored, and the loops that walk every key in one order then miss
// them over and over, each set of one (an LRU shard cycled through by more
// keys than it holds) evicting the next one the walk comes to: 34% to 41%
// of the sets of *Set (update)* were inserts that evicted (layout 3, the
// three sizes). With a quarter more room every key is stored, as in the
// other peers.
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

// MixedResult is one cell of the mixed-workload tables.
type MixedResult struct {
	Workload string  `json:"workload"`
	Size     string  `json:"size"`
	Hot      float64 `json:"hot"`
	Zipf     bool    `json:"zipf"`
	Read     float64 `json:"read"`
	Procs    int     `json:"procs"`
	Mode     string  `json:"mode"` // "process", "processes" or "goroutines"
	Peer     string  `json:"peer"`
	Median   Sample  `json:"median"`
}

func traceLen(s workload.Spec) int { return max(8*s.Capacity, 1<<16) }

// workloadSetup opens every peer for spec, fills the hot set and warms the
// caches up by replaying the trace.
func workloadSetup(e *env, spec workload.Spec, tr *workload.Trace, defs []peerDef) ([]peers.Cache, []*mixer) {
	val := workload.Value(spec.Size.Value)
	hot := workload.KeySet(spec.Size.Key, spec.HotKeys(), 0)
	caches := make([]peers.Cache, len(defs))
	mixers := make([]*mixer, len(defs))
	for i, d := range defs {
		caches[i] = d.Open(e, spec.Size, spec.Capacity)
		prefill(caches[i], d.Kind, hot, val)
		mixers[i] = &mixer{c: caches[i], tr: tr.Clone(), val: val, buf: make([]byte, 0, spec.Size.Value)}
		warm := 2 * spec.Capacity
		if d.Kind == peers.Server {
			warm = 2000
		}
		mixers[i].run(warm)
	}
	return caches, mixers
}

// target is what a child connects to.
func target(c peers.Cache, e *env) string {
	switch c := c.(type) {
	case *peers.Shmlru:
		return c.C.Path()
	case *peers.Redis:
		return e.redis.Addr
	case *peers.Memcached:
		return e.memcache.Addr
	}
	return ""
}

func childPeer(c peers.Cache) string {
	switch c.(type) {
	case *peers.Shmlru:
		return "shmlru"
	case *peers.Redis:
		return "redis"
	case *peers.Memcached:
		return "memcached"
	}
	return "control"
}

// parallel measures n concurrent workers on one peer: child processes for
// shmlru and the servers, goroutines for in-process caches.
type parallel struct {
	kids   []*child
	mixers []*mixer
	nprocs int
	mode   string
}

func (e *env) parallel(d peerDef, c peers.Cache, spec workload.Spec, tr *workload.Trace, n int, profDir string) *parallel {
	p := &parallel{nprocs: n}
	if d.Kind == peers.InProcess {
		p.mode = "goroutines"
		val := workload.Value(spec.Size.Value)
		for j := 0; j < n; j++ {
			p.mixers = append(p.mixers, &mixer{c: c, tr: tr.Clone(), val: val, buf: make([]byte, 0, spec.Size.Value), pos: j * tr.Len() / n})
		}
		return p
	}
	p.mode = "processes"
	if n == 1 {
		p.mode = "process"
	}
	for j := 0; j < n; j++ {
		pf := ""
		if profDir != "" {
			os.MkdirAll(profDir, 0o755)
			pf = filepath.Join(profDir, childProfName(childPeer(c), spec, n, j))
		}
		p.kids = append(p.kids, e.spawn("mix", mixArg{Peer: childPeer(c), Target: target(c, e), Spec: spec,
			Len: tr.Len(), Seed: 42, Off: j*tr.Len()/n + tr.Len()/(2*n), Prof: pf}))
	}
	return p
}

func (p *parallel) run(d time.Duration) Sample {
	if p.kids != nil {
		return runKids(p.kids, d)
	}
	ss := make([]Sample, len(p.mixers))
	var wg sync.WaitGroup
	for j, m := range p.mixers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ss[j] = runFor(d, m.run)
		}()
	}
	wg.Wait()
	// runFor counts the process's allocations, so each worker saw all of
	// them: count them once.
	a := aggregate(ss)
	a.Mallocs /= uint64(len(ss))
	return a
}

func (p *parallel) close() { quitAll(p.kids) }

func runMixed(e *env, cfg Config) []MixedResult {
	var out []MixedResult
	defs := allPeers()
	for wi, spec := range cfg.Mixed {
		t := time.Now()
		tr := workload.NewTrace(spec, traceLen(spec), 42)
		caches, mixers := workloadSetup(e, spec, tr, defs)
		one := make([][]Sample, len(defs))
		two := make([][]Sample, len(defs))
		for rep := 0; rep < cfg.Reps; rep++ {
			for pi := range defs {
				runtime.GC()
				one[pi] = append(one[pi], runFor(cfg.Dur, mixers[pi].run))
			}
		}
		pars := make([]*parallel, len(defs))
		for pi, d := range defs {
			pars[pi] = e.parallel(d, caches[pi], spec, tr, 2, "")
		}
		for rep := 0; rep < cfg.Reps; rep++ {
			for pi := range defs {
				runtime.GC()
				two[pi] = append(two[pi], pars[pi].run(cfg.Dur))
			}
		}
		for pi, d := range defs {
			pars[pi].close()
			mode := "process"
			if d.Kind == peers.InProcess {
				mode = "goroutine"
			}
			base := MixedResult{Workload: spec.Name(), Size: spec.Size.String(), Hot: spec.Hot, Zipf: spec.Zipf, Read: spec.ReadFrac, Peer: d.Name}
			r1 := base
			r1.Procs, r1.Mode, r1.Median = 1, mode, medianSample(one[pi])
			r2 := base
			r2.Procs, r2.Mode, r2.Median = 2, pars[pi].mode, medianSample(two[pi])
			out = append(out, r1, r2)
			caches[pi].Close()
		}
		logf("mixed %d/%d %s in %s", wi+1, len(cfg.Mixed), spec.Name(), time.Since(t).Round(time.Millisecond))
	}
	return out
}

// ScaleResult is one point of the scaling figure.
type ScaleResult struct {
	Workload  string    `json:"workload"`
	Peer      string    `json:"peer"`
	N         int       `json:"n"`
	Mode      string    `json:"mode"`
	OpsPerSec float64   `json:"ops_per_sec"`
	All       []float64 `json:"ops_per_sec_all"`
}

func scaleSpecs() []workload.Spec {
	sz := workload.Sizes[0]
	return []workload.Spec{
		{Size: sz, Hot: 0.95, Zipf: false, ReadFrac: 0.9, Capacity: capacityFor(sz)},
		{Size: sz, Hot: 0.95, Zipf: true, ReadFrac: 0.9, Capacity: capacityFor(sz)},
	}
}

// controlDef is the scaling figure's control: CPU-bound child processes
// that share nothing.
var controlDef = peerDef{Name: "control (CPU-bound, shares nothing)", Kind: peers.Server}

func runScaling(e *env, cfg Config) []ScaleResult {
	var out []ScaleResult
	defs := append(allPeers(), controlDef)
	for _, spec := range scaleSpecs() {
		tr := workload.NewTrace(spec, traceLen(spec), 42)
		caches, _ := workloadSetup(e, spec, tr, defs[:len(defs)-1])
		caches = append(caches, nil)
		for _, n := range cfg.Scale {
			pars := make([]*parallel, len(defs))
			for pi, d := range defs {
				pars[pi] = e.parallel(d, caches[pi], spec, tr, n, *flagChildProf)
			}
			all := make([][]float64, len(defs))
			for rep := 0; rep < cfg.Reps; rep++ {
				for pi := range defs {
					runtime.GC()
					all[pi] = append(all[pi], pars[pi].run(cfg.Dur).OpsPerSec())
				}
			}
			for pi, d := range defs {
				pars[pi].close()
				out = append(out, ScaleResult{Workload: spec.Name(), Peer: d.Name, N: n, Mode: pars[pi].mode, OpsPerSec: median(all[pi]), All: all[pi]})
			}
			logf("scale %s n=%d done", spec.Name(), n)
		}
		for _, c := range caches {
			if c != nil {
				c.Close()
			}
		}
	}
	return out
}

// median is the middle of xs once sorted (of an even count, the upper
// one of the two); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Sorted(slices.Values(xs))[len(xs)/2]
}

func childProfName(peer string, spec workload.Spec, n, j int) string {
	return fmt.Sprintf("%s-%s-n%d-%d.pprof", peer, strings.Fields(spec.Name())[2], n, j)
}
