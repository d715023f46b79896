package format

import "unsafe"

// The structs that sit in the region. Never reorder a field; add one only
// with a new LayoutVersion. Their offsets reach C through Facts.

// CacheHeader is the first thing in the data area: the geometry every opener
// adopts. Never reorder; append only, with a new LayoutVersion if needed.
type CacheHeader struct {
	Magic       [8]byte
	Version     uint32
	Shards      uint32 // a power of two
	Nunits      uint32 // per shard, including the unused unit 0
	Nbuckets    uint32 // per shard, a power of two
	MaxEntries  uint32 // per shard
	MaxKey      uint32
	MaxValue    uint32
	_           uint32
	ShardStride uint64 // bytes from one shard to the next
	HeadsOff    uint32 // from the start of a shard
	BucketsOff  uint32
	BitsOff     uint32
	HeapOff     uint32
	LoadsOff    uint64 // the load table, after the last shard
	Loads       uint32 // flights in the load table, a power of two
	_           uint32
	TrackOff    uint64 // the track table, after the load table
	TrackCounts uint32 // invalidation counts in the track table: loads*TrackCountsPerLoad
	RefsOff     uint32 // the reference bitmap, from the start of a shard
	ReadsOff    uint64 // the read counter table, after the track table
	Rows        uint32 // rows in the read counter table: slot s counts in row s % rows
	Lanes       uint32 // lanes per row: min(shards, MaxLanes)
	StripesOff  uint32 // the invalidation stripes (Stripes uint64), from the start of a shard, after its buckets
	RingOff     uint32 // the change ring (Ring uint32 slots), from the start of a shard, after its stripes
	Stripes     uint32 // invalidation stripes per shard (StripesFor), a power of two
	Ring        uint32 // slots of each shard's change ring: RingFor(Stripes)
}

// ShardHeader starts each shard, on its own cache lines. Who reads and
// writes each field, and how, is docs/protocol.md: Lock and Seq with
// atomics, the rest under the shard's lock.
type ShardHeader struct {
	Lock uint32 // futex word, see shm.Region.Lock
	_    uint32
	// Seq is the shard's change sequence: odd while a change is under
	// way, so both the dirty mark and the lock-free readers' check
	// (docs/protocol.md, "The change sequence").
	Seq       uint64
	Head      uint32 // most recently written (or spared) entry, 0 if none
	Tail      uint32 // next in line for eviction, 0 if none
	FreeUnits uint32 // units in free runs
	Entries   uint32
	Chained   uint32 // entries stored as a chain of pieces
	Ttls      uint32 // entries with a deadline: when 0, writes skip the search for expired ones
	// ChangeCount advances with every change to the shard's entries that a
	// reader could see (a write, a delete, a new deadline, a flush), and a
	// write's new version is its value: so versions never repeat, and a
	// reader that saw the count at c knows that nothing in the shard has
	// changed while it still reads c (resty.shmlru.mlcache's L1 relies
	// on it). Eviction and expiry do not advance it: what they remove was
	// not changed.
	ChangeCount uint64
	// DeadPid is the pid of the dead owner an observer found holding the
	// lock and handed back as an orphan, kept for operators; 0 once the
	// lock is taken over (or if the pid was unknown).
	DeadPid  uint32
	FreeRuns uint32 // runs on the free lists
	// Classes has bit c set when the free list of size class c is not
	// empty, so that an allocation finds a fitting class in a few words.
	Classes [NumClasses / 64]uint64
	Stats   ShardCounters
	// RingHead counts the stripe indexes ever appended to the shard's
	// change ring (slot RingHead % Ring is the next); a flush or reset
	// advances it by Ring+1, so that every reader behind it laps
	// (docs/protocol.md, "Invalidation stripes"). Written under the lock,
	// with a release store after the slot; read with an acquire load.
	RingHead uint64
}

// ShardCounters are the write-side event counts kept in each shard's
// header, under its lock. Hits and misses are kept per process slot
// instead (ReadCounters), so that a read writes nothing other processes
// read.
type ShardCounters struct {
	Sets        uint64
	Deletes     uint64
	Evictions   uint64
	Expirations uint64
	Recoveries  uint64
	Resets      uint64
}

// ReadCounters are one process slot's lookups in one lane of shards (shard
// i counts in lane i % lanes), written only by the attachment that holds
// the slot.
type ReadCounters struct {
	Hits   uint64
	Misses uint64
}

