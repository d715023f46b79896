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

//export shmlru_go_lpush
func shmlru_go_lpush(h C.uint64_t, key *C.char, keyLen C.size_t, item unsafe.Pointer, itemLen C.size_t, typ C.int, length *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	return push(h, key, keyLen, item, itemLen, typ, length, true)
}

//export shmlru_go_rpush
func shmlru_go_rpush(h C.uint64_t, key *C.char, keyLen C.size_t, item unsafe.Pointer, itemLen C.size_t, typ C.int, length *C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	return push(h, key, keyLen, item, itemLen, typ, length, false)
}

func push(h C.uint64_t, key *C.char, keyLen C.size_t, item unsafe.Pointer, itemLen C.size_t, typ C.int, length *C.size_t, head bool) C.int {
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	v, st := bytesOf(item, itemLen, e.maxValue)
	if st != statusOK {
		return st
	}
	if typ != C.int(lru.TypeBytes) && typ != C.int(lru.TypeNumber) {
		return statusBadValue
	}
	probeOut(unsafe.Pointer(length), unsafe.Sizeof(*length))
	var n int
	var err error
	if head {
		n, err = e.c.LPush(k, v, lru.Type(typ))
	} else {
		n, err = e.c.RPush(k, v, lru.Type(typ))
	}
	if err != nil {
		return C.int(codeOf(err))
	}
	if length != nil {
		*length = C.size_t(n)
	}
	return statusOK
}

//export shmlru_go_lpop
func shmlru_go_lpop(h C.uint64_t, key *C.char, keyLen C.size_t, buf unsafe.Pointer, bufLen C.size_t, itemLen *C.size_t, typ *C.int) (rc C.int) {
	defer guard(&rc, armFaults())
	return pop(h, key, keyLen, buf, bufLen, itemLen, typ, true)
}

//export shmlru_go_rpop
func shmlru_go_rpop(h C.uint64_t, key *C.char, keyLen C.size_t, buf unsafe.Pointer, bufLen C.size_t, itemLen *C.size_t, typ *C.int) (rc C.int) {
	defer guard(&rc, armFaults())
	return pop(h, key, keyLen, buf, bufLen, itemLen, typ, false)
}

// pop pops into the caller's buffer. An item that does not fit stays in
// the list; the size it needs is returned with SHMLRU_BUFFER_TOO_SMALL.
func pop(h C.uint64_t, key *C.char, keyLen C.size_t, buf unsafe.Pointer, bufLen C.size_t, itemLen *C.size_t, typ *C.int, head bool) C.int {
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if itemLen == nil {
		return statusBadArgument
	}
	dst, st := bufOf(buf, bufLen, e.maxValue)
	if st != statusOK {
		return st
	}
	probeOut(unsafe.Pointer(itemLen), unsafe.Sizeof(*itemLen))
	probeOut(unsafe.Pointer(typ), unsafe.Sizeof(*typ))
	probeOut(buf, uintptr(len(dst[:cap(dst)])))
	_, t, size, err := e.c.Binding().Pop(dst, k, head, true)
	if err != nil && err != lru.ErrBufferTooSmall {
		return C.int(codeOf(err))
	}
	*itemLen = C.size_t(size)
	if typ != nil {
		*typ = C.int(t)
	}
	return C.int(codeOf(err))
}
