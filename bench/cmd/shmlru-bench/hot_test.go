package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// The workers' lines sum into gets per second; a worker's error, a
// missing worker, or loops that ran mostly apart fail the run.
func TestHotWorkers(t *testing.T) {
	// Two workers on two cores, together from 1.001 s to 2 s, using 0.8
	// and 0.7 s of CPU from 1 s to 2.001 s: 1.5 / (2 × 1.001) of the cores.
	ops, share, err := hotWorkers("0 2000 1000000000 2000000000 800000000\n1 3000 1001000000 2001000000 700000000", 2, time.Second)
	if err != nil || ops != 2000+3000 || math.Abs(share-1.5/2.002) > 1e-12 {
		t.Errorf("two workers: %v, %v, %v; want 5000, %v", ops, share, err, 1.5/2.002)
	}
	// One worker of half a second that used a quarter of a second.
	if ops, share, err := hotWorkers("0 1000 0 500000000 250000000", 1, time.Second/2); err != nil || ops != 2000 || share != 0.5 {
		t.Errorf("one worker of half a second: %v, %v, %v; want 2000, 0.5", ops, share, err)
	}
	for _, c := range []struct{ body, want string }{
		{"0 2000 1000000000 2000000000 1\n1 error ready 3.0 ms after the start", "worker 1: ready 3.0 ms after the start"},
		{"0 2000 1000000000 2000000000 1", "1 result lines from 2 workers"},
		{"0 2000 1000000000 2000000000 1\n1 2000 1500000000 2500000000 1", "looped together for 500ms of 1s"},
		{"0 2000 1000000000 1\n1 2000 1000000000 2000000000 1", "bad result line"},
		{"0 0 1000000000 2000000000 1\n1 2000 1000000000 2000000000 1", "bad result line"},
		{"0 2000 1000000000 2000000000\n1 2000 1000000000 2000000000 1", "bad result line"},
	} {
		if _, _, err := hotWorkers(c.body, 2, time.Second); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.body, err, c.want)
		}
	}
}

// Each row has every process count, its ratio to the first and the
// rounds below hotShare; the nginx table sets shmlru over the dict at each
// count.
// A cell's figure is the median of its rounds at hotShare, or of all when
// none is.
func TestHotMedian(t *testing.T) {
	for _, c := range []struct {
		ops, share []float64
		med        float64
		below      int
	}{
		{[]float64{3, 20, 4, 5}, []float64{0.95, 0.5, 0.9, 1}, 4, 1},
		{[]float64{3, 20, 4}, []float64{0.5, 0.6, 0.7}, 4, 0},
		{[]float64{20, 3}, []float64{0.5, 0.99}, 3, 1},
	} {
		if med, below := hotMedian(c.ops, c.share); med != c.med || below != c.below {
			t.Errorf("hotMedian(%v, %v) = %v, %d; want %v, %d", c.ops, c.share, med, below, c.med, c.below)
		}
	}
}

func TestHotTables(t *testing.T) {
	run := &HotRun{Procs: []int{1, 2}, Reps: 3, Dur: "2s"}
	add := func(c hotCell, p int, ops float64) {
		all, cpu := []float64{ops, 1e9}, []float64{0.99, 0.5} // a disturbed round, left out
		med, below := hotMedian(all, cpu)
		run.Results = append(run.Results, HotResult{hotCell: c, Procs: p, OpsPerSec: med, All: all, CPU: cpu, Below: below})
	}
	add(hotCell{"go", "shmlru", "get", 1}, 1, 10e6)
	add(hotCell{"go", "shmlru", "get", 1}, 2, 5e6)
	add(hotCell{"nginx", "shmlru", "get", 16}, 1, 20e6)
	add(hotCell{"nginx", "shmlru", "get", 16}, 2, 30e6)
	add(hotCell{"nginx", "shdict", "get", 16}, 1, 10e6)
	add(hotCell{"nginx", "shdict", "get", 16}, 2, 10e6)
	var b strings.Builder
	for _, t := range hotTables(run) {
		t.write(&b)
	}
	for _, want := range []string{
		"| operations per second, summed | P=1 | P=2 | P=2 / P=1 | rounds below 0.9 CPU share |",
		"| Go GetInto, 1 key | 10.00 M/s | 5.00 M/s | ×0.50 | 2 of 4 |",
		"| nginx resty.shmlru get, 16 keys | 20.00 M/s | 30.00 M/s | ×1.50 | 2 of 4 |",
		"| nginx ngx.shared.DICT get, 16 keys | 10.00 M/s | 10.00 M/s | ×1.00 | 2 of 4 |",
		"| 16 keys | 1 | 20.00 M/s | 10.00 M/s | ×2.00 |",
		"| 16 keys | 2 | 30.00 M/s | 10.00 M/s | ×3.00 |",
	} {
		if !strings.Contains(b.String(), want+"\n") {
			t.Errorf("no line %q in\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "| 1 key |") {
		t.Errorf("a row of the nginx table for a key count that was not run:\n%s", b.String())
	}
}
