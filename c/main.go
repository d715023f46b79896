// Command c is libshmlru.so, the C ABI of shmlru: a cgo package main whose
// //export functions are declared, with their types and status codes, in
// the hand-written public header shmlru.h. Build it with
//
//	go build -buildmode=c-shared -o build/libshmlru.so ./c
//
// Conventions (see shmlru.h): a cache is an opaque numeric handle, every
// function returns an int status, reads copy into buffers the caller owns,
// and nothing allocated in Go is handed to C.
package main

/*
// The library's own C files (shim.c, fast.c, guard.c) build without a
// warning: a warning there is as likely a real fault as anywhere else.
#cgo CFLAGS: -O2 -Wall -Werror
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"math"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// main is required of a c-shared package main; it never runs.
func main() {}

// armFaults makes a memory fault in this call a panic that guard recovers,
// instead of a crash of the host: a C caller may pass a pointer that does
// not point where its length says. It returns the previous setting for
// guard to restore.
func armFaults() bool { return debug.SetPanicOnFault(true) }

// guard recovers a panic that escaped the cache and turns it into a status:
// a panic must never cross into C and kill the host process. A memory fault
// here is the caller's (the cache turns faults on its own mapping into
// errors itself): a key, value or buffer pointer that is not valid for its
// length, so SHMLRU_BAD_ARGUMENT. Anything else is a bug: SHMLRU_INTERNAL.
// Every exported function starts with `defer guard(&rc, armFaults())`; guard
// must be called directly by defer for its recover to work.
func guard(rc *C.int, prevFault bool) {
	p := recover()
	debug.SetPanicOnFault(prevFault)
	switch {
	case p == nil:
	case shm.IsMemoryFault(p):
		*rc = statusBadArgument
	default:
		*rc = statusInternal
	}
}

// ttlOf converts a TTL in milliseconds from C: negative is SHMLRU_BAD_TTL
// (as lru.ErrBadTTL), beyond time.Duration's range SHMLRU_BAD_ARGUMENT.
func ttlOf(ms int64) (time.Duration, C.int) {
	switch {
	case ms < 0:
		return 0, statusBadTTL
	case ms > math.MaxInt64/int64(time.Millisecond):
		return 0, statusBadArgument
	}
	return time.Duration(ms) * time.Millisecond, statusOK
}

// keyOf turns a C key into a slice over the caller's memory, or a status.
func keyOf(key *C.char, n C.size_t) ([]byte, C.int) {
	if n == 0 {
		return nil, statusEmptyKey
	}
	if key == nil {
		return nil, statusBadArgument
	}
	if n > lru.MaxKeySize {
		return nil, statusKeyTooLarge
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(key)), int(n)), statusOK
}

// bytesOf turns a C value into a slice over the caller's memory, or a
// status. NULL with length 0 is the empty value.
func bytesOf(p unsafe.Pointer, n C.size_t, limit int) ([]byte, C.int) {
	if n == 0 {
		return nil, statusOK
	}
	if p == nil {
		return nil, statusBadArgument
	}
	if uint64(n) > uint64(limit) {
		return nil, statusValueTooLarge
	}
	return unsafe.Slice((*byte)(p), int(n)), statusOK
}

// bufOf turns a caller's output buffer into an empty slice with its
// capacity, clamped to limit (nothing longer is ever copied into it), or a
// status for NULL with a non-zero length.
// probeOut makes sure the n bytes of the caller's output at p (may be
// NULL) can be written, before a call changes anything: an output pointer
// that faults then faults while nothing has been done, and the call
// answers SHMLRU_BAD_ARGUMENT with nothing changed, never after a change
// the caller would then make again by retrying. It changes no byte: on
// each page of the output it adds 0 to the aligned word that holds the
// page's first byte of the output, an atomic write that faults on memory
// that cannot be written and leaves it (and a neighbour's bytes sharing the
// word) as it was. A plain store of the byte read there could be dropped
// by the compiler as a no-op.
func probeOut(p unsafe.Pointer, n uintptr) {
	if p == nil || n == 0 {
		return
	}
	touch := func(off uintptr) {
		q := unsafe.Add(p, off)
		atomic.AddUint32((*uint32)(unsafe.Add(q, -int(uintptr(q)&3))), 0)
	}
	for off := uintptr(0); off < n; off = (uintptr(p)+off)&^4095 + 4096 - uintptr(p) {
		touch(off)
	}
	touch(n - 1)
}

func bufOf(p unsafe.Pointer, n C.size_t, limit int) ([]byte, C.int) {
	if n == 0 {
		return nil, statusOK
	}
	if p == nil {
		return nil, statusBadArgument
	}
	if uint64(n) > uint64(limit) {
		n = C.size_t(limit)
	}
	return unsafe.Slice((*byte)(p), int(n))[:0], statusOK
}
