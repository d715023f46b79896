package main

/*
#include <stddef.h>
#include <stdint.h>

#include "layout.h"
*/
import "C"

import "unsafe"

//export shmlru_go_flush_all
func shmlru_go_flush_all(h C.uint64_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	return C.int(codeOf(e.c.Flush()))
}

//export shmlru_go_flush_expired
func shmlru_go_flush_expired(h C.uint64_t, maxCount C.size_t, removed *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	probeOut(unsafe.Pointer(removed), unsafe.Sizeof(C.size_t(0))) // before the flush: see probeOut
	n, err := e.c.FlushExpired(int(min(maxCount, 1<<31)))
	if removed != nil {
		*removed = C.size_t(n)
	}
	return C.int(codeOf(err))
}

//export shmlru_go_len
func shmlru_go_len(h C.uint64_t, count *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if count == nil {
		return statusBadArgument
	}
	n, err := e.c.Len()
	if err != nil {
		return C.int(codeOf(err))
	}
	*count = C.size_t(n)
	return statusOK
}

//export shmlru_go_capacity
func shmlru_go_capacity(h C.uint64_t, bytes *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if bytes == nil {
		return statusBadArgument
	}
	*bytes = C.size_t(e.c.Capacity())
	return statusOK
}

//export shmlru_go_free_space
func shmlru_go_free_space(h C.uint64_t, bytes *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if bytes == nil {
		return statusBadArgument
	}
	n, err := e.c.FreeSpace()
	if err != nil {
		return C.int(codeOf(err))
	}
	*bytes = C.size_t(n)
	return statusOK
}

//export shmlru_go_stats_get
func shmlru_go_stats_get(h C.uint64_t, stats unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if stats == nil {
		return statusBadArgument
	}
	s, err := e.c.Stats()
	if err != nil {
		return C.int(codeOf(err))
	}
	*(*cStats)(stats) = cStats{
		Hits: s.Hits, Misses: s.Misses, Sets: s.Sets, Deletes: s.Deletes,
		Evictions: s.Evictions, Expirations: s.Expirations,
		Recoveries: s.Recoveries, Resets: s.Resets,
		Entries: uint64(s.Entries), UsedBytes: uint64(s.UsedBytes), FreeBytes: uint64(s.FreeBytes),
		Capacity: uint64(e.c.Capacity()),
	}
	return statusOK
}

//export shmlru_go_info_get
func shmlru_go_info_get(h C.uint64_t, info unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if info == nil {
		return statusBadArgument
	}
	g := e.c.Geometry()
	*(*cInfo)(info) = cInfo{
		Size: uint64(g.Size), Shards: uint64(g.Shards), UnitSize: C.SHMLRU_L_UNIT_SIZE,
		HeapPerShard: uint64(g.HeapPerShard), BucketsPerShard: uint64(g.BucketsPerShard),
		MaxEntries: uint64(g.MaxEntries), MaxKey: uint64(g.MaxKey), MaxValue: uint64(g.MaxValue),
	}
	return statusOK
}

//export shmlru_go_check
func shmlru_go_check(h C.uint64_t, problems *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if problems == nil {
		return statusBadArgument
	}
	ps, err := e.c.Check()
	if err != nil {
		return C.int(codeOf(err))
	}
	*problems = C.size_t(len(ps))
	return statusOK
}
