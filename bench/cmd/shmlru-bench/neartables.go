package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shmlru/shmlru/bench/internal/workload"
)

// nearTables: a near hit against a Redis GET in one process, then N
// processes on one near region against rueidis's cache in each: the
// figures, rueidis ÷ shmlru, the details, and the checks of every run.
func nearTables(r *Results) []table {
	s := r.Near
	var ts []table
	if h := s.Hit; h != nil {
		t := table{title: fmt.Sprintf("A near-cache hit against a Redis GET, one process, %d keys of %s; every round's ns/op", h.Keys, h.Size),
			head: []string{"read", "ns/op (median)", "allocs/op", "rounds"}}
		row := func(what string, ss []Sample) {
			if len(ss) == 0 {
				return
			}
			var all []string
			for _, x := range ss {
				all = append(all, fmtNs(x.NsPerOp))
			}
			m := medianSample(ss)
			t.row(what, fmtNs(m.NsPerOp), fmtAllocs(m.AllocsPerOp()), strings.Join(all, ", "))
		}
		row("`near.Client.Get` (hit)", h.Near)
		row("go-redis `GET`", h.Redis)
		row("reference: the region's read, `Cache().GetTracked`", h.Region)
		t.row("checks", fmt.Sprintf("Redis GETs during the near rounds: %d; generations dropped: %d", h.NearRedisGets, h.Generations), "", h.Err)
		ts = append(ts, t)
	}
	if len(s.Runs) == 0 {
		return ts
	}
	// Each figure is the median over a peer's runs at N, figure by figure.
	all := table{title: fmt.Sprintf("N processes, %d keys of %d B, %d operations each, Zipf(%.2f), writes %g, region %s, %d runs per N and peer; medians",
		s.Keys, s.ValueSize, s.Ops, workload.ZipfS, s.WriteFrac, fmtSize(s.RegionSize), s.Rounds),
		head: []string{"processes", "peer", "hit ratio", "Redis GETs", "Redis commands", "Redis CPU", "tracking connections (of all)", "cache memory", "wall time"}}
	ratios := table{title: "rueidis ÷ shmlru (medians)",
		head: []string{"processes", "Redis GETs", "Redis commands", "Redis CPU", "tracking connections", "cache memory", "misses (1 − hit ratio)", "wall time"}}
	details := table{title: "Details (medians)",
		head: []string{"processes", "peer", "writes", "entries · invalidations · refused · loads", "out of step", "keys read (Σ) · heap per key · keys held", "heap growth (Σ)", "RssAnon growth (Σ)", "Redis tracking table"}}
	for _, n := range s.procs() {
		for _, p := range nearPeers {
			runs := s.runsOf(n, p)
			if len(runs) == 0 {
				continue
			}
			md := func(f func(NearRun) float64) float64 { return medianOf(runs, f) }
			all.row(fmt.Sprint(n), nearPeerName(p), fmt.Sprintf("%.4f", md(NearRun.HitRatio)),
				fmt.Sprintf("%.0f", md(func(r NearRun) float64 { return float64(r.RedisGets) })),
				fmt.Sprintf("%.0f", md(func(r NearRun) float64 { return float64(r.RedisCmds) })),
				fmt.Sprintf("%.2f s", md(func(r NearRun) float64 { return r.RedisCPU })),
				fmt.Sprintf("%.0f (of %.0f)", md(func(r NearRun) float64 { return float64(r.TrackingConns) }), md(func(r NearRun) float64 { return float64(r.Conns) })),
				nearMemory(runs), fmtWall(md(func(r NearRun) float64 { return r.WallNs })))
			region, step, keys := "–", "–", "–"
			if p == nearShmlru {
				region = fmt.Sprintf("%.0f · %.0f · %.0f · %.0f", md(func(r NearRun) float64 { return float64(r.Entries) }),
					md(func(r NearRun) float64 { return float64(r.Invalidations) }), md(func(r NearRun) float64 { return float64(r.Refused) }),
					md(func(r NearRun) float64 { return float64(r.Loads) }))
				step = fmt.Sprintf("%.0f of %.0f samples", md(func(r NearRun) float64 { return float64(r.OutOfStep) }), md(func(r NearRun) float64 { return float64(r.Samples) }))
			} else {
				held := "–"
				if ownAll(runs) {
					held = fmt.Sprintf("%.0f", md(func(r NearRun) float64 { return float64(r.OwnKeys) }))
				}
				perKey := md(func(r NearRun) float64 {
					if r.Distinct == 0 {
						return 0
					}
					return float64(r.HeapGrowth) / float64(r.Distinct)
				})
				keys = fmt.Sprintf("%.0f · %s · %s", md(func(r NearRun) float64 { return float64(r.Distinct) }), fmtSize(int64(perKey)), held)
			}
			details.row(fmt.Sprint(n), nearPeerName(p), fmt.Sprintf("%.0f", md(func(r NearRun) float64 { return float64(r.Writes) })), region, step, keys,
				fmtSize(int64(md(func(r NearRun) float64 { return float64(r.HeapGrowth) }))),
				fmtSize(int64(md(func(r NearRun) float64 { return float64(r.AnonGrowth) }))),
				fmt.Sprintf("%.0f / %.0f / %.0f", md(func(r NearRun) float64 { return float64(r.TrackingKeys) }),
					md(func(r NearRun) float64 { return float64(r.TrackingItems) }), md(func(r NearRun) float64 { return float64(r.TrackingPrefix) })))
		}
		a, b := s.runsOf(n, nearShmlru), s.runsOf(n, nearRueidis)
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		ratio := func(f func(NearRun) float64) string { return fmtRatio(medianOf(b, f) / medianOf(a, f)) }
		mem := ratio(func(r NearRun) float64 { return float64(r.CacheBytes()) })
		if ownAll(b) {
			mem += " (" + fmtRatio(medianOf(b, func(r NearRun) float64 { return float64(r.OwnBytes) })/medianOf(a, func(r NearRun) float64 { return float64(r.CacheBytes()) })) + ")"
		}
		ratios.row(fmt.Sprint(n), ratio(func(r NearRun) float64 { return float64(r.RedisGets) }),
			ratio(func(r NearRun) float64 { return float64(r.RedisCmds) }), ratio(func(r NearRun) float64 { return r.RedisCPU }),
			ratio(func(r NearRun) float64 { return float64(r.TrackingConns) }), mem,
			ratio(func(r NearRun) float64 { return 1 - r.HitRatio() }), ratio(func(r NearRun) float64 { return r.WallNs }))
	}
	return append(ts, all, ratios, details, table{head: []string{"checks"}, rows: [][]string{{s.checks()}}})
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
