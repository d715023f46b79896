package lru

import (
	"fmt"
	"math/bits"

	"github.com/shmlru/shmlru/internal/format"
	"github.com/shmlru/shmlru/shm"
)

// The cache's layout inside a region's data area is defined once, in
// package internal/format: the structs, their sizes, the limits and where
// each table goes. This file names them as lru uses them, and holds the
// geometry: the planner (plan) and the validator (readGeometry) of a cache
// header. The protocol over the layout is docs/protocol.md.

// LayoutVersion is the version of the cache layout inside the region
// (format.LayoutVersion): a region of another version is refused with
// ErrVersion.
const LayoutVersion = format.LayoutVersion

const (
	// MaxKeySize is the largest key any cache accepts (the limit of
	// ngx.shared.DICT, and what an entry's 16 bits of key length hold).
	MaxKeySize = format.MaxKeySize

	// MaxShards bounds Options.Shards.
	MaxShards = format.MaxShards

	// MaxExpires is the latest deadline (Unix ms) an entry can have.
	MaxExpires = format.MaxExpires

	// LoadMsgSize is how much of a failed loader's error message the load
	// table keeps for the callers that waited on it, in bytes.
	LoadMsgSize = format.LoadMsgSize
)

// The format's constants, by the names lru's code uses.
const (
	layoutMagic          = format.Magic
	cacheHeaderSize      = format.CacheHeaderSize
	shardHeaderSize      = format.ShardHeaderSize
	unitSize             = format.UnitSize
	entryHeaderSize      = format.EntryHeaderSize
	entryExtSize         = format.EntryExtSize
	pieceHeaderSize      = format.PieceHeaderSize
	numClasses           = format.NumClasses
	exactClasses         = format.ExactClasses
	minUnitsPerShard     = format.MinUnitsPerShard
	maxUnitsPerShard     = format.MaxUnitsPerShard
	bytesPerBucket       = format.BytesPerBucket
	loadTableHeaderSize  = format.LoadTableHeaderSize
	flightSize           = format.FlightSize
	minLoads             = format.MinLoads
	maxLoads             = format.MaxLoads
	bytesPerLoad         = format.BytesPerLoad
	trackTableHeaderSize = format.TrackTableHeaderSize
	trackCountsPerLoad   = format.TrackCountsPerLoad
	readCountersSize     = format.ReadCountersSize
	infoExpiresMask      = format.InfoExpiresMask
	infoKlenShift        = format.InfoKlenShift
	infoTypShift         = format.InfoTypShift
	infoTypMask          = format.InfoTypMask
	infoExt              = format.InfoExt
)

// The format's structs, by the names lru's code uses. entry is a type of
// its own over format.Entry so that lru can give it methods (storage.go).
type (
	cacheHeader   = format.CacheHeader
	shardHeader   = format.ShardHeader
	shardCounters = format.ShardCounters
	readCounters  = format.ReadCounters
	loadTable     = format.LoadTable
	flight        = format.Flight
	trackTable    = format.TrackTable
	entry         format.Entry
	entryExt      = format.EntryExt
	pieceHeader   = format.PieceHeader
	freeRun       = format.FreeRun
)

// The format's arithmetic, by the names lru's code uses (functions, not
// variables holding them, so that the compiler inlines them).

func unitsFor(klen, vlen int, ext bool) int { return format.UnitsFor(klen, vlen, ext) }

func heapLayout(bucketsEnd, nunits int64) (bitsOff, refsOff, heapOff, end int64) {
	return format.HeapLayout(bucketsEnd, nunits)
}

func readsLayout(shards, slots int, dataSize int64) (lanes, rowStride, rows int) {
	return format.ReadsLayout(shards, slots, dataSize)
}

func loadTableSize(n int) int64 { return format.LoadTableSize(n) }

func trackTableSize(n int) int64 { return format.TrackTableSize(n) }

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

