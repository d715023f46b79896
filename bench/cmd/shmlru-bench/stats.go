package main

import (
	"slices"
	"sort"
)

// The statistics the sections take of their rounds.

// median is the middle of xs once sorted (of an even count, the upper
// one of the two); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return slices.Sorted(slices.Values(xs))[len(xs)/2]
}

// p99 is the 99th percentile by nearest rank: with fewer than 100 values,
// the largest.
func p99(xs []float64) float64 { return percentile(xs, 99) }

// percentile is the p-th percentile of xs by nearest rank: the smallest
// value with at least p% of them at or below it; 0 for none.
func percentile(xs []float64, p int) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := slices.Clone(xs)
	slices.Sort(c)
	i := (p*len(c)+99)/100 - 1
	return c[min(max(i, 0), len(c)-1)]
}

// medianSample returns the sample with the median ns/op, with allocations
// taken from it too.
func medianSample(ss []Sample) Sample {
	if len(ss) == 0 {
		return Sample{}
	}
	c := append([]Sample(nil), ss...)
	sort.Slice(c, func(i, j int) bool { return c[i].NsPerOp < c[j].NsPerOp })
	return c[len(c)/2]
}

// hotMedian is the median of the rounds' ops whose CPU share reached
// hotShare, or of all when none did, and the count of those that did not.
func hotMedian(ops, share []float64) (med float64, below int) {
	var good []float64
	for i, x := range ops {
		if share[i] >= hotShare {
			good = append(good, x)
		}
	}
	if len(good) == 0 {
		good = ops
	}
	return median(good), len(ops) - len(good)
}
