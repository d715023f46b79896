package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/shmlru/shmlru/bench/internal/workload"
)

// topFuncs returns the first n rows of a `pprof -top` listing as
// "function flat%" pairs.
func topFuncs(top string, n int) []string {
	var out []string
	started := false
	for _, l := range strings.Split(top, "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && f[0] == "flat" {
			started = true
			continue
		}
		if !started || len(f) < 6 {
			continue
		}
		name := strings.Join(f[5:], " ")
		name = strings.TrimPrefix(name, "github.com/shmlru/shmlru/")
		out = append(out, fmt.Sprintf("`%s` %s", name, f[1]))
		if len(out) == n {
			break
		}
	}
	return out
}

func (r *Results) profile(prefix string) (Profile, bool) {
	for _, p := range r.Profiles {
		if strings.HasPrefix(p.Name, prefix) {
			return p, true
		}
	}
	return Profile{}, false
}

// entryBytes is the heap a contiguous entry of size sz takes at default
// options (no flags): its 32-byte header, key and value, rounded up to the
// 16-byte unit (lru/layout.go).
func entryBytes(sz workload.Size) int { return (32 + sz.Key + sz.Value + 15) &^ 15 }

func sizeOf(label string) (workload.Size, bool) {
	for _, s := range workload.Sizes {
		if s.String() == label {
			return s, true
		}
	}
	return workload.Size{}, false
}

