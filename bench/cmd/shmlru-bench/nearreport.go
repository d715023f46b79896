package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shmlru/shmlru/bench/internal/workload"
)

// nearGoalMax is the goal of the single-process comparison: a near-cache
// hit at most 1/200 of a Redis GET on loopback.
const nearGoalMax = 1.0 / 200

// nearGoalWhat names that goal in the goals table.
func nearGoalWhat() string {
	return "near.Client.Get (hit) vs a go-redis GET of the same key, " + workload.Sizes[0].String()
}

// nearGoal is the goal's row: the ratio of the medians, from section 10's
// run.
func (r *Results) nearGoal() goal {
	g := goal{What: nearGoalWhat(), Target: "≤ 1/200 (0.005×)", Measured: "–"}
	h := (*NearHit)(nil)
	if r.Near != nil {
		h = r.Near.Hit
	}
	if h == nil || len(h.Near) == 0 || len(h.Redis) == 0 {
		g.Met = verdict(false, false)
		return g
	}
	a, b := medianSample(h.Near), medianSample(h.Redis)
	x := a.NsPerOp / b.NsPerOp
	g.Measured = fmt.Sprintf("1/%.0f (%s vs %s)", 1/x, fmtNs(a.NsPerOp), fmtNs(b.NsPerOp))
	g.Met = verdict(x <= nearGoalMax, true)
	return g
}

// renderNear writes section 10 of RESULTS.md.
func renderNear(w func(string, ...any), r *Results) {
	s := r.Near
	run := r.runOf("near")
	m := r.Machine
	w("## 10. Near cache in front of Redis\n\n")
	layout := ""
	if run.Layout > 0 {
		layout = fmt.Sprintf(" with shmlru's layout %d", run.Layout)
	}
	alone := " (`make bench-near` measures this section alone, in under 2 minutes)"
	if run.Command == "make bench-near" {
		alone = ""
	}
	w("Measured by `%s` on %s%s%s, on %s, %d cores, shared with other work and noisy: a figure that differs by under ~10%% from another is within noise.\n\n", run.Command, run.Date, layout, alone, m.CPU, m.Cores)
	w("Package `near` (module `github.com/shmlru/shmlru/near`) makes a shmlru region each host's shared near cache in front of Redis: every process of the host opens a `near.Client` on the same region; one of them, the agent, holds the host's one tracking connection (`CLIENT TRACKING ON BCAST`) and deletes from the region every key Redis says changed; a miss reads Redis once for the whole host (`GetOrLoad`) and caches the value for at most `MaxTTL`. ")
	w("The section starts a redis-server of its own (%s) on 127.0.0.1, on a free port, with `--save '' --appendonly no` (and maxmemory 256 MB, allkeys-lru), so that its counters and `CLIENT LIST` see this section's clients only.\n\n", m.Redis)
	if h := s.Hit; h != nil {
		renderNearHit(w, r, h)
	}
	if len(s.Runs) > 0 {
		renderNearProcs(w, s)
	}
}

