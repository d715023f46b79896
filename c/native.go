package main

/*
#include "fast.h"

static struct shmlru_fast *fast_handle(size_t slot) { return &shmlru_fast_handles[slot]; }
*/
import "C"

import (
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/lru"
)

// The native read path (fast.c) serves a handle from a second attachment
// to its region, lru.NativeView: its own process slot and lock token, and
// its own mapping. enableNative fills the handle's C state from it and then
// publishes the handle; disableNative withdraws it and waits for the native
// calls in progress before the view's mapping goes.

func init() {
	if C.SHMLRU_FAST_HANDLES != maxHandles {
		panic("shmlru_fast_handles in fast.h must have maxHandles entries")
	}
	if C.SHMLRU_FAST_MAX_TTL_MS != math.MaxInt64/int64(time.Millisecond) {
		panic("SHMLRU_FAST_MAX_TTL_MS in fast.h must be ttlOf's limit")
	}
}

// nativeRefusal is why the native path may serve no handle in this
// process, "" if it may: the layout fast.c was compiled against
// (shmlru_fast_fingerprint, from c/layout.h) is not the one Go reads
// (format.Fingerprint), so its offsets cannot be trusted. The reason is
// written to stderr once (with SHMLRU_DEBUG, at every open instead): it
// means a broken build, and every call going through Go is slower, never
// wrong.
var nativeRefusal = sync.OnceValue(func() string {
	cfp, gofp := uint64(C.shmlru_fast_fingerprint), format.Fingerprint()
	if cfp == gofp {
		return ""
	}
	why := fmt.Sprintf("native path refused: the C code's layout fingerprint %#016x is not Go's %#016x (c/layout.h is stale: run `make generate`, then rebuild); every call goes through Go", cfp, gofp)
	if !debugNative {
		fmt.Fprintln(os.Stderr, "shmlru:", why)
	}
	return why
})

// debugNative, set from SHMLRU_DEBUG (any value), has every open say on
// stderr, in one line, whether the native path serves its handle and if
// not why.
var debugNative = os.Getenv("SHMLRU_DEBUG") != ""

// enableNative lets the native path serve handle id (whose cache is c). If
// the C code's layout is not Go's (nativeRefusal), or the second attachment
// cannot be had (every process slot taken, say), the handle is served by Go
// alone: slower, never wrong.
func enableNative(id uint64, c *lru.Cache) *lru.NativeView {
	if why := nativeRefusal(); why != "" {
		if debugNative {
			fmt.Fprintf(os.Stderr, "shmlru: handle %d: %s\n", id, why)
		}
		return nil
	}
	v, err := c.Binding().NativeView()
	if err != nil {
		if debugNative {
			fmt.Fprintf(os.Stderr, "shmlru: handle %d: native path off: %v; every call goes through Go\n", id, err)
		}
		return nil
	}
	if debugNative {
		fmt.Fprintf(os.Stderr, "shmlru: handle %d: native path on (layout fingerprint %#016x)\n", id, format.Fingerprint())
	}
	m, token := v.Region.Mapping()
	f := C.fast_handle(C.size_t((id - 1) % maxHandles))
	f.broken = 0
	f.token = C.uint32_t(token)
	f._map = (*C.uchar)(unsafe.Pointer(unsafe.SliceData(m)))
	f.map_len = C.size_t(len(m))
	f.data = (*C.uchar)(unsafe.Pointer(&m[v.DataOff]))
	f.stride = C.uint64_t(v.Stride)
	f.shards = C.uint32_t(v.Shards)
	f.shard_shift = C.uint32_t(v.ShardShift)
	f.nbuckets = C.uint32_t(v.Buckets)
	f.nunits = C.uint32_t(v.Units)
	f.buckets_off = C.uint32_t(v.BucketsOff)
	f.heap_off = C.uint32_t(v.HeapOff)
	f.max_key = C.uint32_t(v.MaxKey)
	f.max_value = C.uint32_t(v.MaxValue)
	f.max_entries = C.uint32_t(v.MaxEntries)
	f.refs_off = C.uint32_t(v.RefsOff)
	f.reads = (*C.struct_shmlru_l_read_counters)(unsafe.Pointer(&m[v.DataOff+v.ReadsOff]))
	f.lanes = C.uint32_t(v.Lanes)
	f.track_off = C.uint64_t(v.TrackOff)
	f.stripes_off = C.uint32_t(v.StripesOff)
	f.ring_off = C.uint32_t(v.RingOff)
	f.stripes = C.uint32_t(v.Stripes)
	f.stripe_bits = C.uint32_t(bits.TrailingZeros(uint(v.Stripes)))
	f.ring = C.uint32_t(v.Ring)
	if off, err := v.TrackClockOffset(); err == nil {
		f.mono_offset = C.int64_t(off)
	} else {
		f.track_off = 0 // Go answers: never in step
	}
	// The ring-head watch (watch.c) is made from the file the view maps,
	// open until close, at the handle's first shmlru_l1_heads.
	f.fd = C.int(v.Region.Fd())
	f.watch, f.watch_len, f.watch_tried = nil, 0, 0
	C.shmlru_guard_install()
	// Published last (seq_cst, as fast.c's enter reads it).
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&f.id)), id)
	return v
}

// disableNative withdraws handle id from the native path and closes v once
// no native call is using its mapping.
func disableNative(id uint64, v *lru.NativeView) {
	if v == nil {
		return
	}
	f := C.fast_handle(C.size_t((id - 1) % maxHandles))
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&f.id)), 0)
	for atomic.LoadInt32((*int32)(unsafe.Pointer(&f.inflight))) != 0 {
		runtime.Gosched() // a native call holds a shard lock for microseconds
	}
	C.shmlru_fast_unwatch(f)
	v.Region.Close()
}