// discussion explains the goals that this run missed, from this run's
// numbers and profiles.
func discussion(r *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	s16 := workload.Sizes[0]
	get, _ := r.op(s16.String(), "Get (hit)", "shmlru")
	miss, _ := r.op(s16.String(), "Get (miss)", "shmlru")
	if p, ok := r.profile("shmlru get"); ok {
		w("**Get.** A hit costs %s, a miss %s at %s: the difference is the work done on the entry itself — comparing the key stored in the entry, copying the value that follows it in the same run of units (the whole entry is %d bytes: a 32-byte header, key, value) and `touch`, which relinks the entry at the head of the LRU queue and so writes to two neighbouring entries, cache lines that a random access pattern rarely has in cache. ", fmtNs(get.NsPerOp), fmtNs(miss.NsPerOp), s16, entryBytes(s16))
		w("Top of the profile (flat): %s.\n\n", strings.Join(topFuncs(p.Top, 8), ", "))
	}
	if p, ok := r.profile("shmlru set"); ok {
		w("**Set.** Top of the profile (flat): %s.\n\n", strings.Join(topFuncs(p.Top, 8), ", "))
	}
	luaExplained := false // the cgo crossing, said once for every LuaJIT goal
	for _, g := range r.goals() {
		if g.Met != "**missed**" {
			continue
		}
		switch {
		case g.What == nearGoalWhat():
			w("- *%s*: missed (%s); section 10 says what a hit would have had to take.\n", g.What, g.Measured)
		case strings.Contains(g.What, "go-redis"):
			red, _ := r.op(s16.String(), "Get (hit)", "redis")
			w("- *%s*: missed; Get would have to take %s (1/200 of this run's go-redis GET, %s) and took %s. A loopback round trip on this VM is unusually cheap relative to its CPU; the gap is the Get path above (lock, hash, key compare, LRU relink, value copy).\n", g.What, fmtNs(red.NsPerOp/200), fmtNs(red.NsPerOp), fmtNs(get.NsPerOp))
		case strings.HasPrefix(g.What, "LuaJIT"):
			for _, lg := range luaGoals {
				if lg.what() == g.What {
					w("%s", luaMiss(r, g, lg, !luaExplained))
					luaExplained = true
				}
			}
		case strings.Contains(g.What, "2 processes"):
			wk := strings.TrimPrefix(g.What, "2 processes vs 1, ")
			c1, ok1 := r.scale(wk, controlDef.Name, 1)
			c2, ok2 := r.scale(wk, controlDef.Name, 2)
			if ok1 && ok2 {
				s1, _ := r.scale(wk, "shmlru", 1)
				s2, _ := r.scale(wk, "shmlru", 2)
				w("- *%s*: missed (%s). The control — CPU-bound processes sharing nothing — scaled ×%.2f in the same run, so this machine gave two processes %.0f%% of two cores at the time; relative to that ceiling shmlru reached %.0f%%. ", g.What, g.Measured, c2.OpsPerSec/c1.OpsPerSec, 50*c2.OpsPerSec/c1.OpsPerSec, 100*(s2.OpsPerSec/s1.OpsPerSec)/(c2.OpsPerSec/c1.OpsPerSec))
				if p, ok := r.profile("shmlru, 2 process"); ok {
					top := topFuncs(p.Top, 8)
					w("The profile of one of the two processes (section below) shows where: %s.", strings.Join(top, ", "))
					if strings.Contains(strings.Join(top, " "), "Syscall6") {
						w(" `Syscall6` is `futex` — wake calls from `Unlock` and sleeps from `lockSlow` — so the two processes meet on shard locks and pay system calls for it: the critical section (key compare, copy, LRU relink) is ~100 ns, the spin before sleeping is short, and once the waiters bit is set each later `Unlock` issues a wake call whether or not anyone still sleeps.")
					} else {
						w(" No system call is among its top functions, so the two processes seldom slept on each other's locks; the control ran in other rounds than shmlru, and on this shared machine a round can lose part of a core to other work.")
					}
					if p1, ok := r.profile("shmlru, 1 process"); ok {
						w(" With one process the same loop shows no system calls: %s.", strings.Join(topFuncs(p1.Top, 5), ", "))
					}
					w("\n")
				} else {
					w("\n")
				}
			} else {
				w("- *%s*: missed (%s).\n", g.What, g.Measured)
			}
		case strings.Contains(g.What, "entries in 64 MiB"):
			w("%s", densityMiss(r, g))
		case strings.Contains(g.What, "layout 2"):
			st, _ := r.op(s16.String(), "Set (update)", "shmlru")
			w("- *%s*: missed: Get (hit) took %s, %s the %.0f ns of layout 2; Set (update) %s, %s the %.0f ns. ", g.What, fmtNs(get.NsPerOp), vsFigure(get.NsPerOp, layout2Get), layout2Get, fmtNs(st.NsPerOp), vsFigure(st.NsPerOp, layout2Set), layout2Set)
			w("Layout 2's figures come from another run (`make bench`, 2026-11-21 06:59 UTC, on this machine), so a difference within this machine's noise (~10%%) says little, and from a harness that gave shmlru MaxEntries equal to the keys stored, under which 43%% of its Set (update) at this size were inserts that evicted (see `opsRoom`); set against the same run's freecache, that run's figures were %.2f× (Get) and %.2f× (Set) freecache's", layout2Get/layout2FreecacheGet, layout2Set/layout2FreecacheSet)
			fg, ok1 := r.op(s16.String(), "Get (hit)", "freecache")
			fs, ok2 := r.op(s16.String(), "Set (update)", "freecache")
			if ok1 && ok2 {
				w(", this run's %.2f× and %.2f×", get.NsPerOp/fg.NsPerOp, st.NsPerOp/fs.NsPerOp)
			}
			w(".")
			if _, ok := r.profile("shmlru set"); ok {
				w(" The profiles of both loops are in this section.")
			}
			w("\n")
		case strings.Contains(g.What, "freecache"):
			sz := g.What[strings.LastIndex(g.What, ", ")+2:]
			op, pop, limit := "Get (hit)", "get", 0.7
			if strings.Contains(g.What, "Set") {
				op, pop, limit = "Set (update)", "set", 1.0
			}
			a, _ := r.op(sz, op, "shmlru")
			f, _ := r.op(sz, op, "freecache")
			need := f.NsPerOp * limit
			w("- *%s*: missed (%s): it needed at most %s, %s (%.0f%%) less.", g.What, g.Measured, fmtNs(need), fmtNs(a.NsPerOp-need), 100*(a.NsPerOp-need)/a.NsPerOp)
			if s, ok := sizeOf(sz); ok {
				w(" Each entry is one contiguous run of %d bytes (32-byte header, key, value, padding to 16).", entryBytes(s))
			}
			if p, ok := r.profile(fmt.Sprintf("shmlru %s (%s,", pop, sz)); ok {
				w(" Top of the profile of that loop (`%s`, flat): %s.", p.File, strings.Join(topFuncs(p.Top, 8), ", "))
			}
			w("\n")
		case strings.Contains(g.What, "hit ratio"):
			w("- *%s*: missed (%s): the LRU order is per shard; see section 7.\n", g.What, g.Measured)
		}
	}
	w("\n")
	return b.String()
}

