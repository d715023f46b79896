package main

import "C"

import (
	"sync"
	"sync/atomic"

	"github.com/shmlru/shmlru/lru"
)

// Handles name open caches to C. A handle is a number, never a Go pointer:
// it encodes a slot of a fixed table and the slot's generation, so that a
// closed handle is told apart from one that was never issued, and a slot
// reused by a later open does not revive an old handle.
//
//	handle = generation*maxHandles + slot + 1
const maxHandles = 4096

// handleEntry is an open cache in its slot.
type handleEntry struct {
	id       uint64
	c        *lru.Cache
	maxValue int // the cache's value limit, for checks before any copy
}

var (
	handleSlots [maxHandles]atomic.Pointer[handleEntry]
	handleMu    sync.Mutex                // serialises open and close
	handleGens  [maxHandles]atomic.Uint64 // generations issued per slot
)

// newHandle stores c in a free slot and returns its handle, or 0 if every
// slot is in use.
func newHandle(c *lru.Cache) uint64 {
	handleMu.Lock()
	defer handleMu.Unlock()
	for s := range handleSlots {
		if handleSlots[s].Load() != nil {
			continue
		}
		gen := handleGens[s].Add(1) - 1
		e := &handleEntry{id: gen*maxHandles + uint64(s) + 1, c: c, maxValue: c.Geometry().MaxValue}
		handleSlots[s].Store(e)
		return e.id
	}
	return 0
}

// lookup returns the entry of handle h, or a status code: statusClosed
// for a handle that was issued and closed, statusBadHandle for any other.
func lookup(h uint64) (*handleEntry, C.int) {
	if h == 0 {
		return nil, statusBadHandle
	}
	s := (h - 1) % maxHandles
	if e := handleSlots[s].Load(); e != nil && e.id == h {
		return e, statusOK
	}
	if (h-1)/maxHandles < handleGens[s].Load() {
		return nil, statusClosed
	}
	return nil, statusBadHandle
}

// dropHandle removes handle h from the table and returns its cache.
func dropHandle(h uint64) (*lru.Cache, C.int) {
	handleMu.Lock()
	defer handleMu.Unlock()
	e, st := lookup(h)
	if st != statusOK {
		return nil, st
	}
	handleSlots[(h-1)%maxHandles].Store(nil)
	return e.c, statusOK
}
