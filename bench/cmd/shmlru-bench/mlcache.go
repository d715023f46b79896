package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// The mlcache section (-only mlcache): in the nginx worker of the lua
// section, at each of luaKeyCounts, an L1 and an L2 hit of
// resty.shmlru.mlcache in each L1 coherence mode of -mlcache.modes, a get
// while another instance writes, and lua-resty-lrucache's and
// ngx.shared.DICT's get beside them; lua-resty-mlcache's too when
// -mlcache-src names a checkout of it. The loops are
// bench/lua/shmlru_mlcache.lua's, whose header says what each cell does.

var (
	flagMlcSrc = flag.String("mlcache-src", os.Getenv("SHMLRU_BENCH_MLCACHE"),
		"directory holding resty/mlcache.lua (a lua-resty-mlcache checkout, or its lib/), and resty/lock.lua unless nginx finds it, "+
			"for the mlcache section's lua-resty-mlcache cells (default $SHMLRU_BENCH_MLCACHE; none: those cells are left out)")
	flagMlcModes = flag.String("mlcache.modes", "always,update",
		"comma-separated L1 coherence modes (resty.shmlru.mlcache's opts.l1_coherence) of the mlcache section")
)

// mlcLuaDir is the lua_package_path root of -mlcache-src ("" without
// one): the directory itself, or its lib/, whichever holds resty/mlcache.lua.
func mlcLuaDir() string {
	if *flagMlcSrc == "" {
		return ""
	}
	for _, d := range []string{filepath.Join(*flagMlcSrc, "lib"), *flagMlcSrc} {
		if _, err := os.Stat(filepath.Join(d, "resty", "mlcache.lua")); err == nil {
			abs, _ := filepath.Abs(d)
			return abs
		}
	}
	check(fmt.Errorf("-mlcache-src %s: no resty/mlcache.lua in it or its lib/", *flagMlcSrc))
	return ""
}

// mlcLuaPath is mlcLuaDir's lua_package_path entry, if any.
func mlcLuaPath() string {
	if d := mlcLuaDir(); d != "" {
		return d + "/?.lua;"
	}
	return ""
}

// mlcHTTP is the mlcache section's zones, for lua-resty-mlcache: per key
// count an L2 (twice the lua section's zone: it holds the keys of the hit
// and the write cells, each under its own name) and one for its ipc
// events (each round's of one key count; bench/lua/shmlru_mlcache.lua's
// drain).
func mlcHTTP() string {
	if mlcLuaDir() == "" {
		return ""
	}
	var s string
	for _, n := range luaKeyCounts {
		s += fmt.Sprintf("    lua_shared_dict shmlru_bench_mlc_%d %s;\n    lua_shared_dict shmlru_bench_mlc_%d_ipc 64m;\n", n, luaZone(2*n), n)
	}
	return s
}

func runMlcache(e *env, cfg Config) ([]LuaResult, string) {
	return runLuaCells(e, cfg, "mlcache", "/mlcache_", func(n int) url.Values {
		q := url.Values{"size": {luaZone(n)}, "path": {e.shmPath("mlcache")}, "dict": {luaDict(n, false)},
			"modes": {*flagMlcModes}}
		if *flagJitLog != "" {
			q.Set("jitlog", *flagJitLog)
		}
		if mlcLuaDir() != "" {
			q.Set("mlcache", "1")
			q.Set("mlc_dict", fmt.Sprintf("shmlru_bench_mlc_%d", n))
			q.Set("ipc", fmt.Sprintf("shmlru_bench_mlc_%d_ipc", n))
		}
		return q
	})
}

// mlcacheTables: per key count, every cell's ns per get and its ratio to
// lua-resty-lrucache's get, Lua heap bytes per get, the L1 hit ratio and
// L2 reads per get of the cells under writes, and the worker's CPU share
// (the median, and the rounds below hotShare that ns leaves out).
func mlcacheTables(r *Results) []table {
	if len(r.Mlcache) == 0 {
		return []table{{head: []string{"not measured"}, rows: [][]string{{r.MlcacheNote}}}}
	}
	var ts []table
	for _, n := range uniq(r.Mlcache, func(l LuaResult) int { return l.Keys }) {
		t := table{title: fmtKeys(n), head: []string{"get", "ns", "÷ lrucache get", "Lua heap B", "L1 hit ratio", "L2 reads per get", "worker CPU share"}}
		base, hasBase := find(r.Mlcache, func(l LuaResult) bool { return l.Keys == n && l.Peer == "lrucache" })
		for _, l := range r.Mlcache {
			if l.Keys != n {
				continue
			}
			ratio, l1, l2 := "–", "–", "–"
			if hasBase {
				ratio = fmtRatio(l.Ns / base.Ns)
			}
			if l.L1 != nil {
				l1, l2 = fmt.Sprintf("%.4f", *l.L1), fmt.Sprintf("%.4f", *l.L2Reads)
			}
			t.row(l.Peer+" "+l.Op, fmtNs(l.Ns), ratio, fmt.Sprintf("%.0f", l.Bytes), l1, l2,
				fmt.Sprintf("%.2f · %d of %d rounds below %.1f", l.CPU, l.Below, len(l.All), hotShare))
		}
		ts = append(ts, t)
	}
	return ts
}
