package main

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"unsafe"

	"github.com/shmlru/shmlru/lru"
)

// The read-through calls (lru's Loads: Begin, Wait, End) and the shard's
// change count (lru's Binding.Changes; per-process copies are better kept
// by the key's stripe, l1.go). A shmlru_load is the caller's copy of an lru.LoadTicket.

//export shmlru_go_load_begin
func shmlru_go_load_begin(h C.uint64_t, key *C.char, keyLen C.size_t, leaseMs C.int64_t, load unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if load == nil {
		return statusBadArgument
	}
	lease, st := ttlOf(int64(leaseMs))
	if st != statusOK {
		return st
	}
	probeOut(load, unsafe.Sizeof(cLoad{})) // before the claim: see probeOut
	t, err := e.c.Loads().Begin(k, lease)
	if err != nil {
		return C.int(codeOf(err))
	}
	putTicket((*cLoad)(load), &t)
	return statusOK
}

//export shmlru_go_load_wait
func shmlru_go_load_wait(h C.uint64_t, load unsafe.Pointer, timeoutMs, leaseMs C.int64_t, msg unsafe.Pointer, msgLen C.size_t, msgUsed *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if load == nil {
		return statusBadArgument
	}
	timeout, st := ttlOf(int64(timeoutMs))
	if st != statusOK {
		return st
	}
	lease, st := ttlOf(int64(leaseMs))
	if st != statusOK {
		return st
	}
	cl := (*cLoad)(load)
	t := ticketOf(cl)
	// Every output is written once before the wait, which may take the
	// load over: a pointer that faults then faults with nothing done (see
	// probeOut). The ticket is read above and written back unchanged.
	putTicket(cl, &t)
	probeOut(unsafe.Pointer(msgUsed), unsafe.Sizeof(C.size_t(0)))
	probeOut(msg, uintptr(msgLen))
	text, err := e.c.Loads().Wait(&t, timeout, lease)
	if err != nil {
		return C.int(codeOf(err))
	}
	putTicket(cl, &t)
	if msgUsed != nil {
		*msgUsed = C.size_t(len(text))
	}
	if buf, st := bufOf(msg, msgLen, len(text)); st == statusOK {
		copy(buf[:cap(buf)], text)
	}
	return statusOK
}

//export shmlru_go_load_end
func shmlru_go_load_end(h C.uint64_t, load unsafe.Pointer, outcome C.int, msg *C.char, msgLen C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if load == nil || (msg == nil && msgLen != 0) || outcome < 0 || outcome > 255 {
		return statusBadArgument
	}
	text := ""
	if msgLen > 0 {
		text = string(unsafe.Slice((*byte)(unsafe.Pointer(msg)), int(min(msgLen, 4096))))
	}
	cl := (*cLoad)(load)
	t := ticketOf(cl)
	putTicket(cl, &t) // written back unchanged before the end: see probeOut
	err := e.c.Loads().End(&t, lru.LoadState(outcome), text)
	if err == nil || err == lru.ErrLoadLost {
		putTicket(cl, &t)
	}
	return C.int(codeOf(err))
}

//export shmlru_go_changes
func shmlru_go_changes(h C.uint64_t, key *C.char, keyLen C.size_t, clock *C.uint64_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if clock == nil {
		return statusBadArgument
	}
	n, err := e.c.Binding().Changes(k)
	if err != nil {
		return C.int(codeOf(err))
	}
	*clock = C.uint64_t(n)
	return statusOK
}

func ticketOf(cl *cLoad) lru.LoadTicket {
	return lru.LoadTicket{State: lru.LoadState(cl.State), Flight: cl.Flight, Seq: cl.Seq, Hash: cl.Hash}
}

func putTicket(cl *cLoad, t *lru.LoadTicket) {
	cl.Hash, cl.Flight, cl.Seq, cl.State = t.Hash, t.Flight, t.Seq, int32(t.State)
}