// vsFigure says how x compares with ref: "12% over" or "3% under".
func vsFigure(x, ref float64) string {
	if x > ref {
		return fmt.Sprintf("%.1f%% over", 100*(x-ref)/ref)
	}
	return fmt.Sprintf("%.1f%% under", 100*(ref-x)/ref)
}

// densityMiss says by how much a density goal was missed, and where
// shmlru's 64 MiB went, per entry held.
func densityMiss(r *Results, g goal) string {
	size := strings.TrimSuffix(strings.TrimPrefix(g.What, "entries in 64 MiB at "), " vs lua_shared_dict 64m")
	d, _ := r.density(size, "shmlru")
	dict, _ := r.density(size, "lua_shared_dict")
	min := 0.0
	for _, dg := range densityGoals {
		if dg.size.String() == size {
			min = dg.min
		}
	}
	need := float64(densityBytes) / (min * float64(dict.Steady))
	want := int(math.Ceil(min * float64(dict.Steady)))
	s := fmt.Sprintf("- *%s*: missed (%s): %.1f× is %d entries, %d more than held, at most %.1f bytes each; shmlru spent %.1f, %.1f (%.1f%%) more. lua_shared_dict spends %.1f.",
		g.What, g.Measured, min, want, want-d.Steady, need, d.BytesPerEntry, d.BytesPerEntry-need, 100*(d.BytesPerEntry-need)/need, dict.BytesPerEntry)
	if d.Shards == 0 || d.Steady == 0 {
		return s + "\n"
	}
	n := float64(d.Steady)
	entry := float64(d.UsedBytes) / n
	index := float64(4*d.BucketsPerShard*d.Shards) / n
	units := d.HeapPerShard/16 + 1
	bitmap := float64(8*((units+63)/64)*d.Shards) / n
	free := float64(d.FreeBytes) / n
	rest := d.BytesPerEntry - entry - index - bitmap - free
	s += fmt.Sprintf(" Per entry held, shmlru's 64 MiB went to: %.1f B of stored entry", entry)
	if sz, ok := sizeOf(size); ok {
		s += fmt.Sprintf(" (a contiguous one is %d: 32-byte header, %d B key, %d B value, padding to 16", entryBytes(sz), sz.Key, sz.Value)
		if d.Chained > 0 {
			s += fmt.Sprintf("; %d entries were chained, with a piece header for each further piece", d.Chained)
		}
		s += ")"
	}
	s += fmt.Sprintf(", %.1f B of hash index (%d buckets of 4 B per shard, for %d entries per shard), %.1f B of free bitmap, %.1f B of heap left free at the end (%d B in %d runs, %.0f B a run), and %.1f B of shard headers, free-list heads and alignment.\n",
		index, d.BucketsPerShard, d.Steady/d.Shards, bitmap, free, d.FreeBytes, d.FreeRuns, float64(d.FreeBytes)/float64(max(d.FreeRuns, 1)), rest)
	return s
}

// luaMiss says by how much a LuaJIT goal was missed and, with explain,
// what every LuaJIT call pays to enter Go, from the same run's calibration.
func luaMiss(r *Results, g goal, lg luaGoal, explain bool) string {
	l, _ := r.lua(lg.keys, lg.op, "shmlru")
	p, _ := r.lua(lg.keys, lg.op, lg.peer)
	need := p.Ns * lg.max
	s := fmt.Sprintf("- *%s*: missed (%s): it needed at most %s, %s (%.0f%%) less.", g.What, g.Measured, fmtNs(need), fmtNs(l.Ns-need), 100*(l.Ns-need)/l.Ns)
	c, goExp, ok := luaCrossing(r, lg.keys)
	if ok && goExp-c >= need {
		s += fmt.Sprintf(" Entering Go alone takes %s, more than that.", fmtNs(goExp-c))
	}
	if ok && explain {
		s += fmt.Sprintf(" Every call from Lua enters Go through cgo: in the same rounds an FFI call into a Go export of libshmlru.so that returns at once took %s, one into a plain C function %s, so %s of every LuaJIT operation in this list is the crossing alone (section 5's calibration); the rest is the Go operation (section 1) and the Lua side of resty.shmlru.", fmtNs(goExp), fmtNs(c), fmtNs(goExp-c))
	}
	return s + "\n"
}
