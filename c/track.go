package main

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"errors"
	"unsafe"

	"github.com/shmlru/shmlru/lru"
)

// Tracked fills (lru/track.go): the calls every process makes to read and
// fill keys that the host's agent keeps in step with an outside store. A
// shmlru_guard is the caller's copy of an lru.FillTicket. The agent's own
// calls (ClaimAgent, Invalidate, SetInStep...) are Go's alone: the agent
// is a Go process (module near).

//export shmlru_go_tracked_gen
func shmlru_go_tracked_gen(h C.uint64_t, gen *C.uint32_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if gen == nil {
		return statusBadArgument
	}
	// Only when the native path cannot answer (the handle has no native
	// view, or its mapping faulted): Tracker.State asks the kernel about the
	// agent role too, a system call the native path does without.
	s, err := e.c.Tracker().State()
	if err != nil {
		return C.int(codeOf(err))
	}
	*gen = 0
	if s.InStep {
		*gen = C.uint32_t(s.Gen)
	}
	return statusOK
}

// shmlru_go_get_tracked answers what the native path leaves to Go (see
// fast.c's shmlru_fast_get_tracked): lru's tracked read, which reads the
// in-step state and the entry under the shard's lock, into the caller's
// buffer (or the size it needs, counting nothing).
//
//export shmlru_go_get_tracked
func shmlru_go_get_tracked(h C.uint64_t, key *C.char, keyLen C.size_t, buf unsafe.Pointer, bufLen C.size_t, valueLen *C.size_t, meta unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	return get(h, key, keyLen, buf, bufLen, valueLen, meta, getTracked)
}

//export shmlru_go_fill_begin
func shmlru_go_fill_begin(h C.uint64_t, key *C.char, keyLen C.size_t, g unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if g == nil {
		return statusBadArgument
	}
	cg := (*cGuard)(g)
	*cg = cGuard{} // refused by fill_store, whatever happens below
	tg, err := e.c.Tracker().BeginFill(k)
	if err != nil {
		return C.int(codeOf(err))
	}
	*cg = cGuard{Gen: tg.Gen, Slot: tg.Slot, Count: tg.Count}
	return statusOK
}

//export shmlru_go_fill_store
func shmlru_go_fill_store(h C.uint64_t, key *C.char, keyLen C.size_t, value unsafe.Pointer, valueLen C.size_t, absent C.int, ttlMs C.int64_t, g unsafe.Pointer, stored *C.int) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if g == nil {
		return statusBadArgument
	}
	if absent != 0 && valueLen != 0 {
		return statusBadValue // an absence has no value, as shmlru_write's SHMLRU_TYPE_NONE
	}
	v, st := bytesOf(value, valueLen, e.maxValue)
	if st != statusOK {
		return st
	}
	ttl, st := ttlOf(int64(ttlMs))
	if st != statusOK {
		return st
	}
	cg := (*cGuard)(g)
	tg := lru.FillTicket{Gen: cg.Gen, Slot: cg.Slot, Count: cg.Count}
	probeOut(unsafe.Pointer(stored), unsafe.Sizeof(C.int(0))) // before the store: see probeOut
	ok, err := e.c.Tracker().StoreFill(k, v, absent != 0, lru.WriteOptions{Mode: lru.ModeSet, TTL: ttl}, tg)
	if err != nil {
		if errors.Is(err, lru.ErrBadOptions) {
			// The options are ours and valid: what StoreFill refuses is
			// the guard, which shmlru_fill_begin did not fill.
			return statusBadArgument
		}
		return C.int(codeOf(err))
	}
	if stored != nil {
		*stored = 0
		if ok {
			*stored = 1
		}
	}
	return statusOK
}
