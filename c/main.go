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
#include <stddef.h>
#include <stdint.h>
*/
import "C"

import (
	"unsafe"

	"github.com/shmlru/shmlru/lru"
)

// main is required of a c-shared package main; it never runs.
func main() {}

// guard recovers a panic that escaped the cache (a bug) and turns it into
// statusInternal: a panic must never cross into C and kill the host process.
// It must be called directly by defer.
func guard(rc *C.int) {
	if p := recover(); p != nil {
		*rc = statusInternal
	}
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
