package lru

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/shmlru/shmlru/shm"
)

// Cache is an LRU cache in a shared-memory region. Every operation is atomic
// with respect to all goroutines and all processes that have the region
// open. A Cache is safe for concurrent use.
type Cache struct {
	r      *shm.Region
	g      geometry
	shards []shard
	closed atomic.Bool
	broken atomic.Pointer[error] // set when the mapping itself failed (file truncated)
}

// shard is this process's handle on one shard of the region.
type shard struct {
	// mu serialises this process's goroutines on the shard before they
	// compete with other processes on the futex word. Blocked goroutines
	// then park in the Go scheduler instead of each holding a thread in a
	// futex wait, and a lock word that names our own token while we hold mu
	// can only be a leftover (see shm.Region.Lock).
	mu sync.Mutex

	c       *Cache
	g       *geometry
	idx     int
	h       *shardHeader
	buckets []uint32
	base    unsafe.Pointer // block 0

	// Per-operation state, owned by whoever holds mu.
	locked    bool // the region lock is held
	prevFault bool // the goroutine's panic-on-fault setting before the operation

	_ [64]byte // keep neighbouring shards' mutexes off one cache line
}

// Open opens the cache in the region at path (a name without a slash is a
// file under /dev/shm), creating the region if it does not exist. o may be
// nil for the defaults.
func Open(path string, o *Options) (*Cache, error) {
	if o == nil {
		o = &Options{}
	}
	size := o.Size
	if size == 0 {
		size = DefaultSize
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: Size %d is negative", ErrBadOptions, size)
	}
	// Plan against the data area a region of this size will have, so that
	// bad options fail before any file is created.
	if _, err := plan(shm.DataSize(size, 0), o); err != nil {
		return nil, err
	}
	r, err := shm.Open(path, shm.Options{
		Size:     size,
		Mode:     o.Mode,
		Exact:    o.Exact && o.Size != 0,
		NoCreate: o.NoCreate,
		Init: func(data []byte) error {
			g, err := plan(int64(len(data)), o)
			if err != nil {
				return err
			}
			*(*cacheHeader)(unsafe.Pointer(&data[0])) = g.header()
			c := &Cache{g: g}
			c.bind(data)
			for i := range c.shards {
				c.shards[i].reset()
			}
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	c, err := attach(r, o)
	if err != nil {
		r.Close()
		return nil, err
	}
	return c, nil
}

func attach(r *shm.Region, o *Options) (*Cache, error) {
	data := r.Data()
	if len(data) < cacheHeaderSize {
		return nil, fmt.Errorf("%w: %s: data area of %d bytes", ErrCorrupt, r.Path(), len(data))
	}
	g, err := readGeometry((*cacheHeader)(unsafe.Pointer(&data[0])), len(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Path(), err)
	}
	if o.Exact {
		if err := g.matches(o); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Path(), err)
		}
	}
	c := &Cache{r: r, g: g}
	c.bind(data)
	return c, nil
}

// matches reports whether g has the geometry o insists on.
func (g *geometry) matches(o *Options) error {
	diff := func(what string, have, want int) error {
		return fmt.Errorf("%w: the existing cache has %s %d, %d was asked for; remove the region to recreate it, or drop Exact to adopt it", ErrIncompatible, what, have, want)
	}
	switch {
	case o.Shards != 0 && o.Shards != g.shards:
		return diff("Shards", g.shards, o.Shards)
	case o.BlockSize != 0 && o.BlockSize != g.blockSize:
		return diff("BlockSize", g.blockSize, o.BlockSize)
	case o.MaxValueSize != 0 && o.MaxValueSize != g.maxValue:
		return diff("MaxValueSize", g.maxValue, o.MaxValueSize)
	case o.MaxEntries != 0 && (o.MaxEntries+g.shards-1)/g.shards != g.maxEntries:
		return diff("MaxEntries per shard", g.maxEntries, (o.MaxEntries+g.shards-1)/g.shards)
	}
	return nil
}

// bind points the shard handles at a data area whose geometry is c.g.
func (c *Cache) bind(data []byte) {
	c.shards = make([]shard, c.g.shards)
	for i := range c.shards {
		off := cacheHeaderSize + i*c.g.stride
		s := &c.shards[i]
		s.c, s.g, s.idx = c, &c.g, i
		s.h = (*shardHeader)(unsafe.Pointer(&data[off]))
		s.buckets = unsafe.Slice((*uint32)(unsafe.Pointer(&data[off+c.g.bucketsOff])), c.g.nbuckets)
		s.base = unsafe.Pointer(&data[off+c.g.blocksOff])
	}
}

// Close releases the cache. Operations in flight finish first; later ones
// return ErrClosed. The region stays for the other processes.
func (c *Cache) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	for i := range c.shards {
		c.shards[i].mu.Lock()
	}
	err := c.r.Close()
	for i := range c.shards {
		c.shards[i].mu.Unlock()
	}
	return err
}

// Path returns the region file's path.
func (c *Cache) Path() string { return c.r.Path() }

// Created reports whether this Open created the region.
func (c *Cache) Created() bool { return c.r.Created() }

// Region returns the region under the cache, for tools that inspect it.
func (c *Cache) Region() *shm.Region { return c.r }

