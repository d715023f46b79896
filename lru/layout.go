package lru

import (
	"fmt"
	"math/bits"
	"unsafe"
)

// The cache's layout inside a region's data area. This file is its single
// definition. All positions are offsets from the start of the data area or
// indexes of blocks within a shard, never pointers, so every process sees the
// same structure wherever its mapping lands.
//
//	data area: [ cacheHeader | shard 0 | shard 1 | ... ]
//	shard:     [ shardHeader | buckets [nbuckets]uint32 | blocks [nblocks][blockSize]byte ]
//
// A shard's memory is an array of fixed-size blocks. Block 0 is never used,
// so index 0 means "none" everywhere and a zeroed bucket array is empty. An
// entry is a chain of blocks: the first starts with the entry header and
// carries the first bytes of key||value; each overflow block starts with the
// index of the next one. Free blocks form a list threaded through their first
// four bytes, and blocks at or above the high-water mark have never been used
// (so a reset is O(buckets), not O(blocks)). Because every block is the same
// size, an entry that fits in the shard can always be stored once enough
// entries are evicted: there is no fragmentation.
const (
	// LayoutVersion is the version of the cache layout inside the region.
	LayoutVersion = 2

	layoutMagic = "shmlruC\x01"

	cacheHeaderSize = 256
	shardHeaderSize = 256
	entryHeaderSize = 48 // unsafe.Sizeof(entry{}), checked in init
	linkSize        = 4  // the next-block index at the start of an overflow block

	// MinBlockSize and MaxBlockSize bound Options.BlockSize.
	MinBlockSize = 64
	MaxBlockSize = 64 << 10

	// MaxKeySize is the largest key any cache accepts (the limit of
	// ngx.shared.DICT, and what the entry header's 16-bit length holds).
	MaxKeySize = 65535

	// MaxShards bounds Options.Shards.
	MaxShards = 4096

	// maxBlocksPerShard keeps block indexes, and byte offsets computed from
	// them, far from overflow.
	maxBlocksPerShard = 1 << 30
)

// cacheHeader is the first thing in the data area: the geometry every opener
// adopts. Never reorder; append only, with a new LayoutVersion if needed.
type cacheHeader struct {
	magic       [8]byte
	version     uint32
	shards      uint32 // a power of two
	blockSize   uint32 // a multiple of 8 in [MinBlockSize, MaxBlockSize]
	nblocks     uint32 // per shard, including the unused block 0
	nbuckets    uint32 // per shard, a power of two
	maxEntries  uint32 // per shard
	maxKey      uint32
	maxValue    uint32
	shardStride uint64 // bytes from one shard to the next
	bucketsOff  uint32 // from the start of a shard
	blocksOff   uint32 // from the start of a shard
}

// shardHeader starts each shard, on its own cache lines. Every field is read
// and written only with the shard's lock held, except lock (atomics) and
// dirty (atomic stores, so that they order against the mutation they guard).
type shardHeader struct {
	lock    uint32 // futex word, see shm.Region.Lock
	dirty   uint32 // nonzero while a mutation is under way
	head    uint32 // most recently used entry, 0 if none
	tail    uint32 // least recently used entry, 0 if none
	free    uint32 // first block of the free list, 0 if none
	nfree   uint32 // free blocks: on the list plus those at or above hwm
	hwm     uint32 // blocks at or above this index have never been used
	entries uint32
	clock   uint64 // last version handed out
	ttls    uint32 // entries with a deadline: when 0, writes skip the search for expired ones
	// deadPid is the pid of the dead owner an observer found holding the
	// lock and handed back as an orphan, kept for operators; 0 once the
	// lock is taken over (or if the pid was unknown).
	deadPid uint32
	stats   Counters
}

// Counters are the event counts kept per shard in the region, so every
// process (and shmctl) reads the same numbers. Their layout is part of the
// region's.
type Counters struct {
	Hits        uint64 // lookups that found a live entry
	Misses      uint64 // lookups that found nothing, or an expired entry
	Sets        uint64 // entries written (set, add, replace, cas, incr)
	Deletes     uint64 // entries deleted by Delete
	Evictions   uint64 // live entries evicted to make room
	Expirations uint64 // expired entries removed
	Recoveries  uint64 // locks taken over from a dead process
	Resets      uint64 // times the shard was reset (dead owner mid-mutation, or corruption)
}

// entry is the header of an entry's first block.
type entry struct {
	hnext   uint32 // next entry in the bucket's chain
	prev    uint32 // LRU neighbour towards the head (more recent)
	next    uint32 // LRU neighbour towards the tail (less recent)
	more    uint32 // first overflow block, 0 if none
	expires int64  // Unix milliseconds, 0 = never
	version uint64 // changes with every write of the entry
	flags   uint32 // user flags
	vlen    uint32 // value length
	klen    uint16 // key length
	typ     Type   // value type
	_       [5]byte
}

func init() {
	if unsafe.Sizeof(entry{}) != entryHeaderSize ||
		unsafe.Sizeof(shardHeader{}) > shardHeaderSize ||
		unsafe.Sizeof(cacheHeader{}) > cacheHeaderSize {
		panic("lru: layout changed; bump LayoutVersion and fix layout.go")
	}
}

