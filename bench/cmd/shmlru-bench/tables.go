package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/shmlru/shmlru/bench/internal/workload"
)

// table is one Markdown table of measured figures, under an optional
// heading.
type table struct {
	title string
	head  []string
	rows  [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// grid adds to t a row for each of rows: its name, then cell(row, col) for
// each of cols.
func grid[C any](t *table, rows []string, cols []C, cell func(row string, col C) string) {
	for _, r := range rows {
		cells := []string{r}
		for _, c := range cols {
			cells = append(cells, cell(r, c))
		}
		t.row(cells...)
	}
}

func (t table) write(w io.Writer) {
	if t.title != "" {
		fmt.Fprintf(w, "### %s\n\n", t.title)
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(t.head, " | "), strings.Repeat("---|", len(t.head)))
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

// fmtCell is a time cell: shmlru's in bold, a peer's with its ratio to
// base.
func fmtCell(s Sample, base float64, isBase bool) string {
	if isBase {
		return fmt.Sprintf("**%s** · %s alloc", fmtNs(s.NsPerOp), fmtAllocs(s.AllocsPerOp()))
	}
	return fmt.Sprintf("%s · %s alloc · %s", fmtNs(s.NsPerOp), fmtAllocs(s.AllocsPerOp()), fmtRatio(s.NsPerOp/base))
}

// uniq are the distinct keys of xs, in order.
func uniq[T any, K comparable](xs []T, key func(T) K) []K {
	var out []K
	for _, x := range xs {
		if k := key(x); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// filter are the xs that match, in order.
func filter[T any](xs []T, match func(T) bool) []T {
	var out []T
	for _, x := range xs {
		if match(x) {
			out = append(out, x)
		}
	}
	return out
}

// find is the first of xs that match, and whether there is one.
func find[T any](xs []T, match func(T) bool) (T, bool) {
	if i := slices.IndexFunc(xs, match); i >= 0 {
		return xs[i], true
	}
	var zero T
	return zero, false
}

func (r *Results) op(size, op, peer string) (Sample, bool) {
	o, ok := find(r.Ops, func(o OpResult) bool { return o.Size == size && o.Op == op && o.Peer == peer })
	return o.Median, ok
}

func (r *Results) mixed(work, peer string, procs int) (MixedResult, bool) {
	return find(r.Mixed, func(m MixedResult) bool { return m.Workload == work && m.Peer == peer && m.Procs == procs })
}

func (r *Results) scale(work, peer string, n int) (ScaleResult, bool) {
	return find(r.Scaling, func(s ScaleResult) bool { return s.Workload == work && s.Peer == peer && s.N == n })
}

// ---- sections 1 to 4, 6 to 8 ----

// opsTables: per size, ns/op · allocs/op · ratio of every op and peer.
func opsTables(r *Results) []table {
	var ts []table
	ps := uniq(r.Ops, func(o OpResult) string { return o.Peer })
	for _, sz := range uniq(r.Ops, func(o OpResult) string { return o.Size }) {
		t := table{title: sz, head: append([]string{"op"}, ps...)}
		grid(&t, opNames, ps, func(op, p string) string {
			base, _ := r.op(sz, op, "shmlru")
			if s, ok := r.op(sz, op, p); ok {
				return fmtCell(s, base.NsPerOp, p == "shmlru")
			}
			return "–"
		})
		ts = append(ts, t)
	}
	return ts
}

// mixedWorkloads are the workloads of size sz, and its capacity.
func (r *Results) mixedWorkloads(sz string) (works []string, capacity int) {
	for _, wk := range uniq(r.Mixed, func(m MixedResult) string { return m.Workload }) {
		if strings.HasPrefix(wk, sz+" ") {
			works = append(works, wk)
		}
	}
	for _, s := range workload.Sizes {
		if s.String() == sz {
			capacity = capacityFor(s)
		}
	}
	return works, capacity
}

// mixedTables: per size, ns per request in one process, the measured hit
// ratios, and the throughput of two workers with its speed-up over one.
func mixedTables(r *Results) []table {
	var ts []table
	ps := uniq(r.Mixed, func(m MixedResult) string { return m.Peer })
	for _, sz := range uniq(r.Mixed, func(m MixedResult) string { return m.Size }) {
		works, capacity := r.mixedWorkloads(sz)
		one := table{title: fmt.Sprintf("%s, capacity %d entries, one process: ns per request", sz, capacity), head: append([]string{"workload"}, ps...)}
		hit := table{title: sz + ", measured hit ratios", head: one.head}
		two := table{title: sz + ", two workers: throughput · shmlru ÷ peer · speed-up over one", head: one.head}
		// Rows are named by the workload less its size.
		names := make([]string, len(works))
		for i, wk := range works {
			names[i] = strings.TrimPrefix(wk, sz+" ")
		}
		wk := func(name string) string { return sz + " " + name }
		grid(&one, names, ps, func(name, p string) string {
			b, _ := r.mixed(wk(name), "shmlru", 1)
			if s, ok := r.mixed(wk(name), p, 1); ok {
				return fmtCell(s.Median, b.Median.NsPerOp, p == "shmlru")
			}
			return "–"
		})
		grid(&hit, names, ps, func(name, p string) string {
			s, _ := r.mixed(wk(name), p, 1)
			return fmt.Sprintf("%.3f", s.Median.HitRatio())
		})
		grid(&two, names, ps, func(name, p string) string {
			s1, _ := r.mixed(wk(name), p, 1)
			b2, _ := r.mixed(wk(name), "shmlru", 2)
			if s2, ok := r.mixed(wk(name), p, 2); ok {
				return fmt.Sprintf("%s · %s · ↑%.2f", fmtOps(1e9/s2.Median.NsPerOp), fmtRatio(s2.Median.NsPerOp/b2.Median.NsPerOp), s1.Median.NsPerOp/s2.Median.NsPerOp)
			}
			return "–"
		})
		ts = append(ts, one, hit, two)
	}
	return ts
}

// scaleTables: per workload, throughput · speed-up over N=1 of each peer.
func scaleTables(r *Results) []table {
	var ts []table
	ns := uniq(r.Scaling, func(s ScaleResult) int { return s.N })
	for _, wk := range uniq(r.Scaling, func(s ScaleResult) string { return s.Workload }) {
		t := table{title: wk, head: []string{"peer", "workers"}}
		for _, n := range ns {
			t.head = append(t.head, fmt.Sprintf("N=%d", n))
		}
		for _, p := range uniq(r.Scaling, func(s ScaleResult) string { return s.Peer }) {
			one, _ := r.scale(wk, p, 1)
			row := []string{p, "processes"}
			for _, n := range ns {
				s, ok := r.scale(wk, p, n)
				if !ok {
					row = append(row, "–")
					continue
				}
				if s.Mode == "goroutines" {
					row[1] = "goroutines"
				}
				row = append(row, fmt.Sprintf("%s · ↑%.2f", fmtOps(s.OpsPerSec), s.OpsPerSec/one.OpsPerSec))
			}
			t.row(row...)
		}
		ts = append(ts, t)
	}
	return ts
}

// densityTables: entries held in 64 MiB, against lua_shared_dict's.
func densityTables(r *Results) []table {
	t := table{head: []string{"size", "cache", "first eviction", "held", "bytes/entry", "vs lua_shared_dict", "notes"}}
	for _, sz := range uniq(r.Density, func(d DensityResult) string { return d.Size }) {
		var dict DensityResult
		for _, d := range r.Density {
			if d.Size == sz && strings.HasPrefix(d.Cache, "lua_shared_dict") {
				dict = d
			}
		}
		for _, d := range r.Density {
			if d.Size != sz {
				continue
			}
			if d.Steady == 0 {
				t.row(sz, d.Cache, "–", "–", "–", "–", d.Note)
				continue
			}
			t.row(sz, d.Cache, fmt.Sprint(d.FirstEviction), fmt.Sprint(d.Steady), fmt.Sprintf("%.1f", d.BytesPerEntry),
				fmtRatio(float64(d.Steady)/float64(dict.Steady)), d.Note)
		}
	}
	return []table{t}
}

// hitTables: the hit ratio of one Zipf trace, against an exact LRU.
func hitTables(r *Results) []table {
	t := table{title: fmt.Sprintf("Zipf(%.2f), region of %d MiB", workload.ZipfS, r.HitSize>>20),
		head: []string{"cache", "entries", "shards", "evictions", "hit ratio", "vs exact LRU"}}
	for _, h := range r.HitRatio {
		ev := "–"
		if strings.HasPrefix(h.Cache, "shmlru") {
			ev = fmt.Sprint(h.Evicted)
		}
		t.row(h.Cache, fmt.Sprint(h.Entries), fmt.Sprint(h.Shards), ev, fmt.Sprintf("%.4f", h.HitRatio), fmt.Sprintf("%.4f×", h.VsExact))
	}
	return []table{t}
}

// profileTables: each profile's file and the first rows of its `pprof
// -top`, function by function.
func profileTables(r *Results) []table {
	var ts []table
	for _, p := range r.Profiles {
		t := table{title: fmt.Sprintf("%s (`%s`)", p.Name, p.File), head: []string{"flat", "flat%", "sum%", "cum", "cum%", "function"}}
		started := false
		for _, l := range strings.Split(p.Top, "\n") {
			f := strings.Fields(l)
			if len(f) >= 5 && f[0] == "flat" {
				started = true
				continue
			}
			if started && len(f) >= 6 && len(t.rows) < 12 {
				t.row(append(f[:5], "`"+strings.Join(f[5:], " ")+"`")...)
			}
		}
		ts = append(ts, t)
	}
	return ts
}
