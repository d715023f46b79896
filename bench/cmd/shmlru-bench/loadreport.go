package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shmlru/shmlru/shm"
)

// renderLoad writes section 9 of RESULTS.md: the stampede table and the
// loader takeover.
func renderLoad(w func(string, ...any), r *Results) {
	s := r.Load
	run := r.runOf("load")
	m := r.Machine
	procs := s.procs()
	w("## 9. Read-through: a stampede of processes on a cold key\n\n")
	layout := ""
	if run.Layout > 0 {
		layout = fmt.Sprintf(" with shmlru's layout %d", run.Layout)
	}
	alone := " (`make bench-load` measures this section alone, in under 2 minutes)"
	if run.Command == "make bench-load" {
		alone = ""
	}
	w("Measured by `%s` on %s%s%s, on %s, %d cores, shared with other work and noisy: a figure that differs by under ~10%% from another is within noise.\n\n", run.Command, run.Date, layout, alone, m.CPU, m.Cores)
	w("N processes (this binary re-executed), each with %d goroutines, open one shmlru region. ", s.Goroutines)
	w("Each round, every caller of every process asks for the same fresh key at once: each process starts its goroutines held at a gate and says so, and when all have, the harness writes a line to each one's stdin, one after the other; a process opens its gate when it reads it. ")
	w("The loader sleeps %s (a database) and counts its calls in each process, outside the cache; the harness sums the counts. ", fmtMs(s.LoaderMs))
	w("**shmlru**: `GetOrLoad` (one loader on the whole host; the callers of one process coalesce in it first). ")
	w("**singleflight**: the cache-aside a service writes today, over the same region: `GetInto`, and on a miss a per-process `golang.org/x/sync/singleflight` group whose one caller reads the cache again, loads and `Set`s. ")
	w("%d rounds of fresh keys for each N and peer, the two peers alternating round by round. ", s.Rounds)
	w("*Loads per key*: loader calls in all processes for one key, the mean over the rounds (in brackets the fewest and most, where rounds differ). ")
	w("*All have the value*: from the instant before the harness writes the first line until the last caller of the last process has returned with the value, timed with CLOCK_MONOTONIC, which every process of the host shares; median · p99 over the rounds (p99 by nearest rank: with fewer than 100 rounds, the largest). ")
	w("It includes the loader's %s. ", fmtMs(s.LoaderMs))
	w("The table below it shows where the time goes besides the loader's: *last caller asked* is when the last caller began its call (the barrier's own spread; medians), and *first to last* is from the first caller having the value until the last (for shmlru, the loader's process waking the others).\n\n")
	w("| processes × callers | loads per key: shmlru | loads per key: singleflight | all have the value: shmlru | all have the value: singleflight | singleflight ÷ shmlru (median) |\n")
	w("|---|---|---|---|---|---|\n")
	for _, n := range procs {
		a, okA := s.stampede(n, loadShmlru)
		b, okB := s.stampede(n, loadSingleflight)
		ratio := "–"
		if okA && okB {
			ratio = fmtRatio(median(b.AllNs) / median(a.AllNs))
		}
		w("| %d × %d | %s | %s | %s | %s | %s |\n", n, s.Goroutines, fmtLoads(a.Loads), fmtLoads(b.Loads),
			fmtMedianP99(a.AllNs), fmtMedianP99(b.AllNs), ratio)
	}
	w("\n| processes × callers | last caller asked: shmlru | last caller asked: singleflight | first to last has the value: shmlru | first to last: singleflight |\n")
	w("|---|---|---|---|---|\n")
	for _, n := range procs {
		a, _ := s.stampede(n, loadShmlru)
		b, _ := s.stampede(n, loadSingleflight)
		w("| %d × %d | %s | %s | %s | %s |\n", n, s.Goroutines, fmtNs(median(a.LastStartNs)), fmtNs(median(b.LastStartNs)),
			fmtNs(median(a.DoneSpreadNs)), fmtNs(median(b.DoneSpreadNs)))
	}
	w("\n%s\n\n", s.stampedeChecks())
	w("The loader's time is fixed (it sleeps), so the N loads of the singleflight peer run side by side and cost its callers no time here: its cost is the extra loads that the database serves, which the loads columns count. ")
	w("The time columns show what host-wide coordination costs or saves a caller")
	if len(procs) > 0 {
		n := procs[len(procs)-1]
		a, okA := s.stampede(n, loadShmlru)
		b, okB := s.stampede(n, loadSingleflight)
		if okA && okB {
			d := median(a.AllNs) - median(b.AllNs)
			than := "later"
			if d < 0 {
				d, than = -d, "sooner"
			}
			w(": at %d processes, shmlru's callers all had the value %s %s than singleflight's (medians)", n, fmtNs(d), than)
		}
	}
	w(".\n\n")

	w("### Loader takeover: the loading process SIGKILLed mid-load\n\n")
	t := s.Takeover
	if t == nil {
		w("Not measured in this run.\n\n")
		return
	}
	w("Each round a fresh process claims a fresh key's load with `GetOrLoad`, and its loader hangs. %d other processes of %d callers each ask for the key and wait. ", t.Waiters, t.Goroutines)
	w("Once all %d are waiting (shmlru's own count of waits says so), after a random pause of 0 to %s, so that the kill falls anywhere in the waiters' cycle of liveness checks, the harness SIGKILLs the loading process. ", t.Waiters, 2*shm.OwnerCheckInterval)
	w("The waiters' loader returns at once: the figures are the takeover, not a load. ")
	w("The design's bound is tens of milliseconds: a waiting process asks whether the loader lives every `shm.OwnerCheckInterval` (%s) of its sleep, ", shm.OwnerCheckInterval)
	w("and can find it dead only once the kernel has ended it (the loader's slot lock goes as its files close; the first row is when the harness, its parent, had reaped it), so a takeover is expected within about that interval plus the time to end the process.\n\n")
	w("| from the SIGKILL until | median | p99 | largest | rounds |\n|---|---|---|---|---|\n")
	row := func(what string, xs []float64) {
		w("| %s | %s | %s | %s | %d |\n", what, fmtNs(median(xs)), fmtNs(p99(xs)), fmtNs(largest(xs)), len(xs))
	}
	row("the harness has reaped the killed process", t.ReapNs)
	row("a waiter has taken the load over (its loader is called)", t.TakeoverNs)
	row(fmt.Sprintf("every caller of the %d waiting processes has the value", t.Waiters), t.AllNs)
	w("\n%s\n\n", t.checks())
}

