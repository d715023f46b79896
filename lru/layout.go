package lru

import (
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/shmlru/shmlru/shm"
)

// The cache's layout inside a region's data area. This file is its single
// definition. All positions are offsets from the start of the data area or
// unit indexes within a shard's heap, never pointers, so every process sees
// the same structure wherever its mapping lands.
//
//	data area: [ cacheHeader | shard 0 | shard 1 | ... | load table | track table
//	           | read counters [rows][lanes]readCounters ]
//	shard:     [ shardHeader | heads [numClasses]uint32 | buckets [nbuckets]uint32
//	           | free bitmap [ceil(nunits/64)]uint64 | reference bitmap [ceil(nunits/64)]uint64
//	           | heap [nunits][unitSize]byte ]
//
// The heap is an array of 16-byte units, and unit 0 is never used, so index
// 0 means "none" everywhere and a zeroed bucket array is empty. An entry
// takes a whole number of units. Normally it is one contiguous run:
//
//	[ entry (32 B) | entryExt (16 B), only if entry.info has infoExt | key | value | padding to 16 ]
//
// When the shard has enough free units but no run long enough, the entry is
// a chain of pieces (see storage.go): the first piece as above, with
// entryExt.more naming the next piece, each further piece starting with a
// pieceHeader. Free units form runs, each kept on the free list of its size
// class (alloc.go), and the free bitmap has a bit set for every free unit,
// so that freeing can merge a run with free neighbours on both sides
// without any header in the entries themselves.
//
// Where the bytes of a 16 B key / 32 B value entry go: 32 entry header (12
// of links: bucket chain and LRU queue; 4 value length; 8 version; 8 of
// deadline, key length, type and the ext flag packed in one word), 48 key
// and value, no padding: 80 bytes, plus its share of the bucket array (4
// bytes per bucket, a bucket per 96 to 192 bytes of heap) and of the free
// bitmap (one bit per unit, 5 bits). Flags (nonzero) cost one more unit.
const (
	// LayoutVersion is the version of the cache layout inside the region.
	// 2: fixed-size blocks. 3: 16-byte units, contiguous entries.
	// 4: the load table (read-through), TypeNone, and the shard clock
	// advancing with deletes too. 5: the track table (coherence with an
	// outside store, track.go). 6: lock-free reads: the shard's change
	// sequence in place of the dirty word, the reference bitmap, and hits
	// and misses counted per process slot.
	LayoutVersion = 6

	layoutMagic = "shmlruC\x01"

	cacheHeaderSize = 256
	shardHeaderSize = 256
	unitSize        = 16 // bytes; the heap's granularity
	entryHeaderSize = 32 // unsafe.Sizeof(entry{}), checked in init
	entryExtSize    = 16 // unsafe.Sizeof(entryExt{})
	pieceHeaderSize = 8  // unsafe.Sizeof(pieceHeader{})

	// numClasses is the number of free-list size classes (see classOf):
	// one per size below exactClasses units, then eight per power of two.
	numClasses   = 256
	exactClasses = 64

	// MaxKeySize is the largest key any cache accepts (the limit of
	// ngx.shared.DICT, and what the entry's 16 bits of key length hold).
	MaxKeySize = 65535

	// MaxShards bounds Options.Shards.
	MaxShards = 4096

	// minUnitsPerShard and maxUnitsPerShard bound a shard's heap: at
	// least 4 KiB, at most 16 GiB, so unit indexes and byte offsets
	// computed from them stay far from overflow.
	minUnitsPerShard = 256
	maxUnitsPerShard = 1 << 30

	// bytesPerBucket is how much heap the planner gives each bucket:
	// about one per small entry, so a bucket chain holds one or two.
	bytesPerBucket = 96

	// The load table: its header and each flight are whole cache lines.
	loadTableHeaderSize = 64
	flightSize          = 128
	minLoads            = 16
	maxLoads            = 1024
	// bytesPerLoad is how much of the data area the planner gives each
	// flight: 64 MiB gets 512 of them (64 KiB, 0.1%), enough for as
	// many keys loading at once on the host.
	bytesPerLoad = 128 << 10

	// The track table (track.go): a cache line of state, then one guard
	// word per guardsPerLoad flights' worth of keys, 64 to 4096 of them.
	trackTableHeaderSize = 64
	guardsPerLoad        = 4

	// The read counter table (counters.go): a row of lanes per process
	// slot, each row on cache lines of its own, taking at most
	// 1/readsShare of the data area (small regions get fewer rows).
	readCountersSize = 16 // unsafe.Sizeof(readCounters{})
	maxLanes         = 64
	readsShare       = 16
)