func renderNearHit(w func(string, ...any), r *Results, h *NearHit) {
	run := r.runOf("near")
	w("### A near-cache hit against a Redis GET, one process\n\n")
	w("%d keys of %s are written to Redis, then read once each through `near.Client.Get` (the fills), this process being the agent and the region in step. ", h.Keys, h.Size)
	w("Then %d rounds of %s each, the two alternating (which goes first alternates too): `near.Client.Get` of the cached keys in a shuffled order, and a go-redis v9 GET of the same keys in the same order over loopback (section 1's redis peer: RESP2, a pool of 4 connections, one request at a time). ", len(h.Near), run.Dur)
	w("For reference, each round also times the region's own read of the same keys, `Cache().GetTracked` into a reused buffer: what `near.Client.Get` does on a hit, besides its own work. ")
	w("Cells: the median over the rounds, and every round's ns/op.\n\n")
	a, b := medianSample(h.Near), medianSample(h.Redis)
	all := func(ss []Sample) string {
		var p []string
		for _, x := range ss {
			p = append(p, fmtNs(x.NsPerOp))
		}
		return strings.Join(p, ", ")
	}
	w("| read | ns/op (median) | allocs/op | rounds |\n|---|---|---|---|\n")
	w("| `near.Client.Get` (hit) | **%s** | %s | %s |\n", fmtNs(a.NsPerOp), fmtAllocs(a.AllocsPerOp()), all(h.Near))
	w("| go-redis `GET` | %s | %s | %s |\n", fmtNs(b.NsPerOp), fmtAllocs(b.AllocsPerOp()), all(h.Redis))
	c := medianSample(h.Region)
	if len(h.Region) > 0 {
		w("| reference: the region's read, `Cache().GetTracked` | %s | %s | %s |\n", fmtNs(c.NsPerOp), fmtAllocs(c.AllocsPerOp()), all(h.Region))
	}
	w("\n")
	g := r.nearGoal()
	if a.NsPerOp > 0 && b.NsPerOp > 0 {
		met := "**met**"
		if g.Met != "**met**" {
			met = fmt.Sprintf("**missed**: a hit would have to take %s or less", fmtNs(b.NsPerOp*nearGoalMax))
		}
		w("A near hit takes 1/%.0f of a Redis GET (%s ÷ %s = %.5f×); the goal, at most 1/200, is %s. ", b.NsPerOp/a.NsPerOp, fmtNs(a.NsPerOp), fmtNs(b.NsPerOp), a.NsPerOp/b.NsPerOp, met)
		lo, hi := h.Redis[0].NsPerOp, h.Redis[0].NsPerOp
		for _, x := range h.Redis {
			lo, hi = min(lo, x.NsPerOp), max(hi, x.NsPerOp)
		}
		w("At this hit's cost the goal holds while a loopback GET takes at least %s; this run's GET rounds took %s to %s. ", fmtNs(a.NsPerOp/nearGoalMax), fmtNs(lo), fmtNs(hi))
		if c.NsPerOp > 0 {
			w("The region's own read took %s (1/%.0f of the GET), so `near.Client.Get` adds %s to it on a hit (allocations per read: %s against %s). ",
				fmtNs(c.NsPerOp), b.NsPerOp/c.NsPerOp, fmtNs(a.NsPerOp-c.NsPerOp), fmtAllocs(a.AllocsPerOp()), fmtAllocs(c.AllocsPerOp()))
		}
	}
	if h.NearRedisGets == 0 && h.Generations == 0 {
		w("Redis served no GET while the near rounds ran, and the region kept its generation: every `near.Client.Get` timed was a hit.")
	} else {
		w("**Redis served %d GETs while the near rounds ran, and the region dropped its cached keys %d times**: not every `near.Client.Get` timed was a hit.", h.NearRedisGets, h.Generations)
	}
	if h.Err != "" {
		w(" **A Get went wrong**: %s.", h.Err)
	}
	w("\n\n")
}

// procs are the process counts of the multi-process runs, in order.
func (s *NearSection) procs() []int {
	var out []int
	for _, r := range s.Runs {
		if !slices.Contains(out, r.Procs) {
			out = append(out, r.Procs)
		}
	}
	return out
}

// runsOf are the runs of n processes of peer.
func (s *NearSection) runsOf(n int, peer string) []NearRun {
	var out []NearRun
	for _, r := range s.Runs {
		if r.Procs == n && r.Peer == peer {
			out = append(out, r)
		}
	}
	return out
}

// medianOf is the median of f over runs (0 for none).
func medianOf(runs []NearRun, f func(NearRun) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return median(xs)
}

// nearPeerName is a peer's name in the tables.
func nearPeerName(p string) string {
	if p == nearShmlru {
		return "shmlru (near, one region)"
	}
	return "rueidis (a cache per process)"
}