// geometry is a validated copy of cacheHeader in process memory. It is read
// from the region once, at Open, and never again, so a corrupted header
// cannot redirect a running process.
type geometry struct {
	shards     int
	shardShift uint // 64 - log2(shards): the hash's top bits pick the shard
	blockSize  int
	nblocks    int
	nbuckets   int
	maxEntries int
	maxKey     int
	maxValue   int
	stride     int
	bucketsOff int
	blocksOff  int
}

// shardOf picks a key's shard from the key's hash: its top bits, so that
// the low bits, which pick the bucket, stay independent of the shard. With
// one shard the shift is 64, which Go defines (the result is 0) and C does
// not: c/xxh64.h's shmlru_shard_of tests for it.
func (g *geometry) shardOf(h uint64) int { return int(h>>g.shardShift) & (g.shards - 1) }

// bucketOf picks a key's bucket within its shard from the key's hash: its
// low bits (the top bits pick the shard, see Cache.shardFor). c/xxh64.h's
// shmlru_bucket_of is its C twin, held to it by c/xxh64_test.go.
func (g *geometry) bucketOf(h uint64) uint32 { return uint32(h) & uint32(g.nbuckets-1) }

// blocksFor is how many blocks an entry with a key of klen bytes and a
// value of vlen bytes takes.
func (g *geometry) blocksFor(klen, vlen int) int {
	n := entryHeaderSize + klen + vlen
	if n <= g.blockSize {
		return 1
	}
	per := g.blockSize - linkSize
	return 1 + (n-g.blockSize+per-1)/per
}

// plan computes a geometry for a data area of dataSize bytes.
func plan(dataSize int64, o *Options) (geometry, error) {
	g := geometry{blockSize: o.BlockSize}
	if g.blockSize == 0 {
		g.blockSize = DefaultBlockSize
	}
	if g.blockSize < MinBlockSize || g.blockSize > MaxBlockSize || g.blockSize%8 != 0 {
		return g, fmt.Errorf("%w: BlockSize %d; use a multiple of 8 from %d to %d", ErrBadOptions, g.blockSize, MinBlockSize, MaxBlockSize)
	}
	avail := dataSize - cacheHeaderSize
	g.shards = o.Shards
	if g.shards == 0 {
		// One shard per MiB up to 16, then one per 16 MiB up to 64. Two
		// processes on 16 shards meet on a lock once in 16 operations
		// (with 4, the 2-process speed-up was 1.2x; with 16, 2x). More
		// shards than that cost single-process speed at the same size
		// (64 MiB: Get hit 130 ns with 16 shards, 233 ns with 64, the time
		// going to the first touch of each entry), so they come only with
		// larger caches, which also need them for bigger values.
		g.shards = 1
		for g.shards < 16 && avail/int64(g.shards*2) >= 1<<20 {
			g.shards *= 2
		}
		for g.shards < 64 && avail/int64(g.shards*2) >= 16<<20 {
			g.shards *= 2
		}
	}
	if g.shards < 1 || g.shards > MaxShards || g.shards&(g.shards-1) != 0 {
		return g, fmt.Errorf("%w: Shards %d; use a power of two from 1 to %d (or 0 to choose)", ErrBadOptions, g.shards, MaxShards)
	}
	g.shardShift = uint(64 - bits.TrailingZeros(uint(g.shards)))
	// Bytes per shard, a whole number of cache lines: the stride is rounded
	// up to one, and must not outgrow its share.
	per := avail / int64(g.shards) &^ 63
	// Each block costs its own size plus (about) half a bucket.
	nblocks := (per - shardHeaderSize - 128) * 2 / int64(2*g.blockSize+2)
	if nblocks > maxBlocksPerShard {
		nblocks = maxBlocksPerShard
	}
	if nblocks < 16 {
		return g, fmt.Errorf("%w: %d bytes make shards of %d bytes, too small for %d-byte blocks; give a larger Size or fewer Shards", ErrBadOptions, dataSize, per, g.blockSize)
	}
	g.nblocks = int(nblocks)
	want := g.nblocks / 2
	if o.MaxEntries > 0 {
		want = (o.MaxEntries + g.shards - 1) / g.shards
	}
	g.nbuckets = 1
	for g.nbuckets < want {
		g.nbuckets *= 2
	}
	g.maxEntries = g.nblocks - 1
	if o.MaxEntries > 0 && want < g.maxEntries {
		g.maxEntries = want
	}
	g.bucketsOff = shardHeaderSize
	g.blocksOff = int(alignUp(int64(g.bucketsOff+4*g.nbuckets), 64))
	// Buckets may have taken more than planned (MaxEntries): fit the blocks
	// into what is left.
	if left := (per - int64(g.blocksOff)) / int64(g.blockSize); int64(g.nblocks) > left {
		g.nblocks = int(left)
	}
	if g.nblocks < 16 {
		return g, fmt.Errorf("%w: MaxEntries %d leaves no room for values in %d-byte shards; give a larger Size or a smaller MaxEntries", ErrBadOptions, o.MaxEntries, per)
	}
	if g.maxEntries > g.nblocks-1 {
		g.maxEntries = g.nblocks - 1
	}
	g.stride = int(alignUp(int64(g.blocksOff+g.nblocks*g.blockSize), 64))
	shardBytes := (g.nblocks - 1) * g.blockSize
	g.maxKey = min(MaxKeySize, shardBytes/8)
	g.maxValue = o.MaxValueSize
	if g.maxValue == 0 {
		g.maxValue = shardBytes / 4
	}
	if g.maxValue < 0 || g.blocksFor(g.maxKey, g.maxValue) > g.nblocks-1 {
		return g, fmt.Errorf("%w: MaxValueSize %d does not fit a shard of %d bytes; use at most about %d, or fewer Shards, or a larger Size", ErrBadOptions, o.MaxValueSize, shardBytes, shardBytes*(g.blockSize-linkSize)/g.blockSize-g.maxKey-entryHeaderSize)
	}
	return g, nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) &^ (a - 1) }