// The fields packed into entry.info. The deadline takes 44 bits of Unix
// milliseconds, which last until the year 2527.
const (
	infoExpiresMask = 1<<44 - 1
	infoKlenShift   = 44
	infoTypShift    = 60
	infoTypMask     = 7
	infoExt         = 1 << 63

	// MaxExpires is the latest deadline (Unix ms) an entry can have.
	MaxExpires = infoExpiresMask
)

// cacheHeader is the first thing in the data area: the geometry every opener
// adopts. Never reorder; append only, with a new LayoutVersion if needed.
type cacheHeader struct {
	magic       [8]byte
	version     uint32
	shards      uint32 // a power of two
	nunits      uint32 // per shard, including the unused unit 0
	nbuckets    uint32 // per shard, a power of two
	maxEntries  uint32 // per shard
	maxKey      uint32
	maxValue    uint32
	_           uint32
	shardStride uint64 // bytes from one shard to the next
	headsOff    uint32 // from the start of a shard
	bucketsOff  uint32
	bitsOff     uint32
	heapOff     uint32
	loadsOff    uint64 // the load table, after the last shard
	loads       uint32 // flights in the load table, a power of two
	_           uint32
	trackOff    uint64 // the track table, after the load table
	guards      uint32 // guard words in the track table: loads*guardsPerLoad
	refsOff     uint32 // the reference bitmap, from the start of a shard
	readsOff    uint64 // the read counter table, after the track table
	rows        uint32 // rows in the read counter table: slot s counts in row s % rows
	lanes       uint32 // lanes per row: min(shards, maxLanes)
}

// shardHeader starts each shard, on its own cache lines. Every field is read
// and written only with the shard's lock held, except lock (atomics) and seq
// (atomic loads and stores, so that they order against the change they
// bracket; see docs/protocol.md).
type shardHeader struct {
	lock uint32 // futex word, see shm.Region.Lock
	_    uint32
	// seq is the shard's change sequence (a seqlock's count): a writer
	// makes it odd before it changes anything a reader looks at and even
	// again after. It is odd, then, exactly while a change is under way,
	// and a writer that died mid-change leaves it odd: it is the dirty
	// mark. A reader that takes no lock reads it before and after its
	// copy, and keeps the copy only if both reads gave the same even
	// number (snapshot.go).
	seq       uint64
	head      uint32 // most recently written (or spared) entry, 0 if none
	tail      uint32 // next in line for eviction, 0 if none
	freeUnits uint32 // units in free runs
	entries   uint32
	chained   uint32 // entries stored as a chain of pieces
	ttls      uint32 // entries with a deadline: when 0, writes skip the search for expired ones
	// clock advances with every change to the shard's entries that a
	// reader could see (a write, a delete, a new deadline, a flush), and a
	// write's new version is its value: so versions never repeat, and a
	// reader that saw the clock at c knows that nothing in the shard has
	// changed while it still reads c (resty.shmlru.mlcache's L1 relies
	// on it). Eviction and expiry do not advance it: what they remove was
	// not changed.
	clock uint64
	// deadPid is the pid of the dead owner an observer found holding the
	// lock and handed back as an orphan, kept for operators; 0 once the
	// lock is taken over (or if the pid was unknown).
	deadPid  uint32
	freeRuns uint32 // runs on the free lists
	// classes has bit c set when the free list of size class c is not
	// empty, so that an allocation finds a fitting class in a few words.
	classes [numClasses / 64]uint64
	stats   shardCounters
}

// shardCounters are the write-side event counts kept in each shard's
// header, under its lock. Hits and misses are kept per process slot
// instead (readCounters), so that a read writes nothing other processes
// read.
type shardCounters struct {
	Sets        uint64
	Deletes     uint64
	Evictions   uint64
	Expirations uint64
	Recoveries  uint64
	Resets      uint64
}

