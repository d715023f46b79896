package main

/*
#include <stddef.h>

// Defined in shim.c: they record the region file of the cache in each
// handle slot, for a forked child to close.
void shmlru_set_region_fd(size_t slot, int which, int fd);
size_t shmlru_region_fd_slots(void);
*/
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
	maxValue int             // the cache's value limit, for checks before any copy
	native   *lru.NativeView // the native path's own attachment, nil if it has none
}

func init() {
	if C.shmlru_region_fd_slots() != maxHandles {
		panic("region_fds in shim.c must have maxHandles entries")
	}
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
		e.native = enableNative(e.id, c)
		handleSlots[s].Store(e)
		C.shmlru_set_region_fd(C.size_t(s), 0, C.int(c.Binding().Region().Fd()))
		if e.native != nil {
			C.shmlru_set_region_fd(C.size_t(s), 1, C.int(e.native.Region.Fd()))
		}
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
	s := (h - 1) % maxHandles
	handleSlots[s].Store(nil)
	// Before the files are closed: once closed, their descriptors' numbers
	// may be reused by the host (see region_fds in shim.c).
	C.shmlru_set_region_fd(C.size_t(s), 0, -1)
	C.shmlru_set_region_fd(C.size_t(s), 1, -1)
	disableNative(h, e.native)
	return e.c, statusOK
}
