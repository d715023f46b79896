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
