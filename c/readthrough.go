package main

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"errors"
	"sync/atomic"
	"unsafe"

	"github.com/shmlru/shmlru/lru"
)

// The read-through's rules for callers that run their loaders and wait
// themselves (resty.shmlru's get_or_load, resty.shmlru.mlcache): lru's
// ReadThrough, so that what a load reads and writes is decided in one
// place, lru/load.go, for every language.

// loadOptsOf reads a shmlru_load_opts: lru's options, and whether an
// absence is kept without expiry (neg_ttl_ms 0; < 0 keeps none).
func loadOptsOf(p unsafe.Pointer) (lru.LoadOptions, bool, C.int) {
	if p == nil {
		return lru.LoadOptions{}, false, statusBadArgument
	}
	co := (*cLoadOpts)(p)
	if co.Tracked > 1 || co.Reserved != [7]uint8{} {
		return lru.LoadOptions{}, false, statusBadArgument
	}
	var o lru.LoadOptions
	var st C.int
	o.Tracked = co.Tracked == 1
	if o.TTL, st = ttlOf(co.TTLMs); st != statusOK {
		return o, false, st
	}
	if o.StaleTTL, st = ttlOf(co.StaleTTLMs); st != statusOK {
		return o, false, st
	}
	if o.ResurrectTTL, st = ttlOf(co.ResurrectTTLMs); st != statusOK {
		return o, false, st
	}
	keepAbsent := co.NegTTLMs == 0
	if co.NegTTLMs > 0 {
		if o.NegativeTTL, st = ttlOf(co.NegTTLMs); st != statusOK {
			return o, false, st
		}
	}
	return o, keepAbsent, statusOK
}

// readThroughOf resolves a handle and a shmlru_load_opts.
func readThroughOf(e *handleEntry, opts unsafe.Pointer) (lru.ReadThrough, C.int) {
	o, keepAbsent, st := loadOptsOf(opts)
	if st != statusOK {
		return lru.ReadThrough{}, st
	}
	r, err := e.c.Loads().ReadThrough(o, keepAbsent)
	if err != nil {
		return r, C.int(codeOf(err))
	}
	return r, statusOK
}

//export shmlru_go_load_check
func shmlru_go_load_check(opts unsafe.Pointer, errbuf *C.char, errbufLen C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	if errbuf == nil && errbufLen > 0 {
		return statusBadArgument
	}
	probeOut(unsafe.Pointer(errbuf), uintptr(min(errbufLen, errbufSize)))
	o, _, st := loadOptsOf(opts)
	if st != statusOK {
		writeErr(errbuf, errbufLen, messageOf(int(st)))
		return st
	}
	if err := o.Check(); err != nil {
		writeErr(errbuf, errbufLen, err.Error())
		return C.int(codeOf(err))
	}
	writeErr(errbuf, errbufLen, "")
	return statusOK
}

// probeIn reads one byte of every page of [p, p+n), so that a pointer
// that does not cover its length faults here (see guard), before the call
// has done anything.
func probeIn(p unsafe.Pointer, n uintptr) {
	if p == nil || n == 0 {
		return
	}
	var sink byte
	for off := uintptr(0); off < n; off = (uintptr(p)+off)&^4095 + 4096 - uintptr(p) {
		sink |= atomicByte(unsafe.Add(p, off))
	}
	sink |= atomicByte(unsafe.Add(p, n-1))
	_ = sink
}

// atomicByte reads the byte at p through an atomic load of its aligned
// word, which the compiler cannot drop.
func atomicByte(p unsafe.Pointer) byte {
	w := atomic.LoadUint32((*uint32)(unsafe.Add(p, -int(uintptr(p)&3))))
	return byte(w >> (8 * (uintptr(p) & 3)))
}

// messageOf is a status's message (shmlru_strerror's).
func messageOf(code int) string {
	for _, s := range statuses {
		if s.code == code {
			return s.msg
		}
	}
	return "unknown status"
}

//export shmlru_go_load_look
func shmlru_go_load_look(h C.uint64_t, key *C.char, keyLen C.size_t, tracked C.int, buf unsafe.Pointer, bufLen C.size_t, valueLen *C.size_t, meta unsafe.Pointer, look unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if valueLen == nil || look == nil || tracked < 0 || tracked > 1 {
		return statusBadArgument
	}
	dst, st := bufOf(buf, bufLen, e.maxValue)
	if st != statusOK {
		return st
	}
	r, err := e.c.Loads().ReadThrough(lru.LoadOptions{Tracked: tracked == 1}, false)
	if err != nil {
		return C.int(codeOf(err))
	}
	l, err := r.Look(dst, k)
	return putLook(l, err, valueLen, meta, look)
}

