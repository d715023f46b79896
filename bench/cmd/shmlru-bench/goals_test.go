package main

import (
	"strings"
	"testing"
)

func goalByWhat(gs []goal, what string) (goal, bool) {
	for _, g := range gs {
		if g.What == what {
			return g, true
		}
	}
	return goal{}, false
}

// Every size has its density goal, with its own threshold, against the
// dict of the same size; a row from before sizes were recorded counts as
// 16B/32B.
func TestDensityGoalsPerSize(t *testing.T) {
	r := &Results{Density: []DensityResult{
		{Cache: "shmlru (default BlockSize 128)", Steady: 150}, // no size: 16B/32B
		{Cache: dictName, Steady: 100},
		{Size: "32B/512B", Cache: "shmlru", Steady: 169},
		{Size: "32B/512B", Cache: dictName, Steady: 100},
		{Size: "64B/4KiB", Cache: "shmlru", Steady: 190},
		{Size: "64B/4KiB", Cache: dictName, Note: "not measured: no nginx"},
	}}
	gs := r.goals()
	for what, want := range map[string]string{
		densityGoalWhat("16B/32B"):  "**met**",
		densityGoalWhat("32B/512B"): "**missed**", // 1.69 < 1.7
		densityGoalWhat("64B/4KiB"): "not measured",
	} {
		g, ok := goalByWhat(gs, what)
		if !ok {
			t.Errorf("no goal %q", what)
			continue
		}
		if g.Met != want {
			t.Errorf("%s: %s (%s), want %s", what, g.Met, g.Measured, want)
		}
	}
	if !strings.Contains(discussion(r), "1.7× is 170 entries, 1 more than held") {
		t.Errorf("the discussion does not say by how much 32B/512B missed:\n%s", discussion(r))
	}
}

// The Go goals list every size, measured or not, and the layout 2 goal
// needs both figures at or under layout 2's.
func TestGoGoalsListEverySize(t *testing.T) {
	op := func(size, op, peer string, ns float64) OpResult {
		return OpResult{Size: size, Op: op, Peer: peer, Median: Sample{NsPerOp: ns}}
	}
	r := &Results{Ops: []OpResult{
		op("16B/32B", "Get (hit)", "shmlru", 200), op("16B/32B", "Get (hit)", "freecache", 400),
		op("16B/32B", "Set (update)", "shmlru", 350), op("16B/32B", "Set (update)", "freecache", 400),
	}}
	gs := r.goals()
	for what, want := range map[string]string{
		"Go Get vs freecache GetWithBuf, 16B/32B":  "**met**",
		"Go Get vs freecache GetWithBuf, 32B/512B": "not measured",
		"Go Set vs freecache Set, 64B/4KiB":        "not measured",
		layout2Goal():                              "**missed**", // Set 350 > 347
	} {
		g, ok := goalByWhat(gs, what)
		if !ok || g.Met != want {
			t.Errorf("%s: %+v, want %s", what, g, want)
		}
	}
}