func renderNearProcs(w func(string, ...any), s *NearSection) {
	w("### N processes: one shared near region against rueidis's client-side cache in each\n\n")
	w("N processes (this binary re-executed) do the same workload against the same %d keys in Redis: each does %d operations on one goroutine; an operation picks a key by Zipf(%.2f) popularity and is, with probability %g, a SET of a new %d-byte value to Redis, else a read. ", s.Keys, s.Ops, workload.ZipfS, s.WriteFrac, s.ValueSize)
	w("**shmlru (near)**: every process opens `near.New` on one region of %s that the harness creates (default options but Size) and reads through; reads are `Client.Get`, writes `Client.Set` (which writes Redis, then drops this host's copy); `MaxTTL` %s, `MaxLag` %s; every process competes for the agent role and one holds it. ", fmtSize(s.RegionSize), s.MaxTTL, s.MaxLag)
	w("**rueidis**: every process has its own `rueidis.NewClient` at its defaults, client-side caching on (`CLIENT TRACKING ON OPTIN` on each of its connections, a cache of 128 MiB per connection); reads are `DoCache(GET, %s)`, writes `Do(SET)`. ", s.MaxTTL)
	w("Every run starts from scratch: Redis flushed and the keys written again, fresh processes, for near a fresh region; the caches start empty and the runs are timed from the first operation, so each process's first reads of a key miss (a near region misses each key once for the whole host). ")
	w("For each N, %d runs of each peer, the peers alternating run by run, each peer's processes doing the very same operations (the same seeds); **each figure is the median over a peer's runs** (of an even count, the upper middle one), taken figure by figure, and ratios are rueidis ÷ shmlru of those medians.\n\n", s.Rounds)
	w("How each figure is measured:\n\n")
	w("- *hit ratio*: the fraction of reads that sent nothing to Redis. shmlru: 1 − GETs Redis served over the run ÷ reads (every GET at Redis in a near run is a fill, or a read while the region was out of step; a read that waited for another process's fill of its key counts as a hit); rueidis: the reads whose `RedisResult.IsCacheHit()` was true ÷ reads.\n")
	w("- *Redis GETs*, *Redis commands*: the change over the run of `cmdstat_get` calls (`INFO commandstats`) and of `total_commands_processed`. A rueidis miss is 5 commands (`CLIENT CACHING YES`, `MULTI`, `PTTL`, `GET`, `EXEC`), a near miss 1.\n")
	w("- *Redis CPU*: the change of `used_cpu_sys` + `used_cpu_user` (`INFO cpu`) from just before the harness tells the processes to start until the last has reported.\n")
	w("- *tracking connections*: `CLIENT LIST` at the end of the run, before the processes quit: the connections whose flags have `t`, of all the run's connections.\n")
	w("- *cache memory*: shmlru: `Stats().UsedBytes` of the region at the end of the run, the bytes of its entries for the whole host (a 32-byte header, 16 bytes more for the flags that carry a tracked entry's generation, key and value, rounded up to 16 bytes: %d bytes for these %d-byte keys and %d-byte values); the region file itself is %s, reserved at creation whatever is in it. ", (32+16+len(nearKey(0))+s.ValueSize+15)&^15, len(nearKey(0)), s.ValueSize, fmtSize(s.RegionSize))
	w("rueidis: the growth of the processes' live Go heap over the run (`runtime.MemStats.HeapAlloc` after two `runtime.GC()`, just before and just after the run, in each process; summed over the N). Before that baseline each process has used every connection once (a PING and reads of %d keys outside the workload, which Redis does not have), so that what rueidis allocates as it opens a connection (~1.4 MB, cache or no cache) is not counted; the workload's own bookkeeping exists before the run too. ", nearWarmKeys)
	w("In brackets, rueidis's own count of its caches' bytes (what it charges against `CacheSizeEachConn`: fixed struct sizes, key, command and reply; unexported, read by reflection from the client after the run, see `rueidisOwnCount`), summed: an estimate of its own, below the heap it takes. The details below give the processes' anonymous resident memory too.\n")
	w("- *wall time*: from the first process's first operation to the last one's last.\n\n")

	w("| processes | peer | hit ratio | Redis GETs | Redis commands | Redis CPU | tracking connections (of all) | cache memory | wall time |\n")
	w("|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range s.procs() {
		for _, p := range nearPeers {
			runs := s.runsOf(n, p)
			if len(runs) == 0 {
				continue
			}
			name := nearPeerName(p)
			if p == nearShmlru {
				name = "**" + name + "**"
			}
			w("| %d | %s | %.4f | %.0f | %.0f | %.2f s | %.0f (of %.0f) | %s | %s |\n", n, name,
				medianOf(runs, NearRun.HitRatio),
				medianOf(runs, func(r NearRun) float64 { return float64(r.RedisGets) }),
				medianOf(runs, func(r NearRun) float64 { return float64(r.RedisCmds) }),
				medianOf(runs, func(r NearRun) float64 { return r.RedisCPU }),
				medianOf(runs, func(r NearRun) float64 { return float64(r.TrackingConns) }),
				medianOf(runs, func(r NearRun) float64 { return float64(r.Conns) }),
				nearMemory(runs),
				fmtWall(medianOf(runs, func(r NearRun) float64 { return r.WallNs })))
		}
	}
	w("\nrueidis ÷ shmlru (medians):\n\n")
	w("| processes | Redis GETs | Redis commands | Redis CPU | tracking connections | cache memory | misses (1 − hit ratio) | wall time |\n|---|---|---|---|---|---|---|---|\n")
	for _, n := range s.procs() {
		a, b := s.runsOf(n, nearShmlru), s.runsOf(n, nearRueidis)
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		ratio := func(f func(NearRun) float64) string { return fmtRatio(medianOf(b, f) / medianOf(a, f)) }
		mem := ratio(func(r NearRun) float64 { return float64(r.CacheBytes()) })
		if ownAll(b) {
			mem += " (" + fmtRatio(medianOf(b, func(r NearRun) float64 { return float64(r.OwnBytes) })/medianOf(a, func(r NearRun) float64 { return float64(r.CacheBytes()) })) + ")"
		}
		w("| %d | %s | %s | %s | %s | %s | %s | %s |\n", n,
			ratio(func(r NearRun) float64 { return float64(r.RedisGets) }),
			ratio(func(r NearRun) float64 { return float64(r.RedisCmds) }),
			ratio(func(r NearRun) float64 { return r.RedisCPU }),
			ratio(func(r NearRun) float64 { return float64(r.TrackingConns) }),
			mem,
			ratio(func(r NearRun) float64 { return 1 - r.HitRatio() }),
			ratio(func(r NearRun) float64 { return r.WallNs }))
	}
	w("\nDetails (medians). *writes*: SETs, all processes. shmlru: the region's entries at the end; *invalidations*: `Invalidate` calls, each `Client.Set`'s own and the agent's for each key Redis reported changed (so about twice the writes); *refused*: fills not kept because their key changed while they read Redis; *loads*: loads claimed (each one GET); *out of step*: how often the harness, reading `TrackState()` every %s, found the region out of step (reads then go to Redis uncached). ", nearSampleEvery)
	w("rueidis: keys read at least once, summed over the processes (each process caches its own copy), the heap growth per such key, and the keys its caches held at the end by its own count (with the %d absences each process read before the run). Both: the growth of the processes' live heaps and of their anonymous resident memory (`RssAnon`: the Go runtime keeps freed heap for a while, and the region, a shared mapping, is not in it), summed; and Redis's tracking table at the end (`tracking_total_keys` / `tracking_total_items` / `tracking_total_prefixes`).\n\n", nearWarmKeys)
	w("| processes | peer | writes | entries · invalidations · refused · loads | out of step | keys read (Σ) · heap per key · keys held | heap growth (Σ) | RssAnon growth (Σ) | Redis tracking table |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range s.procs() {
		for _, p := range nearPeers {
			runs := s.runsOf(n, p)
			if len(runs) == 0 {
				continue
			}
			md := func(f func(NearRun) float64) float64 { return medianOf(runs, f) }
			region, step, keys := "–", "–", "–"
			if p == nearShmlru {
				region = fmt.Sprintf("%.0f · %.0f · %.0f · %.0f", md(func(r NearRun) float64 { return float64(r.Entries) }),
					md(func(r NearRun) float64 { return float64(r.Invalidations) }), md(func(r NearRun) float64 { return float64(r.Refused) }),
					md(func(r NearRun) float64 { return float64(r.Loads) }))
				step = fmt.Sprintf("%.0f of %.0f samples", md(func(r NearRun) float64 { return float64(r.OutOfStep) }), md(func(r NearRun) float64 { return float64(r.Samples) }))
			} else {
				d := md(func(r NearRun) float64 { return float64(r.Distinct) })
				held := "–"
				if ownAll(runs) {
					held = fmt.Sprintf("%.0f", md(func(r NearRun) float64 { return float64(r.OwnKeys) }))
				}
				keys = fmt.Sprintf("%.0f · %s · %s", d, fmtSize(int64(md(func(r NearRun) float64 {
					if r.Distinct == 0 {
						return 0
					}
					return float64(r.HeapGrowth) / float64(r.Distinct)
				}))), held)
			}
			w("| %d | %s | %.0f | %s | %s | %s | %s | %s | %.0f / %.0f / %.0f |\n", n, nearPeerName(p),
				md(func(r NearRun) float64 { return float64(r.Writes) }), region, step, keys,
				fmtSize(int64(md(func(r NearRun) float64 { return float64(r.HeapGrowth) }))),
				fmtSize(int64(md(func(r NearRun) float64 { return float64(r.AnonGrowth) }))),
				md(func(r NearRun) float64 { return float64(r.TrackingKeys) }), md(func(r NearRun) float64 { return float64(r.TrackingItems) }),
				md(func(r NearRun) float64 { return float64(r.TrackingPrefix) }))
		}
	}
	w("\n%s\n\n", s.checks())
}

