package main

import (
	"flag"
	"net/url"
	"strconv"
	"time"
)

var flagJitLog = flag.String("jitlog", "", "have the nginx worker write LuaJIT's trace log (jit.v) to this file, to check that the LuaJIT loops compile")

// LuaResult is one LuaJIT measurement: the median over the rounds.
type LuaResult struct {
	Keys  int       `json:"keys"` // stored keys: 16 B keys, 32 B values
	Op    string    `json:"op"`
	Peer  string    `json:"peer"`  // luaPeers, or luaCalls for the calibration loops
	Ns    float64   `json:"ns"`    // per operation, loop included
	Bytes float64   `json:"bytes"` // Lua heap allocated per operation
	All   []float64 `json:"ns_all"`
}

// The peers and operations of bench/lua/shmlru_bench.lua, in table order.
// lrucache and pureffi have no incr.
var (
	luaPeers = []string{"shmlru", "shdict", "lrucache", "pureffi"}
	luaOps   = []string{"get (hit)", "get (miss)", "set (update)", "incr"}
)

// luaCalls is the peer name of the calibration loops, luaCallOps: the
// loop alone, and an FFI call into libshmlru.so that does nothing, once
// into C and once into Go.
const luaCalls = "calls"

var luaCallOps = []string{"loop alone", "FFI call: C function", "FFI call: Go export"}

// runLua sets up every key count in the nginx worker, then runs cfg.Reps
// rounds, each measuring every cell of every key count once (key counts
// alternating, and the worker turning the peers' order), and reports the
// median of each cell.
func runLua(e *env, cfg Config) ([]LuaResult, string) {
	for _, n := range luaKeyCounts {
		q := url.Values{"keys": {strconv.Itoa(n)}, "size": {luaZone(n)},
			"path": {e.shmPath("lua-strings")}, "dict": {luaDict(n, false)},
			"path_incr": {e.shmPath("lua-counters")}, "dict_incr": {luaDict(n, true)}}
		if *flagJitLog != "" {
			q.Set("jitlog", *flagJitLog)
		}
		var r struct{ Cells int }
		// Teardown closes what setup opened, even if it failed half-way.
		defer e.nginxGet("/teardown", url.Values{"keys": {strconv.Itoa(n)}}, &struct{}{})
		if err := e.nginxGet("/setup", q, &r); err != nil {
			logf("lua: %v", err)
			return nil, err.Error()
		}
		logf("lua: %d keys set up, %d loops", n, r.Cells)
	}
	type cell struct {
		keys     int
		op, peer string
	}
	ns, bytes := map[cell][]float64{}, map[cell][]float64{}
	var order []cell
	for rep := 0; rep < cfg.Reps; rep++ {
		for _, n := range rotated(luaKeyCounts, rep) {
			q := url.Values{"keys": {strconv.Itoa(n)}, "round": {strconv.Itoa(rep)},
				"dur_ms": {strconv.Itoa(int(cfg.Dur / time.Millisecond))}}
			var r struct {
				Cells []struct {
					Peer, Op  string
					Ns, Bytes float64
				}
			}
			if err := e.nginxGet("/round", q, &r); err != nil {
				logf("lua: %v", err)
				return nil, err.Error()
			}
			for _, x := range r.Cells {
				c := cell{n, x.Op, x.Peer}
				if _, ok := ns[c]; !ok {
					order = append(order, c)
				}
				ns[c] = append(ns[c], x.Ns)
				bytes[c] = append(bytes[c], x.Bytes)
			}
		}
		logf("lua round %d/%d done", rep+1, cfg.Reps)
	}
	var out []LuaResult
	for _, c := range order {
		out = append(out, LuaResult{Keys: c.keys, Op: c.op, Peer: c.peer, Ns: median(ns[c]), Bytes: median(bytes[c]), All: ns[c]})
	}
	return out, ""
}