// procs are the process counts measured, in order.
func (s *LoadSection) procs() []int {
	var out []int
	for _, r := range s.Stampede {
		if !slices.Contains(out, r.Procs) {
			out = append(out, r.Procs)
		}
	}
	return out
}

func (s *LoadSection) stampede(n int, peer string) (StampedeResult, bool) {
	for _, r := range s.Stampede {
		if r.Procs == n && r.Peer == peer {
			return r, len(r.Loads) > 0
		}
	}
	return StampedeResult{}, false
}

// stampedeChecks says whether every caller got its value, and whether
// shmlru loaded each key exactly once, in every round.
func (s *LoadSection) stampedeChecks() string {
	var parts []string
	errs, rounds, once := 0, 0, 0
	first := ""
	for _, r := range s.Stampede {
		if r.Errors > 0 && first == "" {
			first = fmt.Sprintf("%d processes, %s: %s", r.Procs, r.Peer, r.Err)
		}
		errs += r.Errors
		if r.Peer == loadShmlru {
			for _, l := range r.Loads {
				rounds++
				if l == 1 {
					once++
				}
			}
		}
	}
	if errs == 0 {
		parts = append(parts, "Every caller got its key's value in every round.")
	} else {
		parts = append(parts, fmt.Sprintf("**%d callers got an error or a wrong value** (the first: %s).", errs, first))
	}
	if once == rounds {
		parts = append(parts, fmt.Sprintf("shmlru ran the loader exactly once per key in all %d of its rounds", rounds))
	} else {
		parts = append(parts, fmt.Sprintf("**shmlru ran the loader other than once per key in %d of its %d rounds**", rounds-once, rounds))
	}
	var claims, waits uint64
	for _, r := range s.Stampede {
		if r.Peer == loadShmlru {
			claims += r.Claims
			waits += r.Waits
		}
	}
	parts = append(parts, fmt.Sprintf("(its own counters, `LoadStats()`, show %d loads claimed and %d waits on another process's load in those rounds).", claims, waits))
	return strings.Join(parts, " ")
}

// checks says whether each takeover round had one loader call among the
// waiters and every caller its value, and what lru counted.
func (t *TakeoverResult) checks() string {
	once := 0
	for _, l := range t.Loads {
		if l == 1 {
			once++
		}
	}
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

// fmtLoads is loader calls per key over the rounds: the count when every
// round had the same, else the mean and, in brackets, the range.
func fmtLoads(loads []int) string {
	if len(loads) == 0 {
		return "–"
	}
	lo, hi, sum := slices.Min(loads), slices.Max(loads), 0
	for _, l := range loads {
		sum += l
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%.2f (%d–%d)", float64(sum)/float64(len(loads)), lo, hi)
}

// fmtMedianP99 is "median · p99" of xs.
func fmtMedianP99(xs []float64) string {
	if len(xs) == 0 {
		return "–"
	}
	return fmtNs(median(xs)) + " · " + fmtNs(p99(xs))
}

func largest(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Max(xs)
}

// fmtMs writes a loader time given in milliseconds.
func fmtMs(ms float64) string {
	return time.Duration(ms * float64(time.Millisecond)).String()
}
