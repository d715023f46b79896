package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// fmtNs writes a time in nanoseconds; "–" for none.
func fmtNs(ns float64) string {
	switch {
	case ns == 0 || math.IsNaN(ns):
		return "–"
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns >= 100:
		return fmt.Sprintf("%.0f ns", ns)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

func fmtAllocs(a float64) string {
	if a < 0.005 {
		return "0"
	}
	if a >= 10 {
		return fmt.Sprintf("%.0f", a)
	}
	return fmt.Sprintf("%.2g", a)
}

func fmtRatio(r float64) string {
	if r == 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	if r >= 100 {
		return fmt.Sprintf("×%.0f", r)
	}
	if r >= 10 {
		return fmt.Sprintf("×%.1f", r)
	}
	return fmt.Sprintf("×%.2f", r)
}

func fmtOps(o float64) string {
	if o >= 1e6 {
		return fmt.Sprintf("%.2f M/s", o/1e6)
	}
	return fmt.Sprintf("%.0f k/s", o/1e3)
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

// fmtSize writes a byte count.
func fmtSize(n int64) string {
	switch {
	case n < 0:
		return "-" + fmtSize(-n)
	case n >= 10<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 10<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// fmtKeys writes a key count as the tables do: "1 key", "1,000 keys".
func fmtKeys(n int) string {
	if n == 1 {
		return "1 key"
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s + " keys"
}
