package main

import "testing"

func TestPercentileNearestRank(t *testing.T) {
	var hundred []float64
	for i := 100; i >= 1; i-- { // unsorted on purpose
		hundred = append(hundred, float64(i))
	}
	for _, c := range []struct {
		xs   []float64
		p    int
		want float64
	}{
		{nil, 99, 0},
		{[]float64{7}, 99, 7},
		{[]float64{7}, 50, 7},
		{hundred, 99, 99},
		{hundred, 100, 100},
		{hundred, 50, 50},
		{hundred, 1, 1},
		{hundred[:40], 99, 100}, // 40 values: the largest
		{[]float64{3, 1, 2, 4}, 50, 2},
	} {
		if got := percentile(c.xs, c.p); got != c.want {
			t.Errorf("percentile(%v…, %d) = %v, want %v", c.xs[:min(len(c.xs), 3)], c.p, got, c.want)
		}
	}
	in := []float64{3, 1, 2}
	percentile(in, 50)
	if in[0] != 3 || in[1] != 1 {
		t.Error("percentile sorted its argument")
	}
}

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
