package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/shmlru/shmlru/bench/internal/chart"
	"github.com/shmlru/shmlru/bench/internal/workload"
)

// Results is everything a run measured; results.json holds it and
// RESULTS.md and the charts are rendered from it.
type Results struct {
	Date    string `json:"date"`
	Command string `json:"command"`
	// Layout is lru.LayoutVersion when the figures were measured (0 in
	// results.json files older than the field).
	Layout   int             `json:"layout,omitempty"`
	Machine  Machine         `json:"machine"`
	Quick    bool            `json:"quick"`
	Dur      string          `json:"dur"`
	Reps     int             `json:"reps"`
	Elapsed  string          `json:"elapsed"`
	Ops      []OpResult      `json:"ops"`
	Mixed    []MixedResult   `json:"mixed"`
	Scaling  []ScaleResult   `json:"scaling"`
	Density  []DensityResult `json:"density"`
	HitRatio []HitResult     `json:"hit_ratio"`
	Lua      []LuaResult     `json:"lua"`
	LuaNote  string          `json:"lua_note"`
	Profiles []Profile       `json:"profiles"`
	HitSize  int64           `json:"hit_size"`
	Load     *LoadSection    `json:"load,omitempty"`
	Near     *NearSection    `json:"near,omitempty"`
	// Runs names the run that measured each section measured apart from
	// the one above (see merge.go); empty after a full run.
	Runs map[string]RunInfo `json:"runs,omitempty"`
}

func fmtBytes(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }

// Machine describes where the numbers were taken.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	OS        string `json:"os"`
	Go        string `json:"go"`
	Redis     string `json:"redis"`
	Memcached string `json:"memcached"`
	Nginx     string `json:"nginx"`
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	run := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil {
			return "not installed"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	m.Kernel = run("uname", "-sr")
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS = strings.Trim(v, `"`)
			}
		}
	}
	m.Redis = run("redis-server", "--version")
	m.Memcached = run("memcached", "-V")
	m.Nginx = nginxVersion()
	return m
}

// ---- formatting helpers ----

