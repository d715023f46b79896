package main

import (
	"strings"
	"testing"
)

// A round sums the processes' loader calls, and times the last caller
// against the barrier; errors are counted with the first kept.
func TestStampedeAdd(t *testing.T) {
	var r StampedeResult
	r.add(1000, []loadReport{
		{Calls: 1, FirstStart: 1010, LastStart: 1050, FirstDone: 21000, LastDone: 21100},
		{Calls: 0, FirstStart: 1020, LastStart: 1300, FirstDone: 21200, LastDone: 21500, failures: failures{2, "first"}},
		{Calls: 0, FirstStart: 1030, LastStart: 1100, FirstDone: 21300, LastDone: 21400, failures: failures{1, "second"}},
	})
	r.add(5000, []loadReport{{Calls: 2, LastStart: 5010, FirstDone: 25000, LastDone: 25020}})
	if len(r.Loads) != 2 || r.Loads[0] != 1 || r.Loads[1] != 2 {
		t.Errorf("loads %v", r.Loads)
	}
	if r.AllNs[0] != 20500 || r.LastStartNs[0] != 300 || r.DoneSpreadNs[0] != 500 {
		t.Errorf("round 0: all %v, last start %v, spread %v", r.AllNs[0], r.LastStartNs[0], r.DoneSpreadNs[0])
	}
	if r.AllNs[1] != 20020 || r.DoneSpreadNs[1] != 20 {
		t.Errorf("round 1: all %v, spread %v", r.AllNs[1], r.DoneSpreadNs[1])
	}
	if r.Errors != 3 || r.Err != "first" {
		t.Errorf("errors %d %q", r.Errors, r.Err)
	}
}

// A takeover is timed from the kill to the earliest loader call among the
// waiters; a round in which no waiter loaded is an error, not a figure.
func TestTakeoverAdd(t *testing.T) {
	var r TakeoverResult
	r.add(100, []loadReport{
		{Calls: 0, LastDone: 9000},
		{Calls: 1, FirstCall: 5100, LastDone: 5300},
		{Calls: 0, LastDone: 6000},
	})
	if len(r.TakeoverNs) != 1 || r.TakeoverNs[0] != 5000 || r.AllNs[0] != 8900 || r.Loads[0] != 1 || r.Errors != 0 {
		t.Errorf("after a good round: %+v", r)
	}
	r.add(100, []loadReport{{Calls: 0, LastDone: 200}})
	if len(r.TakeoverNs) != 1 || len(r.AllNs) != 2 || r.Errors != 1 || r.Err != "no waiter ran the loader" {
		t.Errorf("a round without a takeover: %+v", r)
	}
	if c := r.checks(); !strings.Contains(c, "other than once in 1 of the 2 rounds") || !strings.Contains(c, "1 rounds or callers went wrong") {
		t.Errorf("checks: %s", c)
	}
}

// loadFixture is what a load run returns: two process counts, both peers,
// and a takeover.
func loadFixture() *Results {
	ms := func(xs ...float64) []float64 {
		for i := range xs {
			xs[i] *= 1e6
		}
		return xs
	}
	return &Results{Date: "now", Command: "make bench-load", Layout: 4, Elapsed: "50s", Dur: "200ms", Reps: 5,
		Machine: Machine{CPU: "AMD EPYC", Cores: 2},
		Load: &LoadSection{LoaderMs: 20, Goroutines: 8, Rounds: 3,
			Stampede: []StampedeResult{
				{Procs: 2, Peer: loadShmlru, Claims: 3, Waits: 3, Loads: []int{1, 1, 1}, AllNs: ms(20.5, 20.6, 21), LastStartNs: ms(0.1, 0.1, 0.1), DoneSpreadNs: ms(0.1, 0.1, 0.1)},
				{Procs: 2, Peer: loadSingleflight, Loads: []int{2, 2, 2}, AllNs: ms(20.4, 20.4, 22), LastStartNs: ms(0.1, 0.1, 0.1), DoneSpreadNs: ms(0.1, 0.1, 0.1)},
				{Procs: 16, Peer: loadShmlru, Claims: 3, Waits: 45, Loads: []int{1, 1, 1}, AllNs: ms(22, 22, 25), LastStartNs: ms(1, 1, 1), DoneSpreadNs: ms(1, 1, 1)},
				{Procs: 16, Peer: loadSingleflight, Loads: []int{16, 15, 16}, AllNs: ms(22, 24.2, 24.2), LastStartNs: ms(1, 1, 1), DoneSpreadNs: ms(1, 1, 1)},
			},
			Takeover: &TakeoverResult{Waiters: 3, Goroutines: 8, TakeoverNs: ms(4, 5, 12), AllNs: ms(5, 6, 13), Loads: []int{1, 1, 1}, ReapNs: ms(0.5, 0.7, 1), Takeovers: 3},
		}}
}

func TestLoadTables(t *testing.T) {
	md := tablesOf(t, loadFixture(), "load")
	wantLines(t, md,
		"| 2 × 8 | 1 | 2 | 20.60 ms · 21.00 ms | 20.40 ms · 22.00 ms | ×0.99 |",
		"| 16 × 8 | 1 | 15.67 (15–16) | 22.00 ms · 25.00 ms | 24.20 ms · 24.20 ms | ×1.10 |",
		"| a waiter has taken the load over (its loader is called) | 5.00 ms | 12.00 ms | 12.00 ms | 3 |",
		"| every caller of the 3 waiting processes has the value | 6.00 ms | 13.00 ms | 13.00 ms | 3 |")
	for _, want := range []string{
		"shmlru ran the loader exactly once per key in all 6 of its rounds (its own counters, `LoadStats()`, show 6 loads claimed and 48 waits",
		"Every caller got its key's value in every round.",
		"shmlru counted 3 takeovers",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("load.md lacks %q", want)
		}
	}

	// A round in which shmlru loaded twice, and a caller's error, are said.
	r := loadFixture()
	r.Load.Stampede[2].Loads[1] = 2
	r.Load.Stampede[3].Errors, r.Load.Stampede[3].Err = 1, "boom"
	md = tablesOf(t, r, "load")
	for _, want := range []string{
		"**shmlru ran the loader other than once per key in 1 of its 6 rounds** (",
		"**1 callers got an error or a wrong value** (the first: 16 processes, singleflight: boom).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("load.md lacks %q", want)
		}
	}
}
