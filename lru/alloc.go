package lru

import (
	"math/bits"
	"unsafe"
)

// The heap allocator: each shard's heap is an array of 16-byte units, and
// the free ones form runs. A run is on the free list of its size class:
// exact sizes below exactClasses units (every small entry shape has its own
// list, so a workload of one shape reuses holes of exactly its size), then
// eight classes per power of two (as TLSF's second level). A bit per class
// in shardHeader.classes says which lists are not empty, so an allocation
// finds a class in a few word operations whatever the heap's size.
//
// Allocated units carry no allocator header: the free bitmap (a bit per
// unit, set while it is free) tells whether a neighbour is free, and a free
// run keeps its length both in its first unit (freeRun) and in its last
// four bytes, so that freeing merges with free neighbours on both sides.
// Two free runs are therefore never adjacent, which Check verifies.
//
// Everything here runs with the shard's lock held and inside the dirty
// mark of the mutation it serves.

// classScan is how many runs of its own class an allocation looks at
// before it goes to the next class (whose runs all fit): only above
// exactClasses, where a class holds runs of several sizes.
const classScan = 8

// classOf returns the size class of a run of n units, 1 <= n < 1<<30.
func classOf(n uint32) int {
	if n < exactClasses {
		return int(n)
	}
	fl := bits.Len32(n) - 1 // 6 or more
	return exactClasses + (fl-6)*8 + int(n>>(fl-3)&7)
}

// unitAt returns the address of unit u, which must lie in the heap.
func (s *shard) unitAt(u uint32) unsafe.Pointer {
	if u == 0 || int(u) >= s.g.nunits {
		s.corrupt("unit %d out of range [1, %d)", u, s.g.nunits)
	}
	return unsafe.Add(s.base, uintptr(u)*unitSize)
}

// checkSpan panics (corruption) unless units [u, u+n) lie in the heap.
func (s *shard) checkSpan(u, n uint32) {
	if u == 0 || n == 0 || uint64(u)+uint64(n) > uint64(s.g.nunits) {
		s.corrupt("units [%d, +%d) out of range [1, %d)", u, n, s.g.nunits)
	}
}

// isFree reports whether unit u is in a free run; units outside the heap
// are not.
func (s *shard) isFree(u uint32) bool {
	return u != 0 && int(u) < s.g.nunits && s.bits[u>>6]&(1<<(u&63)) != 0
}

// markFree sets (free) or clears (allocated) the bits of units [u, u+n).
func (s *shard) markFree(u, n uint32, free bool) {
	for n > 0 {
		w, b := u>>6, u&63
		k := min(n, 64-b)
		m := ^uint64(0) >> (64 - k) << b
		if free {
			s.bits[w] |= m
		} else {
			s.bits[w] &^= m
		}
		u, n = u+k, n-k
	}
}

// run returns the header of the free run starting at unit u, checked.
func (s *shard) run(u uint32) *freeRun {
	r := (*freeRun)(s.unitAt(u))
	s.checkSpan(u, r.Units)
	return r
}

// footer is the last four bytes of a run of n units starting at u.
func (s *shard) footer(u, n uint32) *uint32 {
	return (*uint32)(unsafe.Add(s.unitAt(u+n-1), unitSize-4))
}

// pushRun puts units [u, u+n), already marked free, on their class's list.
func (s *shard) pushRun(u, n uint32) {
	s.checkSpan(u, n)
	c := classOf(n)
	r := (*freeRun)(s.unitAt(u))
	*r = freeRun{Units: n, Next: s.heads[c]}
	if r.Next != 0 {
		s.run(r.Next).Prev = u
	}
	s.heads[c] = u
	s.h.Classes[c>>6] |= 1 << (c & 63)
	*s.footer(u, n) = n
	s.h.FreeRuns++
}

// unlinkRun takes the run at u off its class's list.
func (s *shard) unlinkRun(u uint32, r *freeRun) {
	c := classOf(r.Units)
	if r.Prev != 0 {
		s.run(r.Prev).Next = r.Next
	} else if s.heads[c] == u {
		s.heads[c] = r.Next
	} else {
		s.corrupt("free run %d is first on no list of class %d", u, c)
	}
	if r.Next != 0 {
		s.run(r.Next).Prev = r.Prev
	}
	if s.heads[c] == 0 {
		s.h.Classes[c>>6] &^= 1 << (c & 63)
	}
	if s.h.FreeRuns == 0 {
		s.corrupt("free run count below zero")
	}
	s.h.FreeRuns--
}

