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
	Peer  string    `json:"peer"`  // luaPeers, or luaCalls for the calibration loops; the mlcache section's own
	Ns    float64   `json:"ns"`    // per operation, loop included
	Bytes float64   `json:"bytes"` // Lua heap allocated per operation
	All   []float64 `json:"ns_all"`
	// The mlcache section's: the worker's CPU share while the cell ran
	// (its thread's CPU time over the wall time), median and every
	// round's, and the rounds below hotShare, which Ns leaves out unless
	// all were (hotMedian: other work on the machine kept the worker from
	// running then); and under writes the share of gets answered from L1
	// and the L2 reads per get (bench/lua/shmlru_mlcache.lua says how each
	// is counted).
	CPU     float64   `json:"cpu_share,omitempty"`
	CPUAll  []float64 `json:"cpu_share_all,omitempty"`
	Below   int       `json:"below_share,omitempty"`
	L1      *float64  `json:"l1_hit,omitempty"`
	L2Reads *float64  `json:"l2_reads,omitempty"`
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
	return runLuaCells(e, cfg, "lua", "/", func(n int) url.Values {
		q := url.Values{"size": {luaZone(n)},
			"path": {e.shmPath("lua-strings")}, "dict": {luaDict(n, false)},
			"path_incr": {e.shmPath("lua-counters")}, "dict_incr": {luaDict(n, true)}}
		if *flagJitLog != "" {
			q.Set("jitlog", *flagJitLog)
		}
		return q
	})
}

// runLuaCells runs a section of cells in the nginx worker: prefix+setup
// with setupQuery(n) and keys=n for each key count, then cfg.Reps rounds
// of prefix+round, each over every key count (in turns), and the medians;
// prefix+teardown at the end. tag names the section in the log. It
// returns the cells, or why none were measured.
func runLuaCells(e *env, cfg Config, tag, prefix string, setupQuery func(n int) url.Values) ([]LuaResult, string) {
	for _, n := range luaKeyCounts {
		q := setupQuery(n)
		q.Set("keys", strconv.Itoa(n))
		var r struct{ Cells int }
		// Teardown closes what setup opened, even if it failed half-way.
		defer e.nginxGet(prefix+"teardown", url.Values{"keys": {strconv.Itoa(n)}}, &struct{}{})
		if err := e.nginxGet(prefix+"setup", q, &r); err != nil {
			logf("%s: %v", tag, err)
			return nil, err.Error()
		}
		logf("%s: %d keys set up, %d loops", tag, n, r.Cells)
	}
	type cell struct {
		keys     int
		op, peer string
	}
	// Every round's figures of a cell.
	type figures struct{ ns, bytes, cpu, l1, l2 []float64 }
	cells := map[cell]*figures{}
	var order []cell
	for rep := 0; rep < cfg.Reps; rep++ {
		for _, n := range rotated(luaKeyCounts, rep) {
			q := url.Values{"keys": {strconv.Itoa(n)}, "round": {strconv.Itoa(rep)},
				"dur_ms": {strconv.Itoa(int(cfg.Dur / time.Millisecond))}}
			var r struct {
				Cells []struct {
					Peer, Op       string
					Ns, Bytes, CPU float64
					L1             *float64
					L2Reads        *float64 `json:"l2_reads"`
				}
			}
			if err := e.nginxGet(prefix+"round", q, &r); err != nil {
				logf("%s: %v", tag, err)
				return nil, err.Error()
			}
			for _, x := range r.Cells {
				c := cell{n, x.Op, x.Peer}
				f := cells[c]
				if f == nil {
					f = &figures{}
					cells[c] = f
					order = append(order, c)
				}
				f.ns, f.bytes, f.cpu = append(f.ns, x.Ns), append(f.bytes, x.Bytes), append(f.cpu, x.CPU)
				if x.L1 != nil {
					f.l1, f.l2 = append(f.l1, *x.L1), append(f.l2, *x.L2Reads)
				}
			}
		}
		logf("%s round %d/%d done", tag, rep+1, cfg.Reps)
	}
	var out []LuaResult
	for _, c := range order {
		f := cells[c]
		l := LuaResult{Keys: c.keys, Op: c.op, Peer: c.peer, Ns: median(f.ns), Bytes: median(f.bytes), All: f.ns}
		if f.cpu[0] > 0 {
			l.Ns, l.Below = hotMedian(f.ns, f.cpu)
			l.CPU, l.CPUAll = median(f.cpu), f.cpu
		}
		if len(f.l1) > 0 {
			a, b := median(f.l1), median(f.l2)
			l.L1, l.L2Reads = &a, &b
		}
		out = append(out, l)
	}
	return out, ""
}
