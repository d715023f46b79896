// Command shmlru-charts draws bench/'s PNG charts from the JSON files
// that shmlru-bench writes (one per section, or one file holding several
// sections):
//
//	shmlru-charts -out . out/*.json
//
// It draws the charts whose figures the files hold and leaves the others
// alone. The figures are read by field name, so that the charts depend on
// the files' format and not on the harness's code.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// sample is the part of a timed run that the charts use.
type sample struct {
	NsPerOp float64 `json:"ns_per_op"`
}

// results holds the sections of shmlru-bench's JSON files that have
// charts.
type results struct {
	Ops     []opCell
	Mixed   []mixedCell
	Scaling []scaleCell
	Density []densityCell
	Lua     []luaCell
}

type opCell struct {
	Size, Op, Peer string
	Median         sample
}

type mixedCell struct {
	Workload, Size, Peer string
	Procs                int
	Median               sample
}

type scaleCell struct {
	Workload, Peer, Mode string
	N                    int
	OpsPerSec            float64 `json:"ops_per_sec"`
}

type densityCell struct {
	Size, Cache string
	Steady      int
}

type luaCell struct {
	Keys     int
	Op, Peer string
	Ns       float64
}

func main() {
	out := flag.String("out", ".", "directory for the PNGs")
	flag.Parse()
	var r results
	for _, f := range flag.Args() {
		b, err := os.ReadFile(f)
		check(err)
		var one results
		check(json.Unmarshal(b, &one))
		r.Ops, r.Mixed, r.Scaling = append(r.Ops, one.Ops...), append(r.Mixed, one.Mixed...), append(r.Scaling, one.Scaling...)
		r.Density, r.Lua = append(r.Density, one.Density...), append(r.Lua, one.Lua...)
	}
	check(draw(&r, *out))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "shmlru-charts:", err)
		os.Exit(1)
	}
}