// readCounters are one process slot's lookups in one lane of shards (shard
// i counts in lane i % lanes), written only by the attachment that holds
// the slot.
type readCounters struct {
	Hits   uint64
	Misses uint64
}

// Counters are the event counts of a shard or a cache, as Stats reports
// them: every process (and shmctl) reads the same numbers.
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

// loadTable heads the load table: the read-through loads in progress on
// the whole host (load.go, flight.go). It is one cache line, followed by
// cacheHeader.loads flights.
type loadTable struct {
	lock uint32 // futex word, see shm.Region.Lock; guards every flight
	// freed is a futex word bumped whenever a flight ends, for callers
	// that found every flight of their key's window taken.
	freed uint32
	stats LoadCounters
	_     [16]byte
}

// LoadCounters are the read-through counts of a whole cache, kept in the
// load table. Their layout is part of the region's.
type LoadCounters struct {
	Loads     uint64 // loads claimed (each runs one loader)
	Waits     uint64 // callers that found a load in progress and waited for it
	Takeovers uint64 // loads taken over from a loader whose process died
	Failures  uint64 // loads that ended with the loader's error
	Abandoned uint64 // loads their loader gave up without an outcome (its context ended, it panicked)
}

// LoadMsgSize is how much of a failed loader's error message the load
// table keeps for the callers that waited on it, in bytes.
const LoadMsgSize = 88

// flight is one slot of the load table: a key's load while it runs, and the
// outcome of the last load that ran in it. The slot is free when owner is 0.
type flight struct {
	owner   uint32 // lock token of the loading attachment, 0 if free
	seq     uint32 // futex word: advances when a load ends; waiters sleep on it
	hash    uint64 // of the key being loaded
	started int64  // Unix ms when the load was claimed, for operators
	// deadline is when the loader's lease runs out (Unix ms, 0 = none):
	// from then on a waiter may take the load over.
	deadline int64
	outcome  uint32 // how the load that ended at seq went (a LoadState)
	msgLen   uint32
	msg      [LoadMsgSize]byte // the failed loader's error, cut to fit
}

// trackTable heads the track table: the state that keeps tracked entries
// in step with an outside store (track.go). It is one cache line, followed
// by cacheHeader.guards guard words (uint32). Every field is read and
// written with atomics; none is under a lock.
type trackTable struct {
	// gen is the generation: a tracked entry is served only while its
	// flags equal it. Never 0, bit 31 never set (see nextGen).
	gen uint32
	// agentPid is the pid of the process whose attachment holds the agent
	// role (the OFD lock on this table's first byte), 0 if none; for
	// operators, the lock itself is the truth.
	agentPid uint32
	// inStep is the instant (ns, on the host's CLOCK_MONOTONIC: that of
	// the initial time namespace, trackclock.go) until which the cache is
	// known to be in step with the store: the agent confirmed that every
	// change the store made before inStep-bound was applied here. 0: not
	// in step, tracked entries are not served and fills are not kept.
	inStep int64
	stats  TrackCounters
	_      [16]byte
}

// TrackCounters are the tracking counts of a whole cache, kept in the
// track table. Their layout is part of the region's.
type TrackCounters struct {
	Invalidations uint64 // keys invalidated by the agent (Invalidate)
	Generations   uint64 // times every tracked entry was dropped at once (InvalidateAll)
	Refused       uint64 // fills not kept because their key changed while they loaded
	Agents        uint64 // times a process took the agent role
}

// entry is the header of an entry's first (usually only) piece.
type entry struct {
	hnext   uint32 // next entry in the bucket's chain
	prev    uint32 // LRU neighbour towards the head (more recent)
	next    uint32 // LRU neighbour towards the tail (less recent)
	vlen    uint32 // value length
	version uint64 // changes with every write of the entry
	// info packs the deadline (Unix ms, 0 = never; infoExpiresMask), the
	// key length (16 bits at infoKlenShift), the value type (3 bits at
	// infoTypShift) and infoExt: an entryExt follows the header.
	info uint64
}