// freeUnits returns units [u, u+n) to the heap, merged with the free runs
// on either side.
func (s *shard) freeUnits(u, n uint32) {
	s.checkSpan(u, n)
	if s.isFree(u) || s.isFree(u+n-1) {
		s.corrupt("units [%d, +%d) freed twice", u, n)
	}
	s.markFree(u, n, true)
	s.h.FreeUnits += n
	if s.isFree(u - 1) {
		l := *s.footer(u-1, 1) // the footer of the run that ends at u-1
		if l == 0 || l >= u {
			s.corrupt("free run before unit %d has length %d", u, l)
		}
		r := s.run(u - l)
		if r.Units != l || !s.isFree(u-l) {
			s.corrupt("free run at %d: footer says %d units, header %d", u-l, l, r.Units)
		}
		s.unlinkRun(u-l, r)
		u, n = u-l, n+l
	}
	if s.isFree(u + n) {
		r := s.run(u + n)
		s.unlinkRun(u+n, r)
		n += r.Units
	}
	s.pushRun(u, n)
}

// firstClass returns the first class at or above c whose list is not
// empty, or -1.
func (s *shard) firstClass(c int) int {
	for w := c >> 6; w < len(s.h.Classes); w++ {
		m := s.h.Classes[w]
		if w == c>>6 {
			m &= ^uint64(0) << (c & 63)
		}
		if m != 0 {
			return w<<6 + bits.TrailingZeros64(m)
		}
	}
	return -1
}

// lastClass returns the highest class whose list is not empty, or -1.
func (s *shard) lastClass() int {
	for w := len(s.h.Classes) - 1; w >= 0; w-- {
		if m := s.h.Classes[w]; m != 0 {
			return w<<6 + 63 - bits.LeadingZeros64(m)
		}
	}
	return -1
}

// headOf returns the first run of class c, whose bit says it has one.
func (s *shard) headOf(c int) uint32 {
	u := s.heads[c]
	if u == 0 {
		s.corrupt("size class %d marked non-empty has no run", c)
	}
	return u
}

// findRun returns a free run of at least n units, or 0 if there is none.
// It looks at a few runs of n's own class (which may be shorter), then
// takes the first run of the next non-empty class (which cannot be).
func (s *shard) findRun(n uint32) uint32 {
	c := classOf(n)
	if c >= exactClasses {
		for v, k := s.heads[c], 0; v != 0 && k < classScan; k++ {
			r := s.run(v)
			if r.Units >= n {
				return v
			}
			v = r.Next
		}
		c++
	}
	if c = s.firstClass(c); c < 0 {
		return 0
	}
	return s.headOf(c)
}

// cut takes the last n units of the free run at u, which has at least n,
// and returns the first of them. Cutting from the end leaves the rest of
// the run where it is, and usually on its list.
func (s *shard) cut(u, n uint32) uint32 {
	r := s.run(u)
	m := r.Units
	if m < n || !s.isFree(u) {
		s.corrupt("free run %d: %d units, %d wanted", u, m, n)
	}
	if rest := m - n; rest == 0 {
		s.unlinkRun(u, r)
	} else if classOf(rest) == classOf(m) {
		r.Units = rest
		*s.footer(u, rest) = rest
	} else {
		s.unlinkRun(u, r)
		s.pushRun(u, rest)
	}
	a := u + m - n
	s.markFree(a, n, false)
	s.h.FreeUnits -= n
	return a
}

// resetHeap makes the whole heap one free run.
func (s *shard) resetHeap() {
	clear(s.heads)
	clear(s.bits)
	s.h.Classes = [len(s.h.Classes)]uint64{}
	s.h.FreeUnits, s.h.FreeRuns = 0, 0
	n := uint32(s.g.nunits - 1)
	s.markFree(1, n, true)
	s.h.FreeUnits = n
	s.pushRun(1, n)
}
