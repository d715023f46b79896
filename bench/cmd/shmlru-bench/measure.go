package main

import (
	"fmt"
	"runtime"
	"slices"
	"syscall"
	"time"
)

// Sample is one timed run.
type Sample struct {
	Ops     int64   `json:"ops"`
	Ns      int64   `json:"ns"`      // elapsed
	Mallocs uint64  `json:"mallocs"` // heap allocations during the run
	Gets    int64   `json:"gets"`
	Hits    int64   `json:"hits"`
	NsPerOp float64 `json:"ns_per_op"`
	CPUNs   int64   `json:"cpu_ns"` // CPU time, user and system, the process used during the run
}

func (s *Sample) finish() {
	if s.Ops > 0 {
		s.NsPerOp = float64(s.Ns) / float64(s.Ops)
	}
}

// AllocsPerOp is heap allocations per operation.
func (s Sample) AllocsPerOp() float64 {
	if s.Ops == 0 {
		return 0
	}
	return float64(s.Mallocs) / float64(s.Ops)
}

// HitRatio is hits/gets.
func (s Sample) HitRatio() float64 {
	if s.Gets == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Gets)
}

// OpsPerSec is throughput.
func (s Sample) OpsPerSec() float64 {
	if s.Ns == 0 {
		return 0
	}
	return float64(s.Ops) / (float64(s.Ns) / 1e9)
}

// runFor calls f with batch sizes chosen so that each call takes about a
// few milliseconds, until dur has passed, and counts the heap allocations.
// f runs n operations and reports gets and hits among them.
func runFor(dur time.Duration, f func(n int) (gets, hits int)) Sample {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m0, cpu0 := ms.Mallocs, cpuTime()
	var s Sample
	n := 16
	start := time.Now()
	deadline := start.Add(dur)
	for {
		t0 := time.Now()
		g, h := f(n)
		t1 := time.Now()
		s.Ops += int64(n)
		s.Gets += int64(g)
		s.Hits += int64(h)
		if !t1.Before(deadline) {
			s.Ns = int64(t1.Sub(start))
			break
		}
		if d := t1.Sub(t0); d < 2*time.Millisecond && n < 1<<20 {
			n *= 2
		}
	}
	s.CPUNs = cpuTime() - cpu0
	runtime.ReadMemStats(&ms)
	s.Mallocs = ms.Mallocs - m0
	s.finish()
	return s
}

// cpuTime is the CPU time, user and system, this process has used, in
// nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// failures counts what went wrong and keeps the first error's text.
type failures struct {
	Errors int64  `json:"errors"`
	Err    string `json:"err,omitempty"`
}

// fail counts err.
func (f *failures) fail(err error) { f.add(failures{1, err.Error()}) }

// add counts o's failures; the first error stays f's if it had one.
func (f *failures) add(o failures) {
	if f.Errors == 0 {
		f.Err = o.Err
	}
	f.Errors += o.Errors
}

// poll calls done every interval until it reports true or an error, or
// timeout has passed.
func poll(timeout, every time.Duration, done func() (bool, error)) error {
	for deadline := time.Now().Add(timeout); ; time.Sleep(every) {
		ok, err := done()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still waiting after %s", timeout)
		}
	}
}

// errorf wraps a non-nil err with what was awaited; nil stays nil.
func errorf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// rotated is xs turned left by round, so that each round of an
// interleaved measurement starts with another of them.
func rotated[T any](xs []T, round int) []T {
	k := round % len(xs)
	return append(slices.Clone(xs[k:]), xs[:k]...)
}
