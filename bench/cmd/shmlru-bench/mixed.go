package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/bench/internal/workload"
)

// The mixed-workload and scaling sections: every peer replays one trace
// (mixer), in one process and in two workers, and in 1 to N workers.

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

// childPeer is the mix child's peer for c and what it connects to.
func (e *env) childPeer(c peers.Cache) (peer, target string) {
	switch c := c.(type) {
	case *peers.Shmlru:
		return "shmlru", c.C.Path()
	case *peers.Redis:
		return "redis", e.redis.Addr
	case *peers.Memcached:
		return "memcached", e.memcache.Addr
	}
	return "control", ""
}

// parallel measures n concurrent workers on one peer: child processes for
// shmlru and the servers, goroutines for in-process caches.
type parallel struct {
	kids   []*child
	mixers []*mixer
	mode   string
}

// parallel starts n workers of peer d on c; with a profDir, each child
// process writes a CPU profile there.
func (e *env) parallel(d peerDef, c peers.Cache, spec workload.Spec, tr *workload.Trace, n int, profDir string) *parallel {
	p := &parallel{}
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
	peer, target := e.childPeer(c)
	p.kids = e.spawnN(n, "loop", func(j int) any {
		a := loopArg{Peer: peer, Target: target, Op: "mix", Spec: spec, Len: tr.Len(), Seed: 42, Off: j*tr.Len()/n + tr.Len()/(2*n)}
		if profDir != "" {
			os.MkdirAll(profDir, 0o755)
			a.Prof = filepath.Join(profDir, childProfName(peer, spec, n, j))
		}
		return a
	})
	return p
}

// parallels opens n workers of each peer of defs on its cache.
func (e *env) parallels(defs []peerDef, caches []peers.Cache, spec workload.Spec, tr *workload.Trace, n int) []*parallel {
	pars := make([]*parallel, len(defs))
	for pi, d := range defs {
		pars[pi] = e.parallel(d, caches[pi], spec, tr, n, "")
	}
	return pars
}

// rounds measures each of n cells reps times, the cells taking turns,
// with a collection before each run: every cell's figures, round by round.
func rounds[T any](reps, n int, run func(i int) T) [][]T {
	out := make([][]T, n)
	for rep := 0; rep < reps; rep++ {
		for i := range out {
			runtime.GC()
			out[i] = append(out[i], run(i))
		}
	}
	return out
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
	// runFor counts the process's allocations and CPU time, so each
	// worker saw all of them: count them once.
	a := aggregate(ss)
	a.Mallocs /= uint64(len(ss))
	a.CPUNs /= int64(len(ss))
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
		one := rounds(cfg.Reps, len(defs), func(pi int) Sample { return runFor(cfg.Dur, mixers[pi].run) })
		pars := e.parallels(defs, caches, spec, tr, 2)
		two := rounds(cfg.Reps, len(defs), func(pi int) Sample { return pars[pi].run(cfg.Dur) })
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
			pars := e.parallels(defs, caches, spec, tr, n)
			samples := rounds(cfg.Reps, len(defs), func(pi int) Sample { return pars[pi].run(cfg.Dur) })
			for pi, d := range defs {
				pars[pi].close()
				var all []float64
				for _, s := range samples[pi] {
					all = append(all, s.OpsPerSec())
				}
				out = append(out, ScaleResult{Workload: spec.Name(), Peer: d.Name, N: n, Mode: pars[pi].mode, OpsPerSec: median(all), All: all})
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

func childProfName(peer string, spec workload.Spec, n, j int) string {
	return fmt.Sprintf("%s-%s-n%d-%d.pprof", peer, strings.Fields(spec.Name())[2], n, j)
}