// Geometry returns the cache's layout and limits.
func (c *Cache) Geometry() Geometry {
	g := &c.g
	return Geometry{
		Size:            c.r.Size(),
		Shards:          g.shards,
		BlockSize:       g.blockSize,
		BlocksPerShard:  g.nblocks - 1,
		BucketsPerShard: g.nbuckets,
		MaxEntries:      g.maxEntries * g.shards,
		MaxKey:          g.maxKey,
		MaxValue:        g.maxValue,
	}
}

// shardFor picks the shard of a key's hash: its top bits, so that the low
// bits, which pick the bucket, stay independent of the shard.
func (c *Cache) shardFor(h uint64) *shard {
	return &c.shards[(h>>c.g.shardShift)&uint64(c.g.shards-1)]
}

// ShardOf returns the index of the shard that holds key (as Stats and
// Range number them).
func (c *Cache) ShardOf(key []byte) int { return c.shardFor(hashKey(key)).idx }

func hashKey(key []byte) uint64 { return xxhash.Sum64(key) }

// checkKey validates a key before any lock is taken, so a rejected call
// changes nothing.
func (c *Cache) checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	if len(key) > c.g.maxKey {
		return fmt.Errorf("%w: %d bytes, the limit is %d; hash long keys down (e.g. SHA-256) before caching", ErrKeyTooLarge, len(key), c.g.maxKey)
	}
	return nil
}

func (c *Cache) checkValue(v []byte) error {
	if len(v) > c.g.maxValue {
		return fmt.Errorf("%w: %d bytes, the limit is %d; split the value or create the cache with a larger MaxValueSize", ErrValueTooLarge, len(v), c.g.maxValue)
	}
	return nil
}

// begin starts an operation on the shard: it takes the process-local mutex
// and arms fault recovery. Every begin that returns nil is paired with a
// deferred end, which must be deferred before the region lock is taken.
func (s *shard) begin() error {
	s.mu.Lock()
	if s.c.closed.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	if p := s.c.broken.Load(); p != nil {
		s.mu.Unlock()
		return *p
	}
	// A fault on the mapping (the file truncated underneath us) panics
	// instead of killing the process; end recovers it.
	s.prevFault = debug.SetPanicOnFault(true)
	return nil
}

// acquire takes the shard's region lock. If the previous owner died holding
// it, the shard is repaired: reset if the owner died mid-mutation.
func (s *shard) acquire() {
	if s.c.r.Lock(&s.h.lock) {
		s.locked = true
		s.h.stats.Recoveries++
		if atomic.LoadUint32(&s.h.dirty) != 0 {
			s.resetCounted()
		} else if !s.lruIntact() {
			s.repairLRU() // the owner died in a touch
		}
		return
	}
	s.locked = true
}

// end finishes an operation begun with begin. It must be called directly
// by defer: it recovers panics raised while the shard was in use.
//
// A corruptError (an offset out of range, a cycle, counts that disagree)
// resets the shard so that the cache goes on serving, and becomes ErrCorrupt.
// A fault on the mapping marks the whole cache broken: its file was
// truncated or removed underneath the mapping.
func (s *shard) end(err *error) {
	p := recover()
	var foreign any
	if p != nil {
		*err, foreign = s.recoverPanic(p)
	}
	if s.locked && s.c.broken.Load() == nil {
		s.c.r.Unlock(&s.h.lock)
	}
	s.locked = false
	debug.SetPanicOnFault(s.prevFault)
	s.mu.Unlock()
	if foreign != nil {
		// Not ours to hide (a caller's panic in a Range callback, or a
		// bug), but re-raised only now, with both locks released: a
		// caller that recovers must not leave the shard locked by a live
		// process, which every other process would wait on forever.
		panic(foreign)
	}
}

// recoverPanic turns a panic raised while the shard was in use into an
// error, or returns it as foreign for end to re-raise.
func (s *shard) recoverPanic(p any) (error, any) {
	var ce corruptError
	switch e := p.(type) {
	case corruptError:
		ce = e
	case runtime.Error:
		if f, fault := p.(interface{ Addr() uintptr }); fault {
			if !s.c.r.Contains(f.Addr()) {
				return nil, p // a fault outside the mapping is a bug
			}
			err := fmt.Errorf("%w: %s: the mapping faulted (%v); the file was truncated or removed underneath this process: reopen the cache", ErrCorrupt, s.c.r.Path(), e)
			s.c.broken.CompareAndSwap(nil, &err)
			return err, nil
		}
		// An index out of range is the bounds check we rely on as a last
		// line of defence against a corrupt region.
		ce = corruptError{fmt.Sprintf("shard %d: %v", s.idx, e)}
	default:
		return nil, p
	}
	if s.locked {
		s.resetGuarded()
	}
	return fmt.Errorf("%w: %s (the shard was reset)", ErrCorrupt, ce.msg), nil
}

// resetGuarded resets the shard after corruption was found, without letting
// a second fault escape.
func (s *shard) resetGuarded() {
	defer func() {
		if p := recover(); p != nil {
			err := fmt.Errorf("%w: %s: reset of shard %d failed: %v", ErrCorrupt, s.c.r.Path(), s.idx, p)
			s.c.broken.CompareAndSwap(nil, &err)
		}
	}()
	s.resetCounted()
}

// corruptError is panicked by the shard code when it finds the region
// inconsistent; end turns it into ErrCorrupt.
type corruptError struct{ msg string }

func (s *shard) corrupt(format string, args ...any) {
	panic(corruptError{fmt.Sprintf("shard %d: ", s.idx) + fmt.Sprintf(format, args...)})
}
