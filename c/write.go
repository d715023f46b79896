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

//export shmlru_go_write
func shmlru_go_write(h C.uint64_t, key *C.char, keyLen C.size_t, value unsafe.Pointer, valueLen C.size_t, opts unsafe.Pointer, result unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	v, st := bytesOf(value, valueLen, e.maxValue)
	if st != statusOK {
		return st
	}
	o, st := writeOptsOf(opts)
	if st != statusOK {
		return st
	}
	probeOut(result, unsafe.Sizeof(cWriteResult{}))
	r, err := e.c.Write(k, v, o)
	return writeResult(r, err, result)
}

// shmlru_load_store is shmlru_write for a loader (lru's Loads.Write): it
// writes only while the caller's SHMLRU_LOAD_MINE load is still its own,
// and answers SHMLRU_LOAD_LOST, writing nothing, once another caller has
// taken it over. opts' mode must be SHMLRU_MODE_SET.
//
//export shmlru_go_load_store
func shmlru_go_load_store(h C.uint64_t, load unsafe.Pointer, key *C.char, keyLen C.size_t, value unsafe.Pointer, valueLen C.size_t, opts unsafe.Pointer, result unsafe.Pointer) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if load == nil {
		return statusBadArgument
	}
	v, st := bytesOf(value, valueLen, e.maxValue)
	if st != statusOK {
		return st
	}
	o, st := writeOptsOf(opts)
	if st != statusOK {
		return st
	}
	if o.Mode != lru.ModeSet {
		return statusBadArgument
	}
	t := ticketOf((*cLoad)(load))
	probeOut(result, unsafe.Sizeof(cWriteResult{}))
	r, err := e.c.Loads().Write(&t, k, v, o)
	return writeResult(r, err, result)
}

// writeOptsOf reads a shmlru_write_opts (NULL: the defaults).
func writeOptsOf(opts unsafe.Pointer) (lru.WriteOptions, C.int) {
	if opts == nil {
		return lru.WriteOptions{}, statusOK
	}
	co := (*cWriteOpts)(opts)
	switch {
	case co.Reserved != 0 || co.NoEvict > 1 || co.Mode > uint8(lru.ModeCAS):
		return lru.WriteOptions{}, statusBadArgument
	case co.Type == uint8(lru.TypeList) || co.Type > uint8(lru.TypeNone):
		// Lists are written with the list functions. TypeNone (a
		// cached absence; lru checks that its value is empty) is
		// for read-through loads in other languages.
		return lru.WriteOptions{}, statusBadValue
	}
	ttl, st := ttlOf(int64(co.TTLMs))
	if st != statusOK {
		return lru.WriteOptions{}, st
	}
	return lru.WriteOptions{
		Mode:    lru.WriteMode(co.Mode),
		TTL:     ttl,
		Flags:   co.Flags,
		Type:    lru.Type(co.Type),
		NoEvict: co.NoEvict != 0,
		Version: co.Version,
	}, statusOK
}

// writeResult returns a write's status and fills result (may be NULL).
func writeResult(r lru.WriteResult, err error, result unsafe.Pointer) C.int {
	if err != nil {
		return C.int(codeOf(err))
	}
	if result != nil {
		cr := (*cWriteResult)(result)
		cr.Version, cr.Forcible = r.Version, 0
		if r.Forcible {
			cr.Forcible = 1
		}
	}
	return statusOK
}

//export shmlru_go_delete
func shmlru_go_delete(h C.uint64_t, key *C.char, keyLen C.size_t, deleted *C.int) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	probeOut(unsafe.Pointer(deleted), unsafe.Sizeof(*deleted))
	ok, err := e.c.Delete(k)
	if err != nil {
		return C.int(codeOf(err))
	}
	if deleted != nil {
		*deleted = 0
		if ok {
			*deleted = 1
		}
	}
	return statusOK
}

//export shmlru_go_incr
func shmlru_go_incr(h C.uint64_t, key *C.char, keyLen C.size_t, delta C.double, result *C.double, hasInit C.int, init C.double, initTTLMs C.int64_t, forcible *C.int) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	if result == nil {
		return statusBadArgument
	}
	initTTL, st := ttlOf(int64(initTTLMs))
	if st != statusOK {
		return st
	}
	probeOut(unsafe.Pointer(result), unsafe.Sizeof(*result))
	probeOut(unsafe.Pointer(forcible), unsafe.Sizeof(*forcible))
	var (
		v    float64
		forc bool
		err  error
	)
	if hasInit != 0 {
		v, forc, err = e.c.IncrInit(k, float64(delta), float64(init), initTTL)
	} else {
		v, err = e.c.Incr(k, float64(delta))
	}
	if err != nil {
		return C.int(codeOf(err))
	}
	*result = C.double(v)
	if forcible != nil {
		*forcible = 0
		if forc {
			*forcible = 1
		}
	}
	return statusOK
}

//export shmlru_go_expire
func shmlru_go_expire(h C.uint64_t, key *C.char, keyLen C.size_t, ttlMs C.int64_t) (rc C.int) {
	defer guard(&rc, armFaults())
	e, k, st := handleKey(h, key, keyLen)
	if st != statusOK {
		return st
	}
	ttl, st := ttlOf(int64(ttlMs))
	if st != statusOK {
		return st
	}
	return C.int(codeOf(e.c.Expire(k, ttl)))
}
