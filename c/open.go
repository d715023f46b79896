package main

/*
#include <stddef.h>
#include <stdint.h>

// Defined in shim.c: a C global, so that leak checkers scanning C memory see
// the messages as reachable.
extern char *shmlru_messages[64];
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"os"
	"unsafe"

	"github.com/shmlru/shmlru/lru"
)

// init stores each status's message in shmlru_messages as a C string
// (index -code; the last slot is for unknown codes), allocated once with C's
// malloc and never freed, so that shmlru_strerror can return it.
func init() {
	for _, s := range statuses {
		C.shmlru_messages[-s.code] = C.CString(s.msg)
	}
	C.shmlru_messages[len(C.shmlru_messages)-1] = C.CString("unknown status code")
}

//export shmlru_go_strerror
func shmlru_go_strerror(status C.int) *C.char {
	n := C.int(len(C.shmlru_messages))
	if status <= 0 && status > -n+1 {
		if m := C.shmlru_messages[-status]; m != nil {
			return m
		}
	}
	return C.shmlru_messages[n-1]
}

//export shmlru_go_open
func shmlru_go_open(path *C.char, pathLen C.size_t, opts unsafe.Pointer, out *C.uint64_t, errbuf *C.char, errbufLen C.size_t) (rc C.int) {
	defer guard(&rc, armFaults())
	fail := func(code int, format string, args ...any) C.int {
		writeErr(errbuf, errbufLen, fmt.Sprintf(format, args...))
		return C.int(code)
	}
	if path == nil || pathLen == 0 || out == nil {
		return fail(statusBadArgument, "shmlru_open: path, path_len and out are required")
	}
	if errbuf == nil && errbufLen > 0 {
		return statusBadArgument
	}
	if pathLen > 4096 {
		return fail(statusBadArgument, "shmlru_open: path of %d bytes is too long", pathLen)
	}
	o, err := optionsOf((*cOptions)(opts))
	if err != nil {
		return fail(statusBadOptions, "shmlru_open: %v", err)
	}
	// out is written once before the open, so that a pointer that faults
	// does so before a cache is opened that no one could close.
	probeOut(unsafe.Pointer(out), unsafe.Sizeof(*out))
	name := C.GoStringN(path, C.int(pathLen))
	c, err := lru.Open(name, o)
	if err != nil {
		return fail(codeOf(err), "%v", err)
	}
	h := newHandle(c)
	if h == 0 {
		c.Close()
		return fail(statusTooManyHandles, "shmlru_open: %d caches are open in this process; close some", maxHandles)
	}
	*out = C.uint64_t(h)
	writeErr(errbuf, errbufLen, "")
	return statusOK
}

// optionsOf converts shmlru_options (nil = defaults).
func optionsOf(co *cOptions) (*lru.Options, error) {
	o := &lru.Options{}
	if co == nil {
		return o, nil
	}
	if co.Reserved != [2]uint8{} {
		return nil, errors.New("reserved fields of shmlru_options must be 0")
	}
	if co.ReservedBS != 0 {
		return nil, fmt.Errorf("block_size (%d) is gone since cache layout 3: entries take whole 16-byte units, as many as they need, so there is no block size to choose; leave reserved_block_size 0", co.ReservedBS)
	}
	if co.Size > math.MaxInt64 || co.MaxEntries > math.MaxInt32 || co.MaxValueSize > math.MaxInt32 {
		return nil, errors.New("size, max_entries or max_value_size out of range")
	}
	if co.Exact > 1 || co.NoCreate > 1 {
		return nil, errors.New("exact and no_create are 0 or 1")
	}
	if co.Mode&^uint32(os.ModePerm) != 0 {
		return nil, fmt.Errorf("mode %#o has bits other than permissions", co.Mode)
	}
	o.Size = int64(co.Size)
	o.MaxEntries = int(co.MaxEntries)
	o.MaxValueSize = int(co.MaxValueSize)
	o.Shards = int(co.Shards)
	o.Mode = os.FileMode(co.Mode)
	o.Exact = co.Exact != 0
	o.NoCreate = co.NoCreate != 0
	return o, nil
}

// writeErr copies msg into a C error buffer, truncated and NUL-terminated.
func writeErr(buf *C.char, n C.size_t, msg string) {
	if buf == nil || n == 0 {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(min(n, errbufSize)))
	k := copy(b[:len(b)-1], msg)
	b[k] = 0
}

//export shmlru_go_close
func shmlru_go_close(h C.uint64_t) (rc C.int) {
	defer guard(&rc, armFaults())
	c, st := dropHandle(uint64(h))
	if st != statusOK {
		return st
	}
	return C.int(codeOf(c.Close()))
}