// draw writes the charts of the sections that r holds to dir.
func draw(r *results, dir string) error {
	var errs []error
	save := func(name string, p *plot.Plot, groups int) {
		w := max(7*vg.Inch, vg.Length(groups)*0.9*vg.Inch)
		if err := p.Save(w, 4.5*vg.Inch, filepath.Join(dir, name)); err != nil {
			errs = append(errs, err)
			return
		}
		fmt.Fprintln(os.Stderr, "wrote", filepath.Join(dir, name))
	}
	if len(r.Ops) > 0 {
		peers := uniq(len(r.Ops), func(i int) string { return r.Ops[i].Peer })
		var groups [][2]string // size, op
		for i, sz := range uniq(len(r.Ops), func(i int) string { return r.Ops[i].Size }) {
			for _, op := range uniq(len(r.Ops), func(i int) string { return r.Ops[i].Op }) {
				if i == 0 || op == "Get (hit)" || op == "Set (update)" {
					groups = append(groups, [2]string{sz, op})
				}
			}
		}
		labels := make([]string, len(groups))
		for i, g := range groups {
			labels[i] = strings.Replace(g[1], " (", "\n(", 1) + "\n" + g[0]
		}
		save("go-ops.png", bars("Go: ns per operation (log scale, lower is better)", "ns/op", true, labels, peers, func(g, s int) float64 {
			o := first(r.Ops, func(o opCell) bool { return o.Size == groups[g][0] && o.Op == groups[g][1] && o.Peer == peers[s] })
			return o.Median.NsPerOp
		}), len(groups))
	}
	if len(r.Mixed) > 0 {
		peers := uniq(len(r.Mixed), func(i int) string { return r.Mixed[i].Peer })
		for _, sz := range uniq(len(r.Mixed), func(i int) string { return r.Mixed[i].Size }) {
			var works, labels []string
			for _, wk := range uniq(len(r.Mixed), func(i int) string { return r.Mixed[i].Workload }) {
				if w, ok := strings.CutPrefix(wk, sz+" "); ok {
					works, labels = append(works, wk), append(labels, strings.ReplaceAll(w, " ", "\n"))
				}
			}
			name := "mixed-" + strings.NewReplacer("/", "-", "B", "b").Replace(sz) + ".png"
			save(name, bars("Go mixed workloads "+sz+", one process: ns per request (log scale)", "ns/request", true, labels, peers, func(g, s int) float64 {
				m := first(r.Mixed, func(m mixedCell) bool { return m.Workload == works[g] && m.Peer == peers[s] && m.Procs == 1 })
				return m.Median.NsPerOp
			}), len(works))
		}
	}
	if len(r.Scaling) > 0 {
		wk := r.Scaling[0].Workload
		peers := uniq(len(r.Scaling), func(i int) string { return r.Scaling[i].Peer })
		ns := uniq(len(r.Scaling), func(i int) string { return fmt.Sprint(r.Scaling[i].N) })
		labels := make([]string, len(peers))
		for i, p := range peers {
			name, _, _ := strings.Cut(p, " (")
			labels[i] = name + "\n(processes)"
			for _, s := range r.Scaling {
				if s.Peer == p && s.Mode == "goroutines" {
					labels[i] = name + "\n(goroutines)"
				}
			}
		}
		series := make([]string, len(ns))
		for i, n := range ns {
			series[i] = "N=" + n
		}
		save("scaling.png", bars("Throughput, "+wk+": 1 to N workers (higher is better)", "Mops/s", false, labels, series, func(g, s int) float64 {
			x := first(r.Scaling, func(x scaleCell) bool { return x.Workload == wk && x.Peer == peers[g] && fmt.Sprint(x.N) == ns[s] })
			return x.OpsPerSec / 1e6
		}), len(peers))
	}
	if len(r.Lua) > 0 {
		peers := []string{"shmlru", "shdict", "lrucache", "pureffi"} // the calibration loops are in the tables only
		type group struct {
			keys int
			op   string
		}
		var groups []group
		var labels []string
		for _, l := range r.Lua {
			if g := (group{l.Keys, l.Op}); l.Peer == peers[0] && !slices.Contains(groups, g) {
				groups = append(groups, g)
				labels = append(labels, strings.Replace(l.Op, " (", "\n(", 1)+fmt.Sprintf("\n%d keys", l.Keys))
			}
		}
		save("lua.png", bars("LuaJIT, one nginx worker, 16B/32B: ns/op (log scale; no bar: no such op)", "ns/op", true, labels, peers, func(g, s int) float64 {
			l := first(r.Lua, func(l luaCell) bool { return l.Keys == groups[g].keys && l.Op == groups[g].op && l.Peer == peers[s] })
			return l.Ns
		}), len(groups))
	}
	if len(r.Density) > 0 {
		sizes := uniq(len(r.Density), func(i int) string { return r.Density[i].Size })
		caches := uniq(len(r.Density), func(i int) string { return r.Density[i].Cache })
		save("density.png", bars("Entries held in 64 MiB (log scale, higher is better)", "entries", true, sizes, caches, func(g, s int) float64 {
			d := first(r.Density, func(d densityCell) bool { return d.Size == sizes[g] && d.Cache == caches[s] })
			return float64(d.Steady)
		}), len(sizes))
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// bars is a bar chart with one group of bars per label in groups and one
// bar per series in each, of height val(group, series); a value of 0 or
// NaN draws no bar.
func bars(title, ylabel string, log bool, groups, series []string, val func(g, s int) float64) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	w := vg.Length(min(16, 60/float64(len(series))))
	lo, hi := math.Inf(1), 0.0
	for s, name := range series {
		vs := make(plotter.Values, len(groups))
		for g := range groups {
			if v := val(g, s); v > 0 && !math.IsInf(v, 0) {
				vs[g], lo, hi = v, min(lo, v), max(hi, v)
			}
		}
		b, err := plotter.NewBarChart(vs, w)
		check(err)
		b.Offset = w * vg.Length(float64(s)-float64(len(series)-1)/2)
		b.Color = plotutil.Color(s)
		b.LineStyle.Width = 0
		p.Add(b)
		p.Legend.Add(name, b)
	}
	p.NominalX(groups...)
	if log && hi > 0 {
		p.Y.Scale, p.Y.Tick.Marker = floorLog{}, plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = lo/2, hi*math.Pow(hi/lo*2, 0.6) // room above the bars for the legend
	} else {
		p.Y.Max = hi * 1.6
	}
	return p
}

// floorLog is a log scale on which a bar's foot, at 0, stands on the
// axis's minimum.
type floorLog struct{}

func (floorLog) Normalize(min, max, x float64) float64 {
	return plot.LogScale{}.Normalize(min, max, math.Max(x, min))
}

// first is the first of xs that match, or the zero value (no bar).
func first[T any](xs []T, match func(T) bool) T {
	if i := slices.IndexFunc(xs, match); i >= 0 {
		return xs[i]
	}
	var zero T
	return zero
}

// uniq are the distinct values of key over n items, in order.
func uniq(n int, key func(i int) string) []string {
	var out []string
	for i := 0; i < n; i++ {
		if k := key(i); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}
