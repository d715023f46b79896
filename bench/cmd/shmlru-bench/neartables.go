package main

import (
	"fmt"
	"math"
	"reflect"
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
	for _, n := range uniq(s.Runs, func(r NearRun) int { return r.Procs }) {
		for _, p := range nearPeers {
			runs := s.runsOf(n, p)
			if len(runs) == 0 {
				continue
			}
			m := medianRun(runs)
			all.row(fmt.Sprint(n), nearPeerName(p), fmt.Sprintf("%.4f", medianOf(runs, NearRun.HitRatio)),
				fmt.Sprint(m.RedisGets), fmt.Sprint(m.RedisCmds), fmt.Sprintf("%.2f s", m.RedisCPU),
				fmt.Sprintf("%d (of %d)", m.TrackingConns, m.Conns), nearMemory(runs), fmtNs(m.WallNs))
			region, step, keys := "–", "–", "–"
			if p == nearShmlru {
				region = fmt.Sprintf("%d · %d · %d · %d", m.Entries, m.Invalidations, m.Refused, m.Loads)
				step = fmt.Sprintf("%d of %d samples", m.OutOfStep, m.Samples)
			} else {
				held := "–"
				if ownAll(runs) {
					held = fmt.Sprint(m.OwnKeys)
				}
				perKey := medianOf(runs, func(r NearRun) float64 {
					if r.Distinct == 0 {
						return 0
					}
					return float64(r.HeapGrowth) / float64(r.Distinct)
				})
				keys = fmt.Sprintf("%d · %s · %s", m.Distinct, fmtSize(int64(perKey)), held)
			}
			details.row(fmt.Sprint(n), nearPeerName(p), fmt.Sprint(m.Writes), region, step, keys, fmtSize(m.HeapGrowth), fmtSize(m.AnonGrowth),
				fmt.Sprintf("%d / %d / %d", m.TrackingKeys, m.TrackingItems, m.TrackingPrefix))
		}
		a, b := s.runsOf(n, nearShmlru), s.runsOf(n, nearRueidis)
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		ma, mb := medianRun(a), medianRun(b)
		ratio := func(x, y int64) string { return fmtRatio(float64(y) / float64(x)) }
		mem := ratio(ma.CacheBytes(), mb.CacheBytes())
		if ownAll(b) {
			mem += " (" + ratio(ma.CacheBytes(), mb.OwnBytes) + ")"
		}
		misses := func(r NearRun) float64 { return 1 - r.HitRatio() }
		ratios.row(fmt.Sprint(n), ratio(ma.RedisGets, mb.RedisGets), ratio(ma.RedisCmds, mb.RedisCmds), fmtRatio(mb.RedisCPU/ma.RedisCPU),
			ratio(int64(ma.TrackingConns), int64(mb.TrackingConns)), mem, fmtRatio(medianOf(b, misses)/medianOf(a, misses)), fmtRatio(mb.WallNs/ma.WallNs))
	}
	return append(ts, all, ratios, details, table{head: []string{"checks"}, rows: [][]string{{s.checks()}}})
}

// runsOf are the runs of n processes of peer.
func (s *NearSection) runsOf(n int, peer string) []NearRun {
	return filter(s.Runs, func(r NearRun) bool { return r.Procs == n && r.Peer == peer })
}

// medianRun is a run whose every number, those of its embedded structs
// included, is the median of that number over runs, each taken on its
// own; its other fields are runs[0]'s.
func medianRun(runs []NearRun) NearRun {
	m := runs[0]
	vs := make([]reflect.Value, len(runs))
	for i := range runs {
		vs[i] = reflect.ValueOf(runs[i])
	}
	medianFields(reflect.ValueOf(&m).Elem(), vs)
	return m
}

// medianFields sets each number of the struct dst to its median over
// srcs, structs of dst's type.
func medianFields(dst reflect.Value, srcs []reflect.Value) {
	for i := 0; i < dst.NumField(); i++ {
		f := dst.Field(i)
		fs := make([]reflect.Value, len(srcs))
		xs := make([]float64, len(srcs))
		for j, s := range srcs {
			fs[j] = s.Field(i)
			switch {
			case fs[j].CanInt():
				xs[j] = float64(fs[j].Int())
			case fs[j].CanUint():
				xs[j] = float64(fs[j].Uint())
			case fs[j].CanFloat():
				xs[j] = fs[j].Float()
			}
		}
		switch {
		case f.Kind() == reflect.Struct:
			medianFields(f, fs)
		case f.CanInt():
			f.SetInt(int64(median(xs)))
		case f.CanUint():
			f.SetUint(uint64(median(xs)))
		case f.CanFloat():
			f.SetFloat(median(xs))
		}
	}
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

// checks says whether every operation succeeded, whether rueidis's own
// hit count and Redis's GETs agree, and whether a near region evicted or
// dropped its keys.
func (s *NearSection) checks() string {
	var parts []string
	var errs failures
	var ops int64
	var ev, gens uint64
	worst, rueidis := 0.0, false
	for _, r := range s.Runs {
		ops += r.Reads + r.Writes
		errs.add(failures{r.Errors, fmt.Sprintf("%d processes, %s, run %d: %s", r.Procs, r.Peer, r.Round, r.Err)})
		if r.Peer == nearRueidis {
			worst, rueidis = max(worst, math.Abs(r.HitRatio()-r.ServerHitRatio())), true
		} else {
			ev += r.Evictions
			gens += r.Generations
		}
	}
	if errs.Errors == 0 {
		parts = append(parts, fmt.Sprintf("Every one of the %d operations of the %d runs succeeded, and every read returned a value of %d bytes.", ops, len(s.Runs), s.ValueSize))
	} else {
		parts = append(parts, fmt.Sprintf("**%d operations failed or read a wrong value** (the first: %s).", errs.Errors, errs.Err))
	}
	if rueidis {
		parts = append(parts, fmt.Sprintf("rueidis's hit ratio from `IsCacheHit` and 1 − Redis GETs ÷ reads differ by at most %.4f in any run.", worst))
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

// ownAll reports whether rueidis's own count was read in every run.
func ownAll(runs []NearRun) bool {
	return len(runs) > 0 && len(filter(runs, func(r NearRun) bool { return r.OwnOK })) == len(runs)
}
