package main

import (
	"fmt"
	"strings"

	"github.com/shmlru/shmlru/bench/internal/workload"
	"github.com/shmlru/shmlru/lru"
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

// discussion explains the goals that this run missed, from this run's
// numbers and profiles.
func discussion(r *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	s16 := workload.Sizes[0].String()
	get, _ := r.op(s16, "Get (hit)", "shmlru")
	miss, _ := r.op(s16, "Get (miss)", "shmlru")
	if p, ok := r.profile("shmlru get"); ok {
		w("**Get.** A hit costs %s, a miss %s at %s: the difference is the work done on the entry itself — comparing the key in its block, copying the value%s and `touch`, which relinks the entry at the head of the LRU queue and so writes to two neighbouring entries, cache lines that a random access pattern rarely has in cache. ", fmtNs(get.NsPerOp), fmtNs(miss.NsPerOp), s16, twoBlocks())
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
		case strings.Contains(g.What, "go-redis"):
			red, _ := r.op(s16, "Get (hit)", "redis")
			w("- *%s*: missed; Get would have to take %s (1/200 of this run's go-redis GET, %s) and took %s. A loopback round trip on this VM is unusually cheap relative to its CPU; the gap is the Get path above (lock, hash, key compare, LRU relink, two-block copy).\n", g.What, fmtNs(red.NsPerOp/200), fmtNs(red.NsPerOp), fmtNs(get.NsPerOp))
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
					w("The profile of one of the two processes (section below) shows where: %s. ", strings.Join(topFuncs(p.Top, 8), ", "))
					w("`Syscall6` is `futex` — wake calls from `Unlock` and sleeps from `lockSlow` — so the two processes meet on shard locks and pay system calls for it: the critical section (key compare, copy, LRU relink) is ~100 ns, the spin before sleeping is short, and once the waiters bit is set each later `Unlock` issues a wake call whether or not anyone still sleeps.")
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
			var dict DensityResult
			for _, d := range r.Density {
				if strings.HasPrefix(d.Cache, "lua_shared_dict") {
					dict = d
				}
			}
			w("- *%s*: missed (%s). 1.5× would need at most %.0f bytes per entry. An entry is a 48-byte header (bucket-chain, LRU prev/next and overflow links: 16 B; expiry 8 B; version 8 B; flags, lengths, type: 11 B; padding 5 B) plus key and value: 96 B for 16 B/32 B, which takes a whole %d-byte block at the default BlockSize and exactly one block at BlockSize 96; the hash index adds about 2 B per block. lua_shared_dict spends %.0f B per entry.\n", g.What, g.Measured, dict.BytesPerEntry/1.5, lru.DefaultBlockSize, dict.BytesPerEntry)
		case strings.Contains(g.What, "freecache"):
			sz := g.What[strings.LastIndex(g.What, ", ")+2:]
			op := "Get (hit)"
			if strings.Contains(g.What, "Set") {
				op = "Set (update)"
			}
			a, _ := r.op(sz, op, "shmlru")
			b, _ := r.op(sz, op, "shmlru (block=entry)")
			w("- *%s*: missed (%s). The default BlockSize (%d) stores such a value as a chain of %d blocks; with BlockSize equal to the entry (*shmlru (block=entry)*, one block) the same %s takes %s instead of %s.", g.What, g.Measured, lru.DefaultBlockSize, chainLen(sz), op, fmtNs(b.NsPerOp), fmtNs(a.NsPerOp))
			if p, ok := r.profile("shmlru get (64B/4KiB"); ok && strings.Contains(sz, "4KiB") && op == "Get (hit)" {
				w(" Profile of that get: %s: the time is in `memmove`, copying the value piece by piece out of blocks that the free list scattered over the shard — each piece a new cache miss that the hardware prefetcher cannot predict, where a one-block entry is a single contiguous copy. A default BlockSize sized for small entries costs large values this; storing large values in contiguous runs of blocks, or choosing the block size per size class, would remove it.", strings.Join(topFuncs(p.Top, 8), ", "))
			}
			w("\n")
		case strings.Contains(g.What, "hit ratio"):
			w("- *%s*: missed (%s): the LRU order is per shard; see section 7.\n", g.What, g.Measured)
		}
	}
	w("\n")
	return b.String()
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

func twoBlocks() string {
	if 48+16+32 > lru.DefaultBlockSize {
		return fmt.Sprintf(" (from a second block at the default BlockSize %d, since 48 + 16 + 32 > %d)", lru.DefaultBlockSize, lru.DefaultBlockSize)
	}
	return ""
}

// chainLen is how many default-size blocks an entry of size label sz takes.
func chainLen(sz string) int {
	for _, s := range workload.Sizes {
		if s.String() == sz {
			n := 48 + s.Key + s.Value
			bs := lru.DefaultBlockSize
			if n <= bs {
				return 1
			}
			return 1 + (n-bs+bs-4-1)/(bs-4)
		}
	}
	return 0
}