func (g *geometry) header() cacheHeader {
	h := cacheHeader{
		version:     LayoutVersion,
		shards:      uint32(g.shards),
		blockSize:   uint32(g.blockSize),
		nblocks:     uint32(g.nblocks),
		nbuckets:    uint32(g.nbuckets),
		maxEntries:  uint32(g.maxEntries),
		maxKey:      uint32(g.maxKey),
		maxValue:    uint32(g.maxValue),
		shardStride: uint64(g.stride),
		bucketsOff:  uint32(g.bucketsOff),
		blocksOff:   uint32(g.blocksOff),
	}
	copy(h.magic[:], layoutMagic)
	return h
}

// readGeometry validates the cache header of a data area of dataSize bytes
// and returns the geometry it describes. Every field is checked, and every
// derived size is checked against dataSize, so a hostile header yields an
// error rather than offsets outside the mapping.
func readGeometry(h *cacheHeader, dataSize int) (geometry, error) {
	var g geometry
	if string(h.magic[:]) != layoutMagic {
		return g, fmt.Errorf("%w: the region holds no shmlru cache (bad cache magic)", ErrCorrupt)
	}
	if h.version != LayoutVersion {
		return g, fmt.Errorf("%w: cache layout version %d, this build reads version %d; use the shmlru release that created it, or remove the region and let this one create it anew", ErrVersion, h.version, LayoutVersion)
	}
	bad := func(what string, v any) (geometry, error) {
		return g, fmt.Errorf("%w: cache header: %s %v is out of range", ErrCorrupt, what, v)
	}
	if h.shards == 0 || h.shards > MaxShards || h.shards&(h.shards-1) != 0 {
		return bad("shards", h.shards)
	}
	if h.blockSize < MinBlockSize || h.blockSize > MaxBlockSize || h.blockSize%8 != 0 {
		return bad("block size", h.blockSize)
	}
	if h.nblocks < 16 || h.nblocks > maxBlocksPerShard {
		return bad("blocks per shard", h.nblocks)
	}
	if h.nbuckets == 0 || h.nbuckets > 1<<30 || h.nbuckets&(h.nbuckets-1) != 0 {
		return bad("buckets per shard", h.nbuckets)
	}
	if h.maxEntries == 0 || h.maxEntries >= h.nblocks {
		return bad("max entries", h.maxEntries)
	}
	if h.bucketsOff != shardHeaderSize {
		return bad("buckets offset", h.bucketsOff)
	}
	if uint64(h.blocksOff) != uint64(alignUp(int64(h.bucketsOff)+4*int64(h.nbuckets), 64)) {
		return bad("blocks offset", h.blocksOff)
	}
	if h.shardStride != uint64(alignUp(int64(h.blocksOff)+int64(h.nblocks)*int64(h.blockSize), 64)) {
		return bad("shard stride", h.shardStride)
	}
	if uint64(cacheHeaderSize)+uint64(h.shards)*h.shardStride > uint64(dataSize) {
		return g, fmt.Errorf("%w: cache header describes %d shards of %d bytes, more than the region's %d bytes", ErrCorrupt, h.shards, h.shardStride, dataSize)
	}
	g = geometry{
		shards:     int(h.shards),
		shardShift: uint(64 - bits.TrailingZeros32(h.shards)),
		blockSize:  int(h.blockSize),
		nblocks:    int(h.nblocks),
		nbuckets:   int(h.nbuckets),
		maxEntries: int(h.maxEntries),
		maxKey:     int(h.maxKey),
		maxValue:   int(h.maxValue),
		stride:     int(h.shardStride),
		bucketsOff: int(h.bucketsOff),
		blocksOff:  int(h.blocksOff),
	}
	if g.maxKey < 1 || g.maxKey > MaxKeySize || g.maxValue < 0 || g.blocksFor(g.maxKey, g.maxValue) > g.nblocks-1 {
		return bad("key/value limits", fmt.Sprint(h.maxKey, "/", h.maxValue))
	}
	return g, nil
}
