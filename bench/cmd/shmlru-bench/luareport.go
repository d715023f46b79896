package main

import (
	"math"
	"strings"

	"github.com/shmlru/shmlru/bench/internal/chart"
	"github.com/shmlru/shmlru/bench/internal/workload"
)

// renderLua writes section 5 of RESULTS.md: one table per key count, the
// calibration loops, and the chart.
func renderLua(w func(string, ...any), r *Results) {
	run := r.runOf("lua")
	w("Timed loops inside one nginx worker (%s, Debian's ngx_http_lua_module, LuaJIT 2.1 from OpenResty's branch), started by the harness through internal/ngxrun: ", r.Machine.Nginx)
	w("**shmlru** through `resty.shmlru` and libshmlru.so; **shdict**: `ngx.shared.DICT`; **lrucache**: lua-resty-lrucache; **pureffi**: `resty.lrucache.pureffi`. ")
	w("The last two keep their entries in the worker's own memory, shared with no other process: they are the floor, not rivals. ")
	w("Keys are %d B and values %d B. ", workload.Sizes[0].Key, workload.Sizes[0].Value)
	w("Each peer holds every key (1,000, a working set that fits in the CPU's caches, or 100,000, one that does not); shmlru's region and the dict's zone have the same size (")
	for i, n := range luaKeyCounts {
		if i > 0 {
			w(", ")
		}
		w("%s at %s", luaZone(n), fmtKeys(n))
	}
	w("). ")
	w("Each loop visits its keys in a shuffled order: *get (hit)* reads stored strings, *get (miss)* asks for absent keys, *set (update)* overwrites a stored key with a value of the same size, *incr* adds 1 to a stored number (lrucache has no incr: n/a). ")
	w("Values stay referenced from Lua, so the string a get returns is found interned and no peer allocates. ")
	w("Each loop is compiled for one peer and one operation alone, and warmed up untimed before it is timed, so the JIT traces it as it would in a worker that does nothing else. ")
	w("Each cell is the median of %d interleaved rounds of %s each (the key counts alternating, each operation's peers measured one after the other, in an order that turns every round): ", run.Reps, run.Dur)
	w("ns per operation, the loop included (see the calibration table) · Lua heap bytes allocated per operation (GC stopped while timing) · ratio peer ÷ shmlru.\n\n")
	if r.LuaNote != "" {
		w("> %s\n\n", r.LuaNote)
	}
	counts := luaCounts(r)
	for _, n := range counts {
		w("### %s\n\n| op |", fmtKeys(n))
		for _, p := range luaPeers {
			w(" %s |", p)
		}
		w("\n|%s\n", strings.Repeat("---|", 1+len(luaPeers)))
		for _, op := range luaOps {
			base, hasBase := r.lua(n, op, "shmlru")
			w("| %s |", op)
			for _, p := range luaPeers {
				l, ok := r.lua(n, op, p)
				switch {
				case !ok:
					w(" n/a |")
				case p == "shmlru":
					w(" **%s** · %.0f B |", fmtNs(l.Ns), l.Bytes)
				case hasBase:
					w(" %s · %.0f B · %s |", fmtNs(l.Ns), l.Bytes, fmtRatio(l.Ns/base.Ns))
				default:
					w(" %s · %.0f B |", fmtNs(l.Ns), l.Bytes)
				}
			}
			w("\n")
		}
		w("\n")
	}

	w("### Calibration: the loop, and a call into libshmlru.so\n\n")
	w("The same loops with the cache operation replaced: by nothing (*loop alone*: step the cursor, fetch the key, add its length to the checked sum), ")
	w("by an FFI call into a plain C function of libshmlru.so (`shmlru_abi_version`), and by an FFI call into a Go export of it (`shmlru_strerror`, C that calls the Go function `shmlru_go_strerror`, an array index). ")
	w("Measured in the same rounds as the tables above.\n\n| loop |")
	for _, n := range counts {
		w(" in the %s rounds |", fmtKeys(n))
	}
	w("\n|%s\n", strings.Repeat("---|", 1+len(counts)))
	for _, op := range luaCallOps {
		w("| %s |", op)
		for _, n := range counts {
			if l, ok := r.lua(n, op, luaCalls); ok {
				w(" %s · %.0f B |", fmtNs(l.Ns), l.Bytes)
			} else {
				w(" – |")
			}
		}
		w("\n")
	}
	if c, goExp, ok := luaCrossing(r, counts[0]); ok {
		w("\nAn FFI call into Go took %s and one into C %s: every shmlru operation from Lua pays about %s to enter the Go runtime (cgo's callback path) before any of its own work.\n", fmtNs(goExp), fmtNs(c), fmtNs(goExp-c))
	}
	w("\n![LuaJIT](lua.png)\n\n")
}

// luaCounts are the key counts that r has LuaJIT figures for, in order.
func luaCounts(r *Results) []int {
	var out []int
	seen := map[int]bool{}
	for _, l := range r.Lua {
		if !seen[l.Keys] {
			seen[l.Keys] = true
			out = append(out, l.Keys)
		}
	}
	return out
}

// luaCrossing returns the calibration's FFI call into C and into Go at n
// keys.
func luaCrossing(r *Results, n int) (c, goExport float64, ok bool) {
	a, ok1 := r.lua(n, "FFI call: C function", luaCalls)
	b, ok2 := r.lua(n, "FFI call: Go export", luaCalls)
	return a.Ns, b.Ns, ok1 && ok2
}

// luaChart is lua.png: one group per operation and key count, one bar per
// peer. A peer without the operation (incr in lrucache) is marked n/a; the
// calibration loops are in the table only.
func luaChart(r *Results) chart.Bars {
	c := chart.Bars{Title: "LuaJIT, one nginx worker, " + workload.Sizes[0].String() + ": ns/op (log scale)",
		YLabel: "ns/op", Series: luaPeers, Log: true, Labels: true, Missing: "n/a"}
	type group struct {
		n  int
		op string
	}
	var groups []group
	for _, n := range luaCounts(r) {
		for _, op := range luaOps {
			for _, p := range luaPeers {
				if _, ok := r.lua(n, op, p); ok {
					groups = append(groups, group{n, op})
					c.Groups = append(c.Groups, strings.Replace(op, " (", "\n(", 1)+"\n"+fmtKeys(n))
					break
				}
			}
		}
	}
	for _, p := range luaPeers {
		var vs []float64
		for _, g := range groups {
			v := math.NaN()
			if l, ok := r.lua(g.n, g.op, p); ok {
				v = l.Ns
			}
			vs = append(vs, v)
		}
		c.Values = append(c.Values, vs)
	}
	return c
}
