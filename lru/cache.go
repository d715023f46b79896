package lru

import (
	"fmt"
	"runtime"
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
	size   int64 // of the region file, for Capacity and Geometry after Close
	closed atomic.Bool
	broken atomic.Pointer[error] // set when the mapping itself failed (file truncated)
	retire sync.Once             // see retireBroken

	// rows is the read counter table (counters.go); sharedRows: slots
	// share rows (a small region), so counts there are atomic adds.
	rows       []byte
	sharedRows bool

	lt    Loads      // the load table (flight.go)
	tr    Tracker    // the track table (track.go)
	bd    Binding    // the handle of the bindings and tools (binding.go)
	ltMu  sync.Mutex // one goroutine of this process at a time on the load table's lock
	wakes []*uint32  // futex words to wake once the table is unlocked (under ltMu)
	// local coalesces this process's callers of one key before they meet
	// other processes' in the load table (load.go).
	localMu sync.Mutex
	local   map[string]*localLoad
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
	heads   []uint32 // the free list of each size class (alloc.go)
	buckets []uint32
	bits    []uint64       // the free bitmap
	refs    []uint64       // the reference bitmap (refs.go)
	stripes []uint64       // the shard's invalidation stripes (stripes.go)
	ring    []uint32       // the shard's change ring (stripes.go)
	base    unsafe.Pointer // unit 0 of the heap
	reads   *readCounters  // this attachment's hits and misses of the shard's lane (counters.go)
	readers atomic.Int32   // lock-free reads in progress (snapshot.go), which Close waits for
	fence   uint32         // the word loadFence writes where loads need a fence (fence_other.go)

	// Per-operation state, owned by whoever holds mu (see shardlock.go).
	locked    bool      // the region lock is held
	observing bool      // the operation changes nothing (see observe)
	orphaned  bool      // observe took the lock from a dead owner: hand it back as an orphan
	leftDirty bool      // ... and that owner died mid-change
	prevFault bool      // the goroutine's panic-on-fault setting before the operation
	heldBy    shm.Owner // who held the region lock as withLock came to it (lockAskOwner)
	did       repaired  // what acquire found and did (withLock with lockChange)

	_ [64]byte // keep neighbouring shards' mutexes off one cache line
}

// Open opens the cache in the region at path (a name without a slash is a
// file under /dev/shm), creating the region if it does not exist. o may be
// nil for the defaults.
func Open(path string, o *Options) (*Cache, error) {
	if o == nil {
		o = &Options{}
	}
	if err := o.check(); err != nil {
		return nil, err
	}
	size := o.Size
	if size == 0 {
		size = DefaultSize
	}
	// Plan against the data area a region of this size will have, so that
	// bad options fail before any file is created.
	if _, err := planSize(size, o); err != nil {
		return nil, err
	}
	r, err := shm.Open(path, shm.Options{
		Size:      size,
		Mode:      o.Mode,
		TrustUIDs: o.TrustUIDs,
		TrustGIDs: o.TrustGIDs,
		Exact:     o.Exact && o.Size != 0,
		NoCreate:  o.NoCreate,
		Init: func(data []byte) error {
			g, err := plan(int64(len(data)), shm.DefaultSlots, o)
			if err != nil {
				return err
			}
			*(*cacheHeader)(unsafe.Pointer(&data[0])) = g.header()
			c := &Cache{g: g}
			c.bind(data)
			initTrack(c.tr.t)
			for i := range c.shards {
				c.shards[i].reset()
				c.shards[i].startCounts()
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
	var g geometry
	var err error
	if gerr := r.Guard(func() { g, err = readGeometry((*cacheHeader)(unsafe.Pointer(&data[0])), len(data)) }); gerr != nil {
		err = gerr
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.Path(), err)
	}
	if o.Exact {
		if err := g.matches(o); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Path(), err)
		}
	}
	c := &Cache{r: r, g: g, size: r.Size()}
	c.bind(data)
	c.bindReads(data, r.Slot(), r.Slots())
	if err := avoidTokens(r, &c.g); err != nil {
		return nil, err
	}
	return c, nil
}

// avoidTokens makes sure that the lock token of r, an attachment to a
// cache of geometry g that has just claimed its slot, is none that a word
// of the region still holds for a dead process (see
// shm.Region.AvoidTokens). Every attachment calls it: the Cache's own
// (attach) and NativeView's.
func avoidTokens(r *shm.Region, g *geometry) error {
	return r.AvoidTokens(tokenWords(r.Data(), g))
}

// tokenWords returns every word of a data area of geometry g that holds a
// lock token: each shard's lock, the load table's lock and each flight's
// owner. A word that comes to hold a token belongs here, so that no
// attachment can be given the token of a dead process that it holds.
func tokenWords(data []byte, g *geometry) []*uint32 {
	words := make([]*uint32, 0, g.shards+1+g.loads)
	for i := range g.shards {
		words = append(words, &(*shardHeader)(unsafe.Pointer(&data[cacheHeaderSize+i*g.stride])).Lock)
	}
	lt, flights := loadTableIn(data, g)
	words = append(words, &lt.Lock)
	for i := range flights {
		words = append(words, &flights[i].Owner)
	}
	return words
}

// matches reports whether g has the geometry o insists on.
func (g *geometry) matches(o *Options) error {
	diff := func(what string, have, want int) error {
		return fmt.Errorf("%w: the existing cache has %s %d, %d was asked for; remove the region to recreate it, or drop Exact to adopt it", ErrGeometry, what, have, want)
	}
	switch {
	case o.Shards != 0 && o.Shards != g.shards:
		return diff("Shards", g.shards, o.Shards)
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
		s.heads = unsafe.Slice((*uint32)(unsafe.Pointer(&data[off+c.g.headsOff])), numClasses)
		s.buckets = unsafe.Slice((*uint32)(unsafe.Pointer(&data[off+c.g.bucketsOff])), c.g.nbuckets)
		s.bits = unsafe.Slice((*uint64)(unsafe.Pointer(&data[off+c.g.bitsOff])), (c.g.nunits+63)/64)
		s.refs = unsafe.Slice((*uint64)(unsafe.Pointer(&data[off+c.g.refsOff])), (c.g.nunits+63)/64)
		s.base = unsafe.Pointer(&data[off+c.g.heapOff])
		s.bindStripes(data)
	}
	c.bindLoads(data)
	c.bindTrack(data)
	c.bd.c = c
}

// Close releases the cache. Operations in flight finish first; later ones
// return ErrClosed. The region stays for the other processes.
func (c *Cache) Close() error {
	if c.tr.agent.Load() && !c.closed.Load() {
		c.tr.ReleaseAgent() // readers stop trusting the tracked entries now, not when the last confirmation runs out
	}
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	for i := range c.shards {
		c.shards[i].mu.Lock()
		// Lock-free reads take no mu: wait for those in progress (they
		// take microseconds, and new ones see closed).
		for c.shards[i].readers.Load() != 0 {
			runtime.Gosched()
		}
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

// Geometry returns the cache's layout and limits.
func (c *Cache) Geometry() Geometry {
	g := &c.g
	return Geometry{
		Size:            c.size,
		Shards:          g.shards,
		HeapPerShard:    (g.nunits - 1) * unitSize,
		BucketsPerShard: g.nbuckets,
		MaxEntries:      g.maxEntries * g.shards,
		MaxKey:          g.maxKey,
		MaxValue:        g.maxValue,
		Loads:           g.loads,
	}
}

// shardFor returns the shard of a key's hash (see geometry.shardOf).
func (c *Cache) shardFor(h uint64) *shard {
	return &c.shards[c.g.shardOf(h)]
}

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
