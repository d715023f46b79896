package main

/*
#include <stdint.h>
#include <stddef.h>
*/
import "C"

import (
	"unsafe"
)

// The per-process copy calls (shmlru_l1_stamp, shmlru_l1_valid,
// shmlru_l1_current, shmlru_l1_changes) for when the native path cannot
// answer: the handle has no native view, its mapping faulted, or a writer
// kept a shard busy. They are lru's Binding.Stripe, StripeStamp,
// Unchanged and StripeChanges (lru/stripes.go).

//export shmlru_go_l1_stamp
func shmlru_go_l1_stamp(h C.uint64_t, key *C.char, keyLen C.size_t, stripe *C.uint32_t, stamp *C.uint64_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if stripe == nil || stamp == nil {
		return statusBadArgument
	}
	s, n, err := e.c.Binding().Stripe(k)
	if err != nil {
		return C.int(codeOf(err))
	}
	*stripe, *stamp = C.uint32_t(s), C.uint64_t(n)
	return statusOK
}

//export shmlru_go_l1_valid
func shmlru_go_l1_valid(h C.uint64_t, stripe C.uint32_t, stamp C.uint64_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	b := e.c.Binding()
	if int(stripe) >= b.Stripes() {
		return statusBadArgument
	}
	n, err := b.StripeStamp(uint32(stripe))
	if err != nil {
		return C.int(codeOf(err))
	}
	if n == uint64(stamp) {
		return 1
	}
	return 0
}

//export shmlru_go_l1_current
func shmlru_go_l1_current(h C.uint64_t, cursors *C.uint64_t, ncursors C.size_t, stripe C.uint32_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	b := e.c.Binding()
	if cursors == nil || uint64(ncursors) != uint64(b.Shards()) || int(stripe) >= b.Stripes() {
		return statusBadArgument
	}
	cs := unsafe.Slice((*uint64)(unsafe.Pointer(cursors)), int(ncursors))
	same, err := b.Unchanged(cs, uint32(stripe))
	if err != nil {
		return C.int(codeOf(err))
	}
	if same {
		return 1
	}
	return 0
}

//export shmlru_go_l1_changes
func shmlru_go_l1_changes(h C.uint64_t, cursors *C.uint64_t, ncursors C.size_t, out *C.uint32_t, outLen C.size_t, n *C.size_t, lapped *C.int) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if cursors == nil || n == nil || lapped == nil || (out == nil && outLen != 0) {
		return statusBadArgument
	}
	b := e.c.Binding()
	if uint64(ncursors) != uint64(b.Shards()) {
		return statusBadArgument
	}
	if uint64(outLen) > uint64(b.Stripes()) {
		// More than one call reports: a ring holds no more slots than
		// its shard has stripes.
		outLen = C.size_t(b.Stripes())
	}
	// The outputs first: a pointer that faults does so before a cursor
	// moves.
	*n, *lapped = 0, 0
	probeOut(unsafe.Pointer(cursors), uintptr(ncursors)*8)
	probeOut(unsafe.Pointer(out), uintptr(outLen)*4)
	cs := unsafe.Slice((*uint64)(unsafe.Pointer(cursors)), int(ncursors))
	var dst []uint32
	if outLen > 0 {
		dst = unsafe.Slice((*uint32)(unsafe.Pointer(out)), int(outLen))[:0]
	}
	got, lap, err := b.StripeChanges(cs, dst)
	if err != nil {
		return C.int(codeOf(err))
	}
	*n = C.size_t(len(got))
	if lap {
		*lapped = 1
	}
	return statusOK
}