//export shmlru_go_load_prepare
func shmlru_go_load_prepare(h C.uint64_t, load unsafe.Pointer, key *C.char, keyLen C.size_t, opts unsafe.Pointer, buf unsafe.Pointer, bufLen C.size_t, valueLen *C.size_t, meta unsafe.Pointer, look unsafe.Pointer, g unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if load == nil || valueLen == nil || look == nil || g == nil {
		return statusBadArgument
	}
	dst, st := bufOf(buf, bufLen, e.maxValue)
	if st != statusOK {
		return st
	}
	r, st := readThroughOf(e, opts)
	if st != statusOK {
		return st
	}
	cl := (*cLoad)(load)
	t := ticketOf(cl)
	// Every output is written once before the load may end: a pointer
	// that faults then faults with nothing done (see probeOut).
	putTicket(cl, &t)
	*valueLen = 0
	probeOut(meta, unsafe.Sizeof(cMeta{}))
	*(*cLook)(look) = cLook{}
	cg := (*cGuard)(g)
	*cg = cGuard{} // refused by shmlru_load_finish unless filled below
	l, tg, err := r.Prepare(&t, dst, k)
	putTicket(cl, &t)
	if err == nil {
		*cg = cGuard{Gen: tg.Gen, Slot: tg.Slot, Count: tg.Count}
	}
	return putLook(l, err, valueLen, meta, look)
}

// putLook writes a look's outputs: the value's length (or the room it
// needs), its meta and its state.
func putLook(l lru.Look, err error, valueLen *C.size_t, meta, look unsafe.Pointer) C.int {
	if err != nil && !errors.Is(err, lru.ErrBufferTooSmall) {
		return C.int(codeOf(err))
	}
	*valueLen = 0
	if err != nil || (l.State != lru.LookMiss && l.State != lru.LookAbsent) {
		*valueLen = C.size_t(l.Meta.Size) // the value's, or the room it needs
	}
	if meta != nil {
		m := l.Meta
		cm := (*cMeta)(meta)
		cm.Version, cm.ExpiresMs, cm.Flags, cm.Type = m.Version, m.Expires, m.Flags, uint8(m.Type)
		cm.Stale = 0
		if l.State == lru.LookExpired {
			cm.Stale = 1
		}
	}
	*(*cLook)(look) = cLook{FreshMs: l.FreshUntil, State: int32(l.State)}
	return C.int(codeOf(err))
}

//export shmlru_go_load_finish
func shmlru_go_load_finish(h C.uint64_t, load unsafe.Pointer, key *C.char, keyLen C.size_t, opts unsafe.Pointer, g unsafe.Pointer, outcome C.int, value unsafe.Pointer, valueLen C.size_t, typ C.int, flags C.uint32_t, msg *C.char, msgLen C.size_t, answer unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if answer == nil || (msg == nil && msgLen != 0) || typ < 0 || typ > 255 {
		return statusBadArgument
	}
	ld := lru.Loaded{Outcome: lru.LoadedOutcome(outcome), Type: lru.Type(typ), Flags: uint32(flags)}
	if outcome < C.int(lru.LoadedValue) || outcome > C.int(lru.LoadedUncached) {
		return statusBadArgument
	}
	v, st := bytesOf(value, valueLen, e.maxValue)
	if st != statusOK {
		return st
	}
	// Read before anything is written: a value the cache cannot copy is a
	// store that failed, which a load reports to its waiters; a pointer
	// that faults must be SHMLRU_BAD_ARGUMENT with nothing done.
	probeIn(value, uintptr(len(v)))
	ld.Value = v
	if ld.Outcome == lru.LoadedFailed {
		// A value given with a failure is the expired one to resurrect;
		// the type SHMLRU_TYPE_NONE, with no value, an expired absence.
		ld.Resurrect = value != nil || ld.Type == lru.TypeNone
		text := ""
		if msgLen > 0 {
			text = string(unsafe.Slice((*byte)(unsafe.Pointer(msg)), int(min(msgLen, 4096))))
		}
		ld.Err = errors.New(text)
	}
	if ld.Value == nil && (ld.Outcome == lru.LoadedValue || ld.Resurrect) {
		ld.Value = []byte{}
	}
	r, st := readThroughOf(e, opts)
	if st != statusOK {
		return st
	}
	var tg lru.FillTicket
	if g != nil {
		cg := (*cGuard)(g)
		tg = lru.FillTicket{Gen: cg.Gen, Slot: cg.Slot, Count: cg.Count}
	}
	var t *lru.LoadTicket
	var cl *cLoad
	if load != nil {
		cl = (*cLoad)(load)
		tk := ticketOf(cl)
		putTicket(cl, &tk) // written back unchanged before the end: see probeOut
		t = &tk
	}
	probeOut(answer, unsafe.Sizeof(cAnswer{}))
	a, err := r.Finish(t, k, tg, ld)
	if cl != nil && (err == nil || errors.Is(err, lru.ErrLoadLost)) {
		putTicket(cl, t)
	}
	ca := (*cAnswer)(answer)
	*ca = cAnswer{Source: int32(a.Source)}
	if a.Kept {
		ca.Kept, ca.Version, ca.FreshMs = 1, a.Version, a.FreshUntil
	}
	return C.int(codeOf(err))
}