// LoadCounters are the read-through counts of a whole cache, kept in the
// load table (as format.LoadCounters, whose fields are the same).
type LoadCounters struct {
	Loads     uint64 // loads claimed (each runs one loader)
	Waits     uint64 // callers that found a load in progress and waited for it
	Takeovers uint64 // loads taken over from a loader whose process died
	Failures  uint64 // loads that ended with the loader's error
	Abandoned uint64 // loads their loader gave up without an outcome (its context ended, it panicked)
}

// TrackCounters are the tracking counts of a whole cache, kept in the
// track table (as format.TrackCounters, whose fields are the same).
type TrackCounters struct {
	Invalidations uint64 // keys invalidated by the agent (Invalidate)
	Generations   uint64 // times every tracked entry was dropped at once (InvalidateAll)
	Refused       uint64 // fills not kept because their key changed while they loaded
	Agents        uint64 // times a process took the agent role
}

// lru's counters of the load and track tables are the format's, field for
// field: these conversions stop the build if they part.
var (
	_ = LoadCounters(format.LoadCounters{})
	_ = TrackCounters(format.TrackCounters{})
)

// geometry is a validated copy of cacheHeader in process memory. It is read
// from the region once, at Open, and never again, so a corrupted header
// cannot redirect a running process.
type geometry struct {
	shards      int
	shardShift  uint // 64 - log2(shards): the hash's top bits pick the shard
	nunits      int  // heap units per shard, including the unused unit 0
	nbuckets    int
	maxEntries  int
	maxKey      int
	maxValue    int
	stride      int
	headsOff    int
	bucketsOff  int
	bitsOff     int
	heapOff     int
	loadsOff    int // the load table, from the start of the data area
	loads       int // flights in it
	trackOff    int // the track table, from the start of the data area
	trackCounts int // invalidation counts in it
	refsOff     int // the reference bitmap, from the start of a shard
	readsOff    int // the read counter table, from the start of the data area
	rows        int // its rows
	lanes       int // lanes per row
	rowStride   int // bytes from one row to the next
	stripesOff  int // the invalidation stripes, from the start of a shard
	ringOff     int // the change ring, from the start of a shard
	stripes     int // invalidation stripes per shard, a power of two
	ring        int // slots of each shard's change ring
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

// plan computes a geometry for a data area of dataSize bytes in a region of
// slots process slots.
func plan(dataSize int64, slots int, o *Options) (geometry, error) {
	var g geometry
	g.loads = minLoads
	for g.loads < maxLoads && int64(g.loads*2)*bytesPerLoad <= dataSize {
		g.loads *= 2
	}
	g.trackCounts = g.loads * trackCountsPerLoad
	avail := dataSize - cacheHeaderSize - loadTableSize(g.loads) - trackTableSize(g.trackCounts)
	g.shards = o.Shards
	if g.shards == 0 {
		// One shard per MiB up to 16, then one per 16 MiB up to 64. Two
		// writers on 16 shards meet on a lock once in 16 operations. More
		// shards cost single-process speed at the same size (each shard's
		// headers and tables are one more set of cache lines to touch), so
		// they come only with larger caches, which also need them for
		// bigger values.
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
	want := int64(o.MaxEntries+g.shards-1) / int64(g.shards)
	g.stripes = format.StripesFor((avail-int64(g.rows*g.rowStride))/int64(g.shards), int(want))
	g.ring = format.RingFor(g.stripes)
	// Bytes per shard, a whole number of cache lines.
	per := (avail - int64(g.rows*g.rowStride)) / int64(g.shards) &^ 63
	g.headsOff = shardHeaderSize
	g.bucketsOff = g.headsOff + 4*numClasses
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
	stripesOff, ringOff, tablesEnd := format.StripesLayout(int64(g.bucketsOff)+4*int64(g.nbuckets), g.stripes, g.ring)
	g.stripesOff, g.ringOff = int(stripesOff), int(ringOff)
	nunits := (per - tablesEnd - 128) * 8 / (8*unitSize + 2)
	nunits = min(nunits, maxUnitsPerShard)
	for nunits > 0 {
		if _, _, _, end := heapLayout(tablesEnd, nunits); end <= per {
			break
		}
		nunits--
	}
	if nunits < minUnitsPerShard {
		return g, &tooSmallError{shards: g.shards, per: per, maxEntries: o.MaxEntries}
	}
	g.nunits = int(nunits)
	bitsOff, refsOff, heapOff, end := heapLayout(tablesEnd, nunits)
	g.bitsOff, g.refsOff, g.heapOff, g.stride = int(bitsOff), int(refsOff), int(heapOff), int(end)
	g.loadsOff = cacheHeaderSize + g.shards*g.stride
	g.trackOff = g.loadsOff + int(loadTableSize(g.loads))
	g.readsOff = g.trackOff + int(trackTableSize(g.trackCounts))
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

func (g *geometry) header() cacheHeader {
	h := cacheHeader{
		Version:     LayoutVersion,
		Shards:      uint32(g.shards),
		Nunits:      uint32(g.nunits),
		Nbuckets:    uint32(g.nbuckets),
		MaxEntries:  uint32(g.maxEntries),
		MaxKey:      uint32(g.maxKey),
		MaxValue:    uint32(g.maxValue),
		ShardStride: uint64(g.stride),
		HeadsOff:    uint32(g.headsOff),
		BucketsOff:  uint32(g.bucketsOff),
		BitsOff:     uint32(g.bitsOff),
		HeapOff:     uint32(g.heapOff),
		LoadsOff:    uint64(g.loadsOff),
		Loads:       uint32(g.loads),
		TrackOff:    uint64(g.trackOff),
		TrackCounts: uint32(g.trackCounts),
		RefsOff:     uint32(g.refsOff),
		ReadsOff:    uint64(g.readsOff),
		Rows:        uint32(g.rows),
		Lanes:       uint32(g.lanes),
		StripesOff:  uint32(g.stripesOff),
		RingOff:     uint32(g.ringOff),
		Stripes:     uint32(g.stripes),
		Ring:        uint32(g.ring),
	}
	copy(h.Magic[:], layoutMagic)
	return h
}

// readGeometry validates the cache header of a data area of dataSize bytes
// and returns the geometry it describes. Every field is checked, and every
// derived size is checked against dataSize, so a hostile header yields an
// error rather than offsets outside the mapping.
func readGeometry(h *cacheHeader, dataSize int) (geometry, error) {
	var g geometry
	if string(h.Magic[:]) != layoutMagic {
		return g, fmt.Errorf("%w: the region holds no shmlru cache (bad cache magic)", ErrCorrupt)
	}
	if h.Version != LayoutVersion {
		return g, fmt.Errorf("%w: cache layout version %d, this build reads version %d; use the shmlru release that created it, or remove the region and let this one create it anew", ErrVersion, h.Version, LayoutVersion)
	}
	bad := func(what string, v any) (geometry, error) {
		return g, fmt.Errorf("%w: cache header: %s %v is out of range", ErrCorrupt, what, v)
	}
	if h.Shards == 0 || h.Shards > MaxShards || h.Shards&(h.Shards-1) != 0 {
		return bad("shards", h.Shards)
	}
	if h.Nunits < minUnitsPerShard || h.Nunits > maxUnitsPerShard {
		return bad("units per shard", h.Nunits)
	}
	if h.Nbuckets == 0 || h.Nbuckets > 1<<30 || h.Nbuckets&(h.Nbuckets-1) != 0 {
		return bad("buckets per shard", h.Nbuckets)
	}
	if h.MaxEntries == 0 || h.MaxEntries >= h.Nunits {
		return bad("max entries", h.MaxEntries)
	}
	if h.HeadsOff != shardHeaderSize || h.BucketsOff != shardHeaderSize+4*numClasses {
		return bad("free list or bucket offset", fmt.Sprint(h.HeadsOff, "/", h.BucketsOff))
	}
	if h.Stripes < format.MinStripes || h.Stripes > format.MaxStripes || h.Stripes&(h.Stripes-1) != 0 {
		return bad("stripes per shard", h.Stripes)
	}
	if h.Ring != uint32(format.RingFor(int(h.Stripes))) {
		return bad("change ring slots", h.Ring)
	}
	stripesOff, ringOff, tablesEnd := format.StripesLayout(int64(h.BucketsOff)+4*int64(h.Nbuckets), int(h.Stripes), int(h.Ring))
	if int64(h.StripesOff) != stripesOff || int64(h.RingOff) != ringOff {
		return bad("stripes or change ring offset", fmt.Sprint(h.StripesOff, "/", h.RingOff))
	}
	bitsOff, refsOff, heapOff, end := heapLayout(tablesEnd, int64(h.Nunits))
	if int64(h.BitsOff) != bitsOff || int64(h.RefsOff) != refsOff || int64(h.HeapOff) != heapOff {
		return bad("bitmap or heap offset", fmt.Sprint(h.BitsOff, "/", h.RefsOff, "/", h.HeapOff))
	}
	if h.ShardStride != uint64(end) {
		return bad("shard stride", h.ShardStride)
	}
	if h.Loads < minLoads || h.Loads > maxLoads || h.Loads&(h.Loads-1) != 0 {
		return bad("load table flights", h.Loads)
	}
	shardsEnd := uint64(cacheHeaderSize) + uint64(h.Shards)*h.ShardStride
	if h.LoadsOff != shardsEnd {
		return bad("load table offset", h.LoadsOff)
	}
	if h.TrackOff != shardsEnd+uint64(loadTableSize(int(h.Loads))) {
		return bad("track table offset", h.TrackOff)
	}
	if h.TrackCounts != h.Loads*trackCountsPerLoad {
		return bad("track table counts", h.TrackCounts)
	}
	if h.ReadsOff != h.TrackOff+uint64(trackTableSize(int(h.TrackCounts))) {
		return bad("read counter table offset", h.ReadsOff)
	}
	lanes, rowStride, _ := readsLayout(int(h.Shards), 1, 0)
	if h.Rows < 1 || h.Rows > shm.MaxSlots || h.Lanes != uint32(lanes) {
		return bad("read counter table rows or lanes", fmt.Sprint(h.Rows, "/", h.Lanes))
	}
	if h.ReadsOff+uint64(h.Rows)*uint64(rowStride) > uint64(dataSize) {
		return g, fmt.Errorf("%w: cache header describes %d shards of %d bytes, a load table, a track table and read counters, more than the region's %d bytes", ErrCorrupt, h.Shards, h.ShardStride, dataSize)
	}
	g = geometry{
		shards:      int(h.Shards),
		shardShift:  uint(64 - bits.TrailingZeros32(h.Shards)),
		nunits:      int(h.Nunits),
		nbuckets:    int(h.Nbuckets),
		maxEntries:  int(h.MaxEntries),
		maxKey:      int(h.MaxKey),
		maxValue:    int(h.MaxValue),
		stride:      int(h.ShardStride),
		headsOff:    int(h.HeadsOff),
		bucketsOff:  int(h.BucketsOff),
		bitsOff:     int(h.BitsOff),
		heapOff:     int(h.HeapOff),
		loadsOff:    int(h.LoadsOff),
		loads:       int(h.Loads),
		trackOff:    int(h.TrackOff),
		trackCounts: int(h.TrackCounts),
		refsOff:     int(h.RefsOff),
		readsOff:    int(h.ReadsOff),
		rows:        int(h.Rows),
		lanes:       lanes,
		rowStride:   rowStride,
		stripesOff:  int(h.StripesOff),
		ringOff:     int(h.RingOff),
		stripes:     int(h.Stripes),
		ring:        int(h.Ring),
	}
	if g.maxKey < 1 || g.maxKey > MaxKeySize || g.maxValue < 0 || g.maxValue > g.nunits*unitSize || unitsFor(g.maxKey, g.maxValue, true) > g.nunits-1 {
		return bad("key/value limits", fmt.Sprint(h.MaxKey, "/", h.MaxValue))
	}
	return g, nil
}