// LoadTable heads the load table: the read-through loads in progress on
// the whole host (lru/load.go, lru/flight.go). It is one cache line,
// followed by CacheHeader.Loads flights.
type LoadTable struct {
	Lock uint32 // futex word, see shm.Region.Lock; guards every flight
	// Freed is a futex word bumped whenever a flight ends, for callers
	// that found every flight of their key's window taken.
	Freed uint32
	Stats LoadCounters
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

// Flight is one slot of the load table: a key's load while it runs, and the
// outcome of the last load that ran in it. The slot is free when Owner is 0.
type Flight struct {
	Owner   uint32 // lock token of the loading attachment, 0 if free
	Seq     uint32 // futex word: advances when a load ends; waiters sleep on it
	Hash    uint64 // of the key being loaded
	Started int64  // Unix ms when the load was claimed, for operators
	// Deadline is when the loader's lease runs out (Unix ms, 0 = none):
	// from then on a waiter may take the load over.
	Deadline int64
	Outcome  uint32 // how the load that ended at Seq went (an lru.LoadState)
	MsgLen   uint32
	Msg      [LoadMsgSize]byte // the failed loader's error, cut to fit
}

// TrackTable heads the track table: the state that keeps tracked entries
// in step with an outside store (lru/track.go). It is one cache line, followed
// by CacheHeader.TrackCounts invalidation counts (uint32). Every field is read and
// written with atomics; none is under a lock.
type TrackTable struct {
	// Gen is the generation: a tracked entry is served only while its
	// flags equal it. Never 0, bit 31 never set (lru's nextGen).
	Gen uint32
	// AgentPid is the pid of the process whose attachment holds the agent
	// role (the OFD lock on this table's first byte), 0 if none; for
	// operators, the lock itself is the truth.
	AgentPid uint32
	// InStep is the instant (ns, on the host's CLOCK_MONOTONIC: that of
	// the initial time namespace, lru/trackclock.go) until which the cache is
	// known to be in step with the store: the agent confirmed that every
	// change the store made before inStep-bound was applied here. 0: not
	// in step, tracked entries are not served and fills are not kept.
	InStep int64
	Stats  TrackCounters
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

// Entry is the header of an entry's first (usually only) piece.
type Entry struct {
	Hnext   uint32 // next entry in the bucket's chain
	Prev    uint32 // LRU neighbour towards the head (more recent)
	Next    uint32 // LRU neighbour towards the tail (less recent)
	Vlen    uint32 // value length
	Version uint64 // changes with every write of the entry
	// Info packs the deadline (Unix ms, 0 = never; InfoExpiresMask), the
	// key length (16 bits at InfoKlenShift), the value type (3 bits at
	// InfoTypShift) and InfoExt: an EntryExt follows the header.
	Info uint64
}

// EntryExt follows the Entry header of an entry with user flags or stored
// in pieces; most entries have neither and save its 16 bytes.
type EntryExt struct {
	Flags uint32 // user flags
	More  uint32 // the second piece, 0 if the entry is contiguous
	Units uint32 // units of the first piece when More != 0
	_     uint32
}

// PieceHeader starts every piece of a chained entry after the first.
type PieceHeader struct {
	Next  uint32 // the following piece, 0 for the last
	Units uint32 // units of this piece
}

// FreeRun is the header of a run of free units, in its first unit; the
// run's last four bytes repeat Units (the footer), so that a run freed just
// after it can find where it starts.
type FreeRun struct {
	Units uint32
	Next  uint32 // on the size class's free list
	Prev  uint32
	_     uint32
}

func init() {
	if unsafe.Sizeof(Entry{}) != EntryHeaderSize ||
		unsafe.Sizeof(EntryExt{}) != EntryExtSize ||
		unsafe.Sizeof(PieceHeader{}) != PieceHeaderSize ||
		unsafe.Sizeof(FreeRun{}) != UnitSize ||
		unsafe.Sizeof(ShardHeader{}) > ShardHeaderSize ||
		unsafe.Sizeof(LoadTable{}) != LoadTableHeaderSize ||
		unsafe.Sizeof(Flight{}) != FlightSize ||
		unsafe.Sizeof(TrackTable{}) != TrackTableHeaderSize ||
		unsafe.Sizeof(ReadCounters{}) != ReadCountersSize ||
		unsafe.Sizeof(CacheHeader{}) > CacheHeaderSize {
		panic("format: layout changed; bump LayoutVersion and fix structs.go")
	}
}
