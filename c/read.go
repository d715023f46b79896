package main

/*
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"encoding/binary"
	"unsafe"

	"github.com/shmlru/shmlru/lru"
)

// How shmlru_get and its variants read.
const (
	getLive = iota
	getStale
	getPeek
	getTracked // shmlru_get_tracked (track.go)
)

//export shmlru_go_get
func shmlru_go_get(h C.uint64_t, key *C.char, keyLen C.size_t, buf unsafe.Pointer, bufLen C.size_t, valueLen *C.size_t, meta unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	return get(h, key, keyLen, buf, bufLen, valueLen, meta, getLive)
}

//export shmlru_go_get_stale
func shmlru_go_get_stale(h C.uint64_t, key *C.char, keyLen C.size_t, buf unsafe.Pointer, bufLen C.size_t, valueLen *C.size_t, meta unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	return get(h, key, keyLen, buf, bufLen, valueLen, meta, getStale)
}

//export shmlru_go_peek
func shmlru_go_peek(h C.uint64_t, key *C.char, keyLen C.size_t, buf unsafe.Pointer, bufLen C.size_t, valueLen *C.size_t, meta unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	return get(h, key, keyLen, buf, bufLen, valueLen, meta, getPeek)
}

// get is the one crossing of every read: the value lands in the caller's
// buffer, or the size it needs is returned.
func get(h C.uint64_t, key *C.char, keyLen C.size_t, buf unsafe.Pointer, bufLen C.size_t, valueLen *C.size_t, meta unsafe.Pointer, how int) C.int {
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	k, st := keyOf(key, keyLen)
	if st != statusOK {
		return st
	}
	if valueLen == nil {
		return statusBadArgument
	}
	dst, st := bufOf(buf, bufLen, e.maxValue)
	if st != statusOK {
		return st
	}
	_, m, stale, err := e.c.Read(dst, k, lru.ReadOptions{Stale: how == getStale || how == getPeek, Peek: how == getPeek, Tracked: how == getTracked, Fit: true, Absent: true})
	if err != nil && err != lru.ErrBufferTooSmall {
		return C.int(codeOf(err))
	}
	// Too small: the size it needs, and the entry is left as it was.
	*valueLen = C.size_t(m.Size)
	if meta != nil {
		cm := (*cMeta)(meta)
		cm.Version, cm.ExpiresMs, cm.Flags, cm.Type = m.Version, m.Expires, m.Flags, uint8(m.Type)
		cm.Stale = 0
		if stale {
			cm.Stale = 1
		}
	}
	return C.int(codeOf(err))
}

//export shmlru_go_ttl
func shmlru_go_ttl(h C.uint64_t, key *C.char, keyLen C.size_t, ttlMs *C.int64_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if ttlMs == nil {
		return statusBadArgument
	}
	d, err := e.c.TTL(k)
	if err != nil {
		return C.int(codeOf(err))
	}
	ms := d.Milliseconds()
	if d > 0 && ms == 0 {
		ms = 1 // alive for less than a millisecond: not "never expires"
	}
	*ttlMs = C.int64_t(ms)
	return statusOK
}

//export shmlru_go_llen
func shmlru_go_llen(h C.uint64_t, key *C.char, keyLen C.size_t, length *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if length == nil {
		return statusBadArgument
	}
	n, err := e.c.LLen(k)
	if err != nil {
		return C.int(codeOf(err))
	}
	*length = C.size_t(n)
	return statusOK
}

//export shmlru_go_keys
func shmlru_go_keys(h C.uint64_t, maxKeys C.size_t, buf unsafe.Pointer, bufLen C.size_t, used *C.size_t, count *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, st := lookup(uint64(h))
	if st != statusOK {
		return st
	}
	if used == nil || (buf == nil && bufLen > 0) {
		return statusBadArgument
	}
	max := int(min(maxKeys, 1<<31))
	keys, err := e.c.Keys(max)
	if err != nil {
		return C.int(codeOf(err))
	}
	need := 0
	for _, k := range keys {
		need += 2 + len(k)
	}
	*used = C.size_t(need)
	if count != nil {
		*count = C.size_t(len(keys))
	}
	if uint64(need) > uint64(bufLen) {
		return statusBufferTooSmall
	}
	out := unsafe.Slice((*byte)(buf), need)
	off := 0
	for _, k := range keys {
		binary.NativeEndian.PutUint16(out[off:], uint16(len(k)))
		off += 2 + copy(out[off+2:], k)
	}
	return statusOK
}

// handleKey resolves a handle and a key, the prologue of most calls.
func handleKey(h C.uint64_t, key *C.char, keyLen C.size_t) (*handleEntry, []byte, C.int) {
	e, st := lookup(uint64(h))
	if st != statusOK {
		return nil, nil, st
	}
	k, st := keyOf(key, keyLen)
	return e, k, st
}
