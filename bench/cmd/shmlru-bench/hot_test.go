package main

import (
	"strings"
	"testing"
	"time"
)

// The workers' lines sum into gets per second; a worker's error, a
// missing worker, or loops that ran mostly apart fail the run.
func TestHotWorkers(t *testing.T) {
	got, err := hotWorkers("0 2000 1000000000 2000000000\n1 3000 1001000000 2001000000", 2, time.Second)
	if err != nil || got != 2000+3000 {
		t.Errorf("two workers: %v, %v; want 5000", got, err)
	}
	if got, err := hotWorkers("0 1000 0 500000000", 1, time.Second/2); err != nil || got != 2000 {
		t.Errorf("one worker of half a second: %v, %v; want 2000", got, err)
	}
	for _, c := range []struct{ body, want string }{
		{"0 2000 1000000000 2000000000\n1 error ready 3.0 ms after the start", "worker 1: ready 3.0 ms after the start"},
		{"0 2000 1000000000 2000000000", "1 result lines from 2 workers"},
		{"0 2000 1000000000 2000000000\n1 2000 1500000000 2500000000", "looped together for 500ms of 1s"},
		{"0 2000 1000000000\n1 2000 1000000000 2000000000", "bad result line"},
		{"0 0 1000000000 2000000000\n1 2000 1000000000 2000000000", "bad result line"},
	} {
		if _, err := hotWorkers(c.body, 2, time.Second); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one containing %q", c.body, err, c.want)
		}
	}
}

// Each row has every process count and its ratio to the first; the nginx
// table sets shmlru over the dict at each count.
func TestWriteHotTables(t *testing.T) {
	run := &HotRun{Procs: []int{1, 2}, Reps: 3, Dur: "2s"}
	add := func(c hotCell, p int, ops float64) {
		run.Results = append(run.Results, HotResult{hotCell: c, Procs: p, OpsPerSec: ops})
	}
	add(hotCell{"go", "shmlru", "get", 1}, 1, 10e6)
	add(hotCell{"go", "shmlru", "get", 1}, 2, 5e6)
	add(hotCell{"nginx", "shmlru", "get", 16}, 1, 20e6)
	add(hotCell{"nginx", "shmlru", "get", 16}, 2, 30e6)
	add(hotCell{"nginx", "shdict", "get", 16}, 1, 10e6)
	add(hotCell{"nginx", "shdict", "get", 16}, 2, 10e6)
	var b strings.Builder
	writeHotTables(&b, run)
	for _, want := range []string{
		"| operations per second, summed | P=1 | P=2 | P=2 / P=1 |",
		"| Go GetInto, 1 key | 10.00 M/s | 5.00 M/s | ×0.50 |",
		"| nginx resty.shmlru get, 16 keys | 20.00 M/s | 30.00 M/s | ×1.50 |",
		"| nginx ngx.shared.DICT get, 16 keys | 10.00 M/s | 10.00 M/s | ×1.00 |",
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