// entryExt follows the entry header of an entry with user flags or stored
// in pieces; most entries have neither and save its 16 bytes.
type entryExt struct {
	flags uint32 // user flags
	more  uint32 // the second piece, 0 if the entry is contiguous
	units uint32 // units of the first piece when more != 0
	_     uint32
}

// pieceHeader starts every piece of a chained entry after the first.
type pieceHeader struct {
	next  uint32 // the following piece, 0 for the last
	units uint32 // units of this piece
}

// freeRun is the header of a run of free units, in its first unit; the
// run's last four bytes repeat units (the footer), so that a run freed just
// after it can find where it starts.
type freeRun struct {
	units uint32
	next  uint32 // on the size class's free list
	prev  uint32
	_     uint32
}

func init() {
	if unsafe.Sizeof(entry{}) != entryHeaderSize ||
		unsafe.Sizeof(entryExt{}) != entryExtSize ||
		unsafe.Sizeof(pieceHeader{}) != pieceHeaderSize ||
		unsafe.Sizeof(freeRun{}) != unitSize ||
		unsafe.Sizeof(shardHeader{}) > shardHeaderSize ||
		unsafe.Sizeof(loadTable{}) != loadTableHeaderSize ||
		unsafe.Sizeof(flight{}) != flightSize ||
		unsafe.Sizeof(trackTable{}) != trackTableHeaderSize ||
		unsafe.Sizeof(readCounters{}) != readCountersSize ||
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
	nunits     int  // heap units per shard, including the unused unit 0
	nbuckets   int
	maxEntries int
	maxKey     int
	maxValue   int
	stride     int
	headsOff   int
	bucketsOff int
	bitsOff    int
	heapOff    int
	loadsOff   int // the load table, from the start of the data area
	loads      int // flights in it
	trackOff   int // the track table, from the start of the data area
	guards     int // guard words in it
	refsOff    int // the reference bitmap, from the start of a shard
	readsOff   int // the read counter table, from the start of the data area
	rows       int // its rows
	lanes      int // lanes per row
	rowStride  int // bytes from one row to the next
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

// unitsFor is how many units a contiguous entry with a key of klen bytes
// and a value of vlen bytes takes, with or without an entryExt.
func unitsFor(klen, vlen int, ext bool) int {
	n := entryHeaderSize + klen + vlen
	if ext {
		n += entryExtSize
	}
	return (n + unitSize - 1) / unitSize
}

// heapLayout places the free bitmap, the reference bitmap and the heap of a
// shard whose buckets end at bucketsEnd: every offset is on a cache line.
func heapLayout(bucketsEnd, nunits int64) (bitsOff, refsOff, heapOff, end int64) {
	words := 8 * ((nunits + 63) / 64)
	bitsOff = alignUp(bucketsEnd, 64)
	refsOff = alignUp(bitsOff+words, 64)
	heapOff = alignUp(refsOff+words, 64)
	return bitsOff, refsOff, heapOff, alignUp(heapOff+nunits*unitSize, 64)
}

// readsLayout sizes the read counter table of a cache of shards shards in
// a data area of dataSize bytes in a region of slots process slots: lanes
// per row, each row's bytes (whole cache lines, so that no two rows share
// one), and rows: one per slot, or fewer in a small region, where slots
// then share rows.
func readsLayout(shards, slots int, dataSize int64) (lanes, rowStride, rows int) {
	lanes = min(shards, maxLanes)
	rowStride = int(alignUp(int64(lanes*readCountersSize), 64))
	rows = int(min(int64(slots), max(1, dataSize/readsShare/int64(rowStride))))
	return lanes, rowStride, rows
}

// plan computes a geometry for a data area of dataSize bytes in a region of
// slots process slots.
func plan(dataSize int64, slots int, o *Options) (geometry, error) {
	var g geometry
	g.loads = minLoads
	for g.loads < maxLoads && int64(g.loads*2)*bytesPerLoad <= dataSize {
		g.loads *= 2
	}
	g.guards = g.loads * guardsPerLoad
	avail := dataSize - cacheHeaderSize - loadTableSize(g.loads) - trackTableSize(g.guards)
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
	g.lanes, g.rowStride, g.rows = readsLayout(g.shards, slots, dataSize)
	// Bytes per shard, a whole number of cache lines.
	per := (avail - int64(g.rows*g.rowStride)) / int64(g.shards) &^ 63
	g.headsOff = shardHeaderSize
	g.bucketsOff = g.headsOff + 4*numClasses
	want := int64(o.MaxEntries+g.shards-1) / int64(g.shards)
	if o.MaxEntries > 0 {
		g.nbuckets = 1
		for int64(g.nbuckets) < want && g.nbuckets < 1<<30 {
			g.nbuckets *= 2
		}
	} else {
		// A bucket per 96 to 192 bytes of shard: the largest power of
		// two not over per/bytesPerBucket.
		g.nbuckets = 16
		for int64(g.nbuckets*2) <= per/bytesPerBucket && g.nbuckets < 1<<29 {
			g.nbuckets *= 2
		}
	}
	// Each unit costs its 16 bytes and a bit of each bitmap; take the
	// estimate down until the rounded layout fits.
	bucketsEnd := int64(g.bucketsOff) + 4*int64(g.nbuckets)
	nunits := (per - alignUp(bucketsEnd, 64) - 128) * 8 / (8*unitSize + 2)
	nunits = min(nunits, maxUnitsPerShard)
	for nunits > 0 {
		if _, _, _, end := heapLayout(bucketsEnd, nunits); end <= per {
			break
		}
		nunits--
	}
	if nunits < minUnitsPerShard {
		return g, &tooSmallError{shards: g.shards, per: per, maxEntries: o.MaxEntries}
	}
	g.nunits = int(nunits)
	bitsOff, refsOff, heapOff, end := heapLayout(bucketsEnd, nunits)
	g.bitsOff, g.refsOff, g.heapOff, g.stride = int(bitsOff), int(refsOff), int(heapOff), int(end)
	g.loadsOff = cacheHeaderSize + g.shards*g.stride
	g.trackOff = g.loadsOff + int(loadTableSize(g.loads))
	g.readsOff = g.trackOff + int(trackTableSize(g.guards))
	heapBytes := (g.nunits - 1) * unitSize
	// The smallest entry (a 1-byte key, an empty value) takes 3 units.
	g.maxEntries = (g.nunits - 1) / 3
	if o.MaxEntries > 0 && int(want) < g.maxEntries {
		g.maxEntries = int(want)
	}
	g.maxKey = min(MaxKeySize, heapBytes/8)
	g.maxValue = o.MaxValueSize
	if g.maxValue == 0 {
		g.maxValue = heapBytes / 4
	}
	if g.maxValue < 0 || unitsFor(g.maxKey, g.maxValue, true) > g.nunits-1 {
		return g, fmt.Errorf("%w: MaxValueSize %d does not fit a shard's %d bytes of storage; use at most %d, or fewer Shards, or a larger Size", ErrBadOptions, o.MaxValueSize, heapBytes, heapBytes-g.maxKey-entryHeaderSize-entryExtSize)
	}
	return g, nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) &^ (a - 1) }