// checks says whether every operation succeeded, whether rueidis's own
// hit count and Redis's GETs agree, and whether a near region evicted or
// dropped its keys.
func (s *NearSection) checks() string {
	var parts []string
	var errs int64
	first := ""
	var ops int64
	for _, r := range s.Runs {
		ops += r.Reads + r.Writes
		if r.Errors > 0 && first == "" {
			first = fmt.Sprintf("%d processes, %s, run %d: %s", r.Procs, r.Peer, r.Round, r.Err)
		}
		errs += r.Errors
	}
	if errs == 0 {
		parts = append(parts, fmt.Sprintf("Every one of the %d operations of the %d runs succeeded, and every read returned a value of %d bytes.", ops, len(s.Runs), s.ValueSize))
	} else {
		parts = append(parts, fmt.Sprintf("**%d operations failed or read a wrong value** (the first: %s).", errs, first))
	}
	worst := 0.0
	for _, r := range s.Runs {
		if r.Peer == nearRueidis {
			worst = max(worst, abs(r.HitRatio()-r.ServerHitRatio()))
		}
	}
	if worst > 0 || slices.ContainsFunc(s.Runs, func(r NearRun) bool { return r.Peer == nearRueidis }) {
		parts = append(parts, fmt.Sprintf("rueidis's hit ratio from `IsCacheHit` and 1 − Redis GETs ÷ reads differ by at most %.4f in any run.", worst))
	}
	var ev uint64
	var gens uint64
	for _, r := range s.Runs {
		if r.Peer == nearShmlru {
			ev += r.Evictions
			gens += r.Generations
		}
	}
	if ev == 0 {
		parts = append(parts, "No near region evicted an entry")
	} else {
		parts = append(parts, fmt.Sprintf("**The near regions evicted %d entries**", ev))
	}
	if gens == 0 {
		parts = append(parts, "and none dropped all its keys (a new generation) during a run.")
	} else {
		parts = append(parts, fmt.Sprintf("and they dropped all their keys %d times during the runs (a tracking session ended or the agent changed).", gens))
	}
	return strings.Join(parts, " ")
}

// nearMemory is the cache memory cell of runs: for rueidis the heap
// growth and, in brackets, rueidis's own count.
func nearMemory(runs []NearRun) string {
	m := fmtSize(int64(medianOf(runs, func(r NearRun) float64 { return float64(r.CacheBytes()) })))
	if len(runs) > 0 && runs[0].Peer == nearRueidis && ownAll(runs) {
		m += " (" + fmtSize(int64(medianOf(runs, func(r NearRun) float64 { return float64(r.OwnBytes) }))) + ")"
	}
	return m
}

// fmtWall writes a wall time: seconds from one up.
func fmtWall(ns float64) string {
	if ns >= 1e9 {
		return fmt.Sprintf("%.2f s", ns/1e9)
	}
	return fmtNs(ns)
}

// ownAll reports whether rueidis's own count was read in every run.
func ownAll(runs []NearRun) bool {
	for _, r := range runs {
		if !r.OwnOK {
			return false
		}
	}
	return len(runs) > 0
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