func fmtNs(ns float64) string {
	switch {
	case ns == 0 || math.IsNaN(ns):
		return "–"
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns >= 100:
		return fmt.Sprintf("%.0f ns", ns)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

func fmtAllocs(a float64) string {
	if a < 0.005 {
		return "0"
	}
	if a >= 10 {
		return fmt.Sprintf("%.0f", a)
	}
	return fmt.Sprintf("%.2g", a)
}

func fmtRatio(r float64) string {
	if r == 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	if r >= 100 {
		return fmt.Sprintf("×%.0f", r)
	}
	if r >= 10 {
		return fmt.Sprintf("×%.1f", r)
	}
	return fmt.Sprintf("×%.2f", r)
}

func fmtOps(o float64) string {
	if o >= 1e6 {
		return fmt.Sprintf("%.2f M/s", o/1e6)
	}
	return fmt.Sprintf("%.0f k/s", o/1e3)
}

func uniq[T any](xs []T, key func(T) string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		k := key(x)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func (r *Results) op(size, op, peer string) (Sample, bool) {
	for _, o := range r.Ops {
		if o.Size == size && o.Op == op && o.Peer == peer {
			return o.Median, true
		}
	}
	return Sample{}, false
}

func (r *Results) mixed(work, peer string, procs int) (MixedResult, bool) {
	for _, m := range r.Mixed {
		if m.Workload == work && m.Peer == peer && m.Procs == procs {
			return m, true
		}
	}
	return MixedResult{}, false
}

func (r *Results) scale(work, peer string, n int) (ScaleResult, bool) {
	for _, s := range r.Scaling {
		if s.Workload == work && s.Peer == peer && s.N == n {
			return s, true
		}
	}
	return ScaleResult{}, false
}

func (r *Results) lua(keys int, op, peer string) (LuaResult, bool) {
	for _, l := range r.Lua {
		if l.Keys == keys && l.Op == op && l.Peer == peer {
			return l, true
		}
	}
	return LuaResult{}, false
}

// ---- goals ----

type goal struct {
	What, Target, Measured string
	Met                    string
}

// luaGoal is a goal of issue 10: shmlru's op at keys within max× the
// peer's, in the same LuaJIT run.
type luaGoal struct {
	op       string
	keys     int
	peer     string
	peerName string
	max      float64
}

func (g luaGoal) what() string {
	op, _, _ := strings.Cut(g.op, " (")
	return fmt.Sprintf("LuaJIT %s vs %s, %s, %s", op, g.peerName, fmtKeys(g.keys), workload.Sizes[0])
}

var luaGoals = []luaGoal{
	{"get (hit)", 1000, "shdict", "ngx.shared.DICT get", 0.45},
	{"get (hit)", 100000, "shdict", "ngx.shared.DICT get", 0.45},
	{"set (update)", 1000, "shdict", "ngx.shared.DICT set", 0.6},
	{"incr", 1000, "shdict", "ngx.shared.DICT incr", 0.6},
	{"get (hit)", 1000, "pureffi", "lua-resty-lrucache pureffi get (in-process)", 3},
}

func verdict(ok bool, have bool) string {
	if !have {
		return "not measured"
	}
	if ok {
		return "**met**"
	}
	return "**missed**"
}

// densityGoals are issue 11's goals for the entries a 64 MiB cache holds
// at default options: at least min× what a lua_shared_dict 64m holds.
var densityGoals = []struct {
	size workload.Size
	min  float64
}{{workload.Sizes[0], 1.5}, {workload.Sizes[1], 1.7}, {workload.Sizes[2], 1.9}}

// The previous layout's (layout 2, fixed 128-byte blocks) single
// operations at 16 B/32 B, from the `make bench` run of 2026-11-21 06:59
// UTC on this machine: issue 11 asks that layout 3 be no slower.
const (
	layout2Get    = 281.0 // Get (hit), ns
	layout2Set    = 347.0 // Set (update)
	layout2Insert = 345.0 // Set (insert, evicting)
	// freecache's in the same run, to set layout 2's against.
	layout2FreecacheGet = 448.0
	layout2FreecacheSet = 415.0
)

func layout2Goal() string {
	return fmt.Sprintf("Go Get/Set at %s no slower than layout 2 (%.0f / %.0f ns)", workload.Sizes[0], layout2Get, layout2Set)
}

// density returns the row of cache (a prefix: "shmlru", "lua_shared_dict")
// at size.
func (r *Results) density(size, cache string) (DensityResult, bool) {
	for _, d := range r.Density {
		if d.size() == size && strings.HasPrefix(d.Cache, cache) {
			return d, d.Steady > 0
		}
	}
	return DensityResult{}, false
}

func (r *Results) goals() []goal {
	var gs []goal
	s16 := workload.Sizes[0].String()
	measured := func(x float64, a, b Sample) string {
		if a.NsPerOp == 0 || b.NsPerOp == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f× (%s vs %s)", x, fmtNs(a.NsPerOp), fmtNs(b.NsPerOp))
	}
	for _, s := range workload.Sizes {
		sz := s.String()
		a, ok1 := r.op(sz, "Get (hit)", "shmlru")
		b, ok2 := r.op(sz, "Get (hit)", "freecache")
		x := a.NsPerOp / b.NsPerOp
		gs = append(gs, goal{"Go Get vs freecache GetWithBuf, " + sz, "≤ 0.70×", measured(x, a, b), verdict(x <= 0.7, ok1 && ok2)})
	}
	for _, s := range workload.Sizes {
		sz := s.String()
		a, ok1 := r.op(sz, "Set (update)", "shmlru")
		b, ok2 := r.op(sz, "Set (update)", "freecache")
		x := a.NsPerOp / b.NsPerOp
		gs = append(gs, goal{"Go Set vs freecache Set, " + sz, "≤ 1.0×", measured(x, a, b), verdict(x <= 1.0, ok1 && ok2)})
	}
	{
		g, ok1 := r.op(s16, "Get (hit)", "shmlru")
		st, ok2 := r.op(s16, "Set (update)", "shmlru")
		m := "–"
		if ok1 && ok2 {
			m = fmt.Sprintf("Get %s, Set %s", fmtNs(g.NsPerOp), fmtNs(st.NsPerOp))
			if in, ok := r.op(s16, "Set (insert, evicting)", "shmlru"); ok {
				m += fmt.Sprintf(" (Set insert %s; layout 2: %.0f ns)", fmtNs(in.NsPerOp), layout2Insert)
			}
		}
		gs = append(gs, goal{layout2Goal(), fmt.Sprintf("Get (hit) ≤ %.0f ns, Set (update) ≤ %.0f ns", layout2Get, layout2Set), m,
			verdict(g.NsPerOp <= layout2Get && st.NsPerOp <= layout2Set, ok1 && ok2)})
	}
	{
		a, ok1 := r.op(s16, "Get (hit)", "shmlru")
		b, ok2 := r.op(s16, "Get (hit)", "redis")
		x := a.NsPerOp / b.NsPerOp
		m := "–"
		if ok1 && ok2 {
			m = fmt.Sprintf("1/%.0f (%s vs %s)", 1/x, fmtNs(a.NsPerOp), fmtNs(b.NsPerOp))
		}
		gs = append(gs, goal{"Go Get vs go-redis GET, " + s16, "≤ 1/200 (0.005×)", m, verdict(x <= 1.0/200, ok1 && ok2)})
	}
	gs = append(gs, r.nearGoal())
	for _, g := range luaGoals {
		a, ok1 := r.lua(g.keys, g.op, "shmlru")
		b, ok2 := r.lua(g.keys, g.op, g.peer)
		x := a.Ns / b.Ns
		m := "–"
		if ok1 && ok2 {
			m = fmt.Sprintf("%.2f× (%s vs %s)", x, fmtNs(a.Ns), fmtNs(b.Ns))
		}
		gs = append(gs, goal{g.what(), fmt.Sprintf("≤ %.2g×", g.max), m, verdict(x <= g.max, ok1 && ok2)})
	}
	for _, w := range uniq(r.Scaling, func(s ScaleResult) string { return s.Workload }) {
		a, ok1 := r.scale(w, "shmlru", 1)
		b, ok2 := r.scale(w, "shmlru", 2)
		x := b.OpsPerSec / a.OpsPerSec
		ctl := ""
		if c1, ok := r.scale(w, controlDef.Name, 1); ok {
			if c2, ok := r.scale(w, controlDef.Name, 2); ok {
				ctl = fmt.Sprintf("; CPU-bound control ×%.2f", c2.OpsPerSec/c1.OpsPerSec)
			}
		}
		gs = append(gs, goal{"2 processes vs 1, " + w, "≥ 1.8×", fmt.Sprintf("%.2f× (%s vs %s)%s", x, fmtOps(b.OpsPerSec), fmtOps(a.OpsPerSec), ctl), verdict(x >= 1.8, ok1 && ok2)})
	}
	for _, dg := range densityGoals {
		sz := dg.size.String()
		a, ok1 := r.density(sz, "shmlru")
		b, ok2 := r.density(sz, "lua_shared_dict")
		x := float64(a.Steady) / float64(b.Steady)
		m := "–"
		if ok1 && ok2 {
			m = fmt.Sprintf("%.2f× (%d vs %d)", x, a.Steady, b.Steady)
		}
		gs = append(gs, goal{densityGoalWhat(sz), fmt.Sprintf("≥ %.1f×", dg.min), m, verdict(x >= dg.min, ok1 && ok2)})
	}
	for _, h := range r.HitRatio {
		if strings.HasPrefix(h.Cache, "shmlru (Shards: 8)") {
			gs = append(gs, goal{fmt.Sprintf("hit ratio vs exact LRU, Zipf 0.99, %d entries, %d shards", h.Entries, h.Shards), "≥ 0.99×", fmt.Sprintf("%.4f× (%.4f)", h.VsExact, h.HitRatio), verdict(h.VsExact >= 0.99, true)})
		}
	}
	return gs
}

func densityGoalWhat(size string) string {
	return fmt.Sprintf("entries in 64 MiB at %s vs lua_shared_dict 64m", size)
}

// ---- RESULTS.md ----

func render(r *Results, out string) error { return renderSections(r, out, nil) }

// renderSections writes RESULTS.md, and the charts of the sections in only
// (all of them when only is empty): a run of some sections leaves the
// charts of the others as they are.
func renderSections(r *Results, out string, only map[string]bool) error {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	// cols ends a table's header row, whose first lead cells are written,
	// with one cell per name, and writes the separator row.
	cols := func(lead int, names []string) {
		for _, n := range names {
			w(" %s |", n)
		}
		w("\n|%s\n", strings.Repeat("---|", lead+len(names)))
	}
	m := r.Machine
	w("# shmlru benchmark results\n\n")
	w("Produced by `%s` (bench/cmd/shmlru-bench) on %s, in %s. ", r.Command, r.Date, r.Elapsed)
	w("%s\n\n", r.provenance())
	w("- CPU: %s, %d cores; %s; %s\n- %s; %s; %s; %s\n\n", m.CPU, m.Cores, m.Kernel, m.OS, m.Go, m.Redis, m.Memcached, m.Nginx)
	w("Each cell is the median of %d timed runs of %s (peers interleaved run by run, so machine noise hits them alike). ", r.Reps, r.Dur)
	w("**Ratios are peer ÷ shmlru** for times (×2.00 = the peer takes twice as long as shmlru) and for throughput alike where marked. ")
	w("To rerun: `make bench` (full, under 15 minutes) or `make bench-quick` (a subset, under 2 minutes); both rewrite this file, `results.json` and the charts. ")
	w("`make bench-lua` measures section 5 alone and rewrites it in place, `make bench-load` section 9, `make bench-near` section 10. ")
	w("The machine is shared and noisy: differences under ~10%% are within noise.\n\n")
	if r.Quick {
		w("> This is a **quick** run (`make bench-quick`): sections 1 to 4 at one size, fewer workloads, shorter runs (section 6 still measures all three sizes), and sections 9 and 10 with 2 and 4 processes and fewer rounds. Run `make bench` for the full matrix.\n\n")
	}
	// The layout of the run that measured the figures, not the one the
	// page is rendered with: a run of one section re-renders them all.
	layout := ""
	if r.Layout > 0 {
		layout = fmt.Sprintf(", layout %d", r.Layout)
	}
	w("Peers: **shmlru** (this project, Go API%s: each entry stored contiguously in 16-byte units behind a 32-byte header; default options unless noted: shards one per MiB up to 16, then one per 16 MiB up to 64), ", layout)
	w("**freecache** (coocood/freecache, `GetWithBuf`), **golang-lru** (hashicorp/golang-lru/v2, one exact LRU behind a mutex), ")
	w("**map+mutex** (a Go map behind a `sync.Mutex`, evicting an arbitrary entry when full), ")
	w("**redis** (redis-server via go-redis/v9, one connection per process), **memcached** (via gomemcache). ")
	w("The servers are started by the harness on 127.0.0.1 with persistence off. In-process peers copy values in and out as shmlru does (the caller's buffer is reused).\n\n")

	w("## Goals\n\n| goal | target | measured (same run) | |\n|---|---|---|---|\n")
	for _, g := range r.goals() {
		w("| %s | %s | %s | %s |\n", g.What, g.Target, g.Measured, g.Met)
	}
	w("\nWhere a goal is missed, the section *What holds shmlru back* below says by how much and shows the profile.\n\n")

	// 1. operations
	if len(r.Ops) > 0 {
		w("## 1. Go: single operations\n\n")
		w("ns/op and heap allocations/op of one goroutine; the cache is pre-filled with %s entries of the size shown (its capacity). ", "the workload's")
		w("*Get (hit)* walks the stored keys in a shuffled order; *Get (miss)* asks for absent keys; *Set (update)* overwrites stored keys; ")
		w("*Set (insert, evicting)* stores new keys into the full cache; *Delete* removes stored keys. ")
		w("shmlru's MaxEntries is %d%% of the capacity here, so that every pre-filled key is stored: MaxEntries caps each shard at MaxEntries/shards, and keys hash unevenly over the shards (at exactly the capacity, a third of the sets of *Set (update)* were inserts that evicted; see `opsRoom` in bench/cmd/shmlru-bench/ops.go). Its region has room to spare, so that MaxEntries, not room, evicts (bench/internal/peers.ShmlruOptions).\n\n", opsRoom)
		peersOps := uniq(r.Ops, func(o OpResult) string { return o.Peer })
		for _, sz := range uniq(r.Ops, func(o OpResult) string { return o.Size }) {
			w("### %s\n\n| op |", sz)
			cols(1, peersOps)
			for _, op := range opNames {
				base, _ := r.op(sz, op, "shmlru")
				w("| %s |", op)
				for _, p := range peersOps {
					s, ok := r.op(sz, op, p)
					if !ok {
						w(" – |")
						continue
					}
					if p == "shmlru" {
						w(" **%s** · %s alloc |", fmtNs(s.NsPerOp), fmtAllocs(s.AllocsPerOp()))
					} else {
						w(" %s · %s alloc · %s |", fmtNs(s.NsPerOp), fmtAllocs(s.AllocsPerOp()), fmtRatio(s.NsPerOp/base.NsPerOp))
					}
				}
				w("\n")
			}
			w("\n")
		}
		w("![Go single operations](go-ops.png)\n\n")
	}

	// 2. mixed
	if len(r.Mixed) > 0 {
		w("## 2. Go: mixed workloads, one process\n\n")
		w("A pre-generated trace is replayed: each request picks a key (with probability *hit* from a hot set of 0.6·hit·capacity keys, ")
		w("popular uniformly or by Zipf(0.99); otherwise a key that occurs once), then is a get (r90: 90%%, r50: 50%%) or a set. ")
		w("A get that misses sets the key (cache-aside), in the same request. Caches are sized for the capacity below ")
		w("(shmlru by MaxEntries, golang-lru and map+mutex by count, freecache by bytes, redis by maxmemory, memcached has 256 MB), ")
		w("pre-filled with the hot set and warmed up with the trace. Cells: ns per request · ratio to shmlru; the measured hit ratio is in the second table.\n\n")
		peersMixed := uniq(r.Mixed, func(m MixedResult) string { return m.Peer })
		for _, sz := range uniq(r.Mixed, func(m MixedResult) string { return m.Size }) {
			var works []string
			for _, wk := range uniq(r.Mixed, func(m MixedResult) string { return m.Workload }) {
				if strings.HasPrefix(wk, sz+" ") {
					works = append(works, wk)
				}
			}
			cap := 0
			for _, s := range workload.Sizes {
				if s.String() == sz {
					cap = capacityFor(s)
				}
			}
			w("### %s, capacity %d entries\n\n| workload |", sz, cap)
			cols(1, peersMixed)
			for _, wk := range works {
				base, _ := r.mixed(wk, "shmlru", 1)
				w("| %s |", strings.TrimPrefix(wk, sz+" "))
				for _, p := range peersMixed {
					s, ok := r.mixed(wk, p, 1)
					if !ok {
						w(" – |")
					} else if p == "shmlru" {
						w(" **%s** · %s alloc |", fmtNs(s.Median.NsPerOp), fmtAllocs(s.Median.AllocsPerOp()))
					} else {
						w(" %s · %s alloc · %s |", fmtNs(s.Median.NsPerOp), fmtAllocs(s.Median.AllocsPerOp()), fmtRatio(s.Median.NsPerOp/base.Median.NsPerOp))
					}
				}
				w("\n")
			}
			w("\nMeasured hit ratios:\n\n| workload |")
			cols(1, peersMixed)
			for _, wk := range works {
				w("| %s |", strings.TrimPrefix(wk, sz+" "))
				for _, p := range peersMixed {
					s, _ := r.mixed(wk, p, 1)
					w(" %.3f |", s.Median.HitRatio())
				}
				w("\n")
			}
			w("\n![mixed workloads %s](%s)\n\n", sz, mixedChartName(sz))
		}

		w("## 3. Go: mixed workloads, two processes\n\n")
		w("The same workloads with two workers sharing one cache: for shmlru two **processes** (this binary re-executed) mapping one region; ")
		w("for redis and memcached two client processes; for the in-process caches two **goroutines** — they cannot be shared across processes at all, ")
		w("so their column is what one process with two threads gets. Cells: aggregate throughput · ratio of shmlru's throughput to the peer's (×2.00 = shmlru does twice as much) · speed-up over one worker.\n\n")
		for _, sz := range uniq(r.Mixed, func(m MixedResult) string { return m.Size }) {
			w("### %s\n\n| workload |", sz)
			cols(1, peersMixed)
			for _, wk := range uniq(r.Mixed, func(m MixedResult) string { return m.Workload }) {
				if !strings.HasPrefix(wk, sz+" ") {
					continue
				}
				base, _ := r.mixed(wk, "shmlru", 2)
				w("| %s |", strings.TrimPrefix(wk, sz+" "))
				for _, p := range peersMixed {
					s2, ok := r.mixed(wk, p, 2)
					s1, _ := r.mixed(wk, p, 1)
					if !ok {
						w(" – |")
						continue
					}
					up := s2.Median.OpsPerSec() / s1.Median.OpsPerSec()
					if s2.Median.NsPerOp > 0 && s1.Median.NsPerOp > 0 {
						up = s1.Median.NsPerOp / s2.Median.NsPerOp
					}
					if p == "shmlru" {
						w(" **%s** · ↑%.2f |", fmtOps(1e9/s2.Median.NsPerOp), up)
					} else {
						w(" %s · %s · ↑%.2f |", fmtOps(1e9/s2.Median.NsPerOp), fmtRatio(s2.Median.NsPerOp/base.Median.NsPerOp), up)
					}
				}
				w("\n")
			}
			w("\n")
		}
	}

	// 4. scaling
	if len(r.Scaling) > 0 {
		w("## 4. Throughput scaling, 1 to N workers\n\n")
		w("Read-heavy (90%% gets) 16B/32B workloads at a 95%% hit rate. shmlru, redis and memcached: N processes; the in-process caches: N goroutines in one process (not shareable across processes). ")
		w("The machine has %d cores, so N above %d oversubscribes it (and the servers share the cores with their clients). Cells: aggregate throughput · speed-up over N=1.\n\n", m.Cores, m.Cores)
		ns := uniq(r.Scaling, func(s ScaleResult) string { return fmt.Sprint(s.N) })
		nHeads := make([]string, len(ns))
		for i, n := range ns {
			nHeads[i] = "N=" + n
		}
		for _, wk := range uniq(r.Scaling, func(s ScaleResult) string { return s.Workload }) {
			w("### %s\n\n| peer | workers |", wk)
			cols(2, nHeads)
			for _, p := range uniq(r.Scaling, func(s ScaleResult) string { return s.Peer }) {
				one, _ := r.scale(wk, p, 1)
				mode := "processes"
				for _, s := range r.Scaling {
					if s.Peer == p && s.Mode == "goroutines" {
						mode = "goroutines"
					}
				}
				w("| %s | %s |", p, mode)
				for _, n := range ns {
					var nn int
					fmt.Sscan(n, &nn)
					s, ok := r.scale(wk, p, nn)
					if !ok {
						w(" – |")
						continue
					}
					w(" %s · ↑%.2f |", fmtOps(s.OpsPerSec), s.OpsPerSec/one.OpsPerSec)
				}
				w("\n")
			}
			w("\n")
		}
		w("![scaling](scaling.png)\n\n")
	}

	// 5. LuaJIT
	w("## 5. LuaJIT in an nginx worker\n\n")
	if len(r.Lua) == 0 {
		note := r.LuaNote
		if note == "" {
			note = "the section was not run."
		}
		w("Not measured in this run: %s\n\n", note)
	} else {
		renderLua(w, r)
	}

	// 6. density
	if len(r.Density) > 0 {
		sizes := uniq(r.Density, func(d DensityResult) string { return d.size() })
		w("## 6. Entries a 64 MiB cache holds\n\n")
		w("For each size, distinct keys are stored until a set first has to evict (*first eviction*), then as many again; *held* is the entry count after that. ")
		w("shmlru is at default options (only Size given), and its region file is 64 MiB in all (header, hash index and free bitmap included); lua_shared_dict's zone is `64m`, a zone of its own for each size, filled through ngx.shared.DICT in the nginx worker of section 5. ")
		w("*bytes/entry* is 64 MiB ÷ held. shmlru's notes give its geometry and, at the end of the fill, the entries stored as a chain of pieces for want of a free run long enough, and the free bytes and the runs they are in.\n\n")
		w("| size | cache | first eviction | held | bytes/entry | vs lua_shared_dict | notes |\n|---|---|---|---|---|---|---|\n")
		for _, sz := range sizes {
			dict, _ := r.density(sz, "lua_shared_dict")
			for _, d := range r.Density {
				if d.size() != sz {
					continue
				}
				ratio := "–"
				if d.Steady > 0 && dict.Steady > 0 {
					ratio = fmtRatio(float64(d.Steady) / float64(dict.Steady))
				}
				if d.Steady == 0 {
					w("| %s | %s | – | – | – | – | %s |\n", sz, d.Cache, d.Note)
					continue
				}
				w("| %s | %s | %d | %d | %.1f | %s | %s |\n", sz, d.Cache, d.FirstEviction, d.Steady, d.BytesPerEntry, ratio, d.Note)
			}
		}
		w("\n![density](density.png)\n\n")
	}

	// 7. hit ratio
	if len(r.HitRatio) > 0 {
		w("## 7. Hit ratio against an exact LRU\n\n")
		w("One Zipf(0.99) trace of 16 B keys (cache-aside: a miss sets the key) through shmlru and through hashicorp/golang-lru sized to the entries shmlru held in steady state; ")
		w("the first third warms up, the rest is counted. The region (%s) is small next to the trace's working set, so eviction decides the hit ratio. ", fmtBytes(r.HitSize))
		w("shmlru keeps its order within a shard, not across shards, and since layout 6 it is CLOCK rather than an exact LRU: reads mark entries, writes move them to the head, and eviction gives a marked tail entry a second chance (docs/protocol.md). The region here has the shard count in the table; 64 is the most the default picks.\n\n")
		w("| cache | entries | shards | evictions | hit ratio | vs exact LRU |\n|---|---|---|---|---|---|\n")
		for _, h := range r.HitRatio {
			ev := "–"
			if strings.HasPrefix(h.Cache, "shmlru") {
				ev = fmt.Sprint(h.Evicted)
			}
			w("| %s | %d | %d | %s | %.4f | %.4f× |\n", h.Cache, h.Entries, h.Shards, ev, h.HitRatio, h.VsExact)
		}
		w("\n")
	}

	// 8. profiles
	if disc := discussion(r); len(r.Profiles) > 0 || strings.TrimSpace(disc) != "" {
		w("## 8. What holds shmlru back: profiles\n\n")
		if len(r.Profiles) == 0 {
			w("No profiles were taken in this run.\n\n")
		} else {
			w("CPU profiles of shmlru's get and set loops at each size and of freecache's at 16B/32B (hits, as in section 1), and of one of the processes of the scaling goal's workload, taken in the same run (files in `bench/profiles/`, read them with `go tool pprof -top`).\n\n")
		}
		w("%s", disc)
		for _, p := range r.Profiles {
			w("<details><summary>%s — <code>%s</code></summary>\n\n```\n%s\n```\n</details>\n\n", p.Name, p.File, p.Top)
		}
	}
	// 9. read-through
	if r.Load != nil {
		renderLoad(w, r)
	}
	// 10. near cache
	if r.Near != nil {
		renderNear(w, r)
	}
	if err := os.WriteFile(filepath.Join(out, "RESULTS.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return charts(r, out, func(s string) bool { return len(only) == 0 || only[s] })
}

func mixedChartName(sz string) string {
	return "mixed-" + strings.NewReplacer("/", "-", "B", "b").Replace(sz) + ".png"
}

// ---- charts ----

func charts(r *Results, out string, want func(section string) bool) error {
	if len(r.Ops) > 0 && want("ops") {
		peersOps := uniq(r.Ops, func(o OpResult) string { return o.Peer })
		sizes := uniq(r.Ops, func(o OpResult) string { return o.Size })
		var groups [][2]string
		for i, sz := range sizes {
			for _, op := range opNames {
				if i == 0 || op == "Get (hit)" || op == "Set (update)" {
					groups = append(groups, [2]string{sz, op})
				}
			}
		}
		c := chart.Bars{Title: "Go: ns per operation (log scale, lower is better)", YLabel: "ns/op", Series: peersOps, Log: true}
		for _, g := range groups {
			c.Groups = append(c.Groups, strings.Replace(g[1], " (", "\n(", 1)+"\n"+g[0])
		}
		for _, p := range peersOps {
			var vs []float64
			for _, g := range groups {
				s, _ := r.op(g[0], g[1], p)
				vs = append(vs, s.NsPerOp)
			}
			c.Values = append(c.Values, vs)
		}
		if err := c.WritePNG(filepath.Join(out, "go-ops.png")); err != nil {
			return err
		}
	}
	if len(r.Mixed) > 0 && want("mixed") {
		pm := uniq(r.Mixed, func(m MixedResult) string { return m.Peer })
		for _, sz := range uniq(r.Mixed, func(m MixedResult) string { return m.Size }) {
			c := chart.Bars{Title: "Go mixed workloads " + sz + ", one process: ns per request (log scale)", YLabel: "ns/request", Series: pm, Log: true}
			var works []string
			for _, wk := range uniq(r.Mixed, func(m MixedResult) string { return m.Workload }) {
				if strings.HasPrefix(wk, sz+" ") {
					works = append(works, wk)
					f := strings.Fields(strings.TrimPrefix(wk, sz+" "))
					c.Groups = append(c.Groups, strings.Join(f, "\n"))
				}
			}
			for _, p := range pm {
				var vs []float64
				for _, wk := range works {
					s, _ := r.mixed(wk, p, 1)
					vs = append(vs, s.Median.NsPerOp)
				}
				c.Values = append(c.Values, vs)
			}
			if err := c.WritePNG(filepath.Join(out, mixedChartName(sz))); err != nil {
				return err
			}
		}
	}
	if len(r.Scaling) > 0 && want("scale") {
		wk := r.Scaling[0].Workload
		ps := uniq(r.Scaling, func(s ScaleResult) string { return s.Peer })
		ns := uniq(r.Scaling, func(s ScaleResult) string { return fmt.Sprint(s.N) })
		nHeads := make([]string, len(ns))
		for i, n := range ns {
			nHeads[i] = "N=" + n
		}
		c := chart.Bars{Title: "Throughput, " + wk + ": 1 to N workers (higher is better)", YLabel: "Mops/s", Labels: true}
		for _, n := range ns {
			c.Series = append(c.Series, "N="+n)
		}
		for _, p := range ps {
			mode := "processes"
			if s, _ := r.scale(wk, p, 2); s.Mode == "goroutines" {
				mode = "goroutines"
			}
			name, _, _ := strings.Cut(p, " (")
			c.Groups = append(c.Groups, name+"\n("+mode+")")
		}
		for _, n := range ns {
			var vs []float64
			var nn int
			fmt.Sscan(n, &nn)
			for _, p := range ps {
				s, _ := r.scale(wk, p, nn)
				vs = append(vs, s.OpsPerSec/1e6)
			}
			c.Values = append(c.Values, vs)
		}
		if err := c.WritePNG(filepath.Join(out, "scaling.png")); err != nil {
			return err
		}
	}
	if len(r.Lua) > 0 && want("lua") {
		c := luaChart(r)
		if err := c.WritePNG(filepath.Join(out, "lua.png")); err != nil {
			return err
		}
	}
	if len(r.Density) > 0 && want("density") {
		sizes := uniq(r.Density, func(d DensityResult) string { return d.size() })
		caches := uniq(r.Density, func(d DensityResult) string { return d.Cache })
		c := chart.Bars{Title: "Entries held in 64 MiB (log scale, higher is better)", YLabel: "entries", Series: caches, Groups: sizes, Log: true, Labels: true, Missing: "n/a"}
		for _, name := range caches {
			var vs []float64
			for _, sz := range sizes {
				v := math.NaN()
				for _, d := range r.Density {
					if d.Cache == name && d.size() == sz && d.Steady > 0 {
						v = float64(d.Steady)
					}
				}
				vs = append(vs, v)
			}
			c.Values = append(c.Values, vs)
		}
		if err := c.WritePNG(filepath.Join(out, "density.png")); err != nil {
			return err
		}
	}
	return nil
}