// loadTableSize is the bytes a load table of n flights takes.
func loadTableSize(n int) int64 { return loadTableHeaderSize + int64(n)*flightSize }

// trackTableSize is the bytes a track table of n guard words takes, a
// whole number of cache lines.
func trackTableSize(n int) int64 { return trackTableHeaderSize + alignUp(4*int64(n), 64) }

func (g *geometry) header() cacheHeader {
	h := cacheHeader{
		version:     LayoutVersion,
		shards:      uint32(g.shards),
		nunits:      uint32(g.nunits),
		nbuckets:    uint32(g.nbuckets),
		maxEntries:  uint32(g.maxEntries),
		maxKey:      uint32(g.maxKey),
		maxValue:    uint32(g.maxValue),
		shardStride: uint64(g.stride),
		headsOff:    uint32(g.headsOff),
		bucketsOff:  uint32(g.bucketsOff),
		bitsOff:     uint32(g.bitsOff),
		heapOff:     uint32(g.heapOff),
		loadsOff:    uint64(g.loadsOff),
		loads:       uint32(g.loads),
		trackOff:    uint64(g.trackOff),
		guards:      uint32(g.guards),
		refsOff:     uint32(g.refsOff),
		readsOff:    uint64(g.readsOff),
		rows:        uint32(g.rows),
		lanes:       uint32(g.lanes),
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
	if h.nunits < minUnitsPerShard || h.nunits > maxUnitsPerShard {
		return bad("units per shard", h.nunits)
	}
	if h.nbuckets == 0 || h.nbuckets > 1<<30 || h.nbuckets&(h.nbuckets-1) != 0 {
		return bad("buckets per shard", h.nbuckets)
	}
	if h.maxEntries == 0 || h.maxEntries >= h.nunits {
		return bad("max entries", h.maxEntries)
	}
	if h.headsOff != shardHeaderSize || h.bucketsOff != shardHeaderSize+4*numClasses {
		return bad("free list or bucket offset", fmt.Sprint(h.headsOff, "/", h.bucketsOff))
	}
	bitsOff, refsOff, heapOff, end := heapLayout(int64(h.bucketsOff)+4*int64(h.nbuckets), int64(h.nunits))
	if int64(h.bitsOff) != bitsOff || int64(h.refsOff) != refsOff || int64(h.heapOff) != heapOff {
		return bad("bitmap or heap offset", fmt.Sprint(h.bitsOff, "/", h.refsOff, "/", h.heapOff))
	}
	if h.shardStride != uint64(end) {
		return bad("shard stride", h.shardStride)
	}
	if h.loads < minLoads || h.loads > maxLoads || h.loads&(h.loads-1) != 0 {
		return bad("load table flights", h.loads)
	}
	shardsEnd := uint64(cacheHeaderSize) + uint64(h.shards)*h.shardStride
	if h.loadsOff != shardsEnd {
		return bad("load table offset", h.loadsOff)
	}
	if h.trackOff != shardsEnd+uint64(loadTableSize(int(h.loads))) {
		return bad("track table offset", h.trackOff)
	}
	if h.guards != h.loads*guardsPerLoad {
		return bad("track table guards", h.guards)
	}
	if h.readsOff != h.trackOff+uint64(trackTableSize(int(h.guards))) {
		return bad("read counter table offset", h.readsOff)
	}
	lanes, rowStride, _ := readsLayout(int(h.shards), 1, 0)
	if h.rows < 1 || h.rows > shm.MaxSlots || h.lanes != uint32(lanes) {
		return bad("read counter table rows or lanes", fmt.Sprint(h.rows, "/", h.lanes))
	}
	if h.readsOff+uint64(h.rows)*uint64(rowStride) > uint64(dataSize) {
		return g, fmt.Errorf("%w: cache header describes %d shards of %d bytes, a load table, a track table and read counters, more than the region's %d bytes", ErrCorrupt, h.shards, h.shardStride, dataSize)
	}
	g = geometry{
		shards:     int(h.shards),
		shardShift: uint(64 - bits.TrailingZeros32(h.shards)),
		nunits:     int(h.nunits),
		nbuckets:   int(h.nbuckets),
		maxEntries: int(h.maxEntries),
		maxKey:     int(h.maxKey),
		maxValue:   int(h.maxValue),
		stride:     int(h.shardStride),
		headsOff:   int(h.headsOff),
		bucketsOff: int(h.bucketsOff),
		bitsOff:    int(h.bitsOff),
		heapOff:    int(h.heapOff),
		loadsOff:   int(h.loadsOff),
		loads:      int(h.loads),
		trackOff:   int(h.trackOff),
		guards:     int(h.guards),
		refsOff:    int(h.refsOff),
		readsOff:   int(h.readsOff),
		rows:       int(h.rows),
		lanes:      lanes,
		rowStride:  rowStride,
	}
	if g.maxKey < 1 || g.maxKey > MaxKeySize || g.maxValue < 0 || g.maxValue > g.nunits*unitSize || unitsFor(g.maxKey, g.maxValue, true) > g.nunits-1 {
		return bad("key/value limits", fmt.Sprint(h.maxKey, "/", h.maxValue))
	}
	return g, nil
}
