package shm

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"unsafe"
)

// A file that another program truncates while it is mapped makes every read
// of the lost pages fault (SIGBUS). Go turns such a fault into a panic only
// where debug.SetPanicOnFault is on, and kills the process everywhere else,
// so every read of the mapping runs under a guard: package lru's operations
// under their own (they also hold the shard's lock), the exported readers of
// this package under guard.

// Guard runs fn, which reads the mapping, outside the operations of package
// lru (which guard themselves). It fails with ErrClosed once Close has
// begun, and turns a fault on the mapping into ErrCorrupt instead of a
// crash. Any other panic is not the region's and goes on up. fn must not
// call Close.
func (r *Region) Guard(fn func()) error { return r.guard(fn) }

func (r *Region) guard(fn func()) (err error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.closed.Load() {
		return ErrClosed
	}
	prev := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(prev)
		if p := recover(); p != nil {
			if addr, ok := FaultAddr(p); ok && r.Contains(addr) {
				err = r.Shrank(addr)
				return
			}
			panic(p)
		}
	}()
	fn()
	return nil
}

// FaultAddr returns the address of a memory fault that debug.SetPanicOnFault
// turned into the panic value p, and whether p is such a fault.
func FaultAddr(p any) (uintptr, bool) {
	if _, ok := p.(error); !ok {
		return 0, false
	}
	f, ok := p.(interface{ Addr() uintptr })
	if !ok {
		return 0, false
	}
	return f.Addr(), true
}

// IsMemoryFault reports whether p is a memory fault: one with its address,
// which debug.SetPanicOnFault makes of any fault, or Go's plain nil
// dereference, which a fault below the first page becomes and which has no
// address.
func IsMemoryFault(p any) bool {
	if _, fault := FaultAddr(p); fault {
		return true
	}
	e, ok := p.(runtime.Error)
	return ok && strings.HasPrefix(e.Error(), "runtime error: invalid memory address")
}

// Shrank is the error for a fault at addr inside the mapping: the file is
// shorter than when it was mapped.
func (r *Region) Shrank(addr uintptr) error {
	off := addr - uintptr(unsafe.Pointer(unsafe.SliceData(r.m)))
	return fmt.Errorf("%w: %s shrank underneath the mapping (offset %d of %d is gone: something truncated or replaced the file); reopen it, or remove it and let it be created anew", ErrCorrupt, r.path, off, len(r.m))
}
