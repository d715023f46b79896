package main

import (
	"fmt"
	"strings"
)

// loadTables: loads per key and the time until all callers have the
// value, where that time goes, the checks of every round, and the loader
// takeover.
func loadTables(r *Results) []table {
	s := r.Load
	st := table{title: fmt.Sprintf("Stampede: %d rounds per N and peer, loader %s; median · p99", s.Rounds, fmtNs(s.LoaderMs*1e6)),
		head: []string{"processes × callers", "loads per key: shmlru", "loads per key: singleflight", "all have the value: shmlru", "all have the value: singleflight", "singleflight ÷ shmlru (median)"}}
	spread := table{title: "Where the time goes besides the loader's (medians)",
		head: []string{"processes × callers", "last caller asked: shmlru", "last caller asked: singleflight", "first to last has the value: shmlru", "first to last: singleflight"}}
	for _, n := range uniq(s.Stampede, func(r StampedeResult) int { return r.Procs }) {
		a, okA := s.stampede(n, loadShmlru)
		b, okB := s.stampede(n, loadSingleflight)
		ratio := "–"
		if okA && okB {
			ratio = fmtRatio(median(b.AllNs) / median(a.AllNs))
		}
		pc := fmt.Sprintf("%d × %d", n, s.Goroutines)
		st.row(pc, fmtLoads(a.Loads), fmtLoads(b.Loads), fmtMedianP99(a.AllNs), fmtMedianP99(b.AllNs), ratio)
		spread.row(pc, fmtNs(median(a.LastStartNs)), fmtNs(median(b.LastStartNs)), fmtNs(median(a.DoneSpreadNs)), fmtNs(median(b.DoneSpreadNs)))
	}
	checks := table{head: []string{"checks"}, rows: [][]string{{s.stampedeChecks()}}}
	ts := []table{st, spread, checks}
	t := s.Takeover
	if t == nil {
		return ts
	}
	tk := table{title: fmt.Sprintf("Loader takeover: the loading process SIGKILLed mid-load, %d waiting processes of %d callers", t.Waiters, t.Goroutines),
		head: []string{"from the SIGKILL until", "median", "p99", "largest", "rounds"}}
	row := func(what string, xs []float64) {
		tk.row(what, fmtNs(median(xs)), fmtNs(p99(xs)), fmtNs(percentile(xs, 100)), fmt.Sprint(len(xs)))
	}
	row("the harness has reaped the killed process", t.ReapNs)
	row("a waiter has taken the load over (its loader is called)", t.TakeoverNs)
	row(fmt.Sprintf("every caller of the %d waiting processes has the value", t.Waiters), t.AllNs)
	return append(ts, tk, table{head: []string{"checks"}, rows: [][]string{{t.checks()}}})
}

func (s *LoadSection) stampede(n int, peer string) (StampedeResult, bool) {
	r, ok := find(s.Stampede, func(r StampedeResult) bool { return r.Procs == n && r.Peer == peer })
	return r, ok && len(r.Loads) > 0
}

// count is how many of xs are x.
func count(xs []int, x int) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// stampedeChecks says whether every caller got its value, and whether
// shmlru loaded each key exactly once, in every round.
func (s *LoadSection) stampedeChecks() string {
	var parts []string
	var errs failures
	var claims, waits uint64
	rounds, once := 0, 0
	for _, r := range s.Stampede {
		errs.add(failures{r.Errors, fmt.Sprintf("%d processes, %s: %s", r.Procs, r.Peer, r.Err)})
		if r.Peer == loadShmlru {
			rounds += len(r.Loads)
			once += count(r.Loads, 1)
			claims += r.Claims
			waits += r.Waits
		}
	}
	if errs.Errors == 0 {
		parts = append(parts, "Every caller got its key's value in every round.")
	} else {
		parts = append(parts, fmt.Sprintf("**%d callers got an error or a wrong value** (the first: %s).", errs.Errors, errs.Err))
	}
	if once == rounds {
		parts = append(parts, fmt.Sprintf("shmlru ran the loader exactly once per key in all %d of its rounds", rounds))
	} else {
		parts = append(parts, fmt.Sprintf("**shmlru ran the loader other than once per key in %d of its %d rounds**", rounds-once, rounds))
	}
	parts = append(parts, fmt.Sprintf("(its own counters, `LoadStats()`, show %d loads claimed and %d waits on another process's load in those rounds).", claims, waits))
	return strings.Join(parts, " ")
}

// checks says whether each takeover round had one loader call among the
// waiters and every caller its value, and what lru counted.
func (t *TakeoverResult) checks() string {
	once := count(t.Loads, 1)
	var b strings.Builder
	if once == len(t.Loads) {
		fmt.Fprintf(&b, "The waiting processes ran the loader exactly once in each of the %d rounds", len(t.Loads))
	} else {
		fmt.Fprintf(&b, "**The waiting processes ran the loader other than once in %d of the %d rounds**", len(t.Loads)-once, len(t.Loads))
	}
	fmt.Fprintf(&b, ", and shmlru counted %d takeovers (`LoadStats().Takeovers`). ", t.Takeovers)
	if t.Errors == 0 {
		b.WriteString("Every caller got the value.")
	} else {
		fmt.Fprintf(&b, "**%d rounds or callers went wrong** (the first: %s).", t.Errors, t.Err)
	}
	return b.String()
}
