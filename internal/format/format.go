// Package format is the byte layout of a shmlru cache inside a region's
// data area, in one place: the structs that sit in the region, their sizes,
// the cache header's magic and layout version, the limits the layout
// imposes, the arithmetic that places each table, and the facts the C
// library is generated from (Facts; c/layout.h) with their fingerprint.
//
// It holds no logic that plans, validates or changes a cache: package lru
// does that, over these structs. The protocol by which processes share the
// region (lock word, change sequence, reference bits, orphan hand-back,
// counters, what C may do) is docs/protocol.md.
//
// Changing anything here that changes a byte of the region means raising
// LayoutVersion (CONTRIBUTING.md, "What changes together").
package format

// The data area, from its start. All positions are offsets from the start
// of the data area or unit indexes within a shard's heap, never pointers, so
// every process sees the same structure wherever its mapping lands.
//
//	data area: [ CacheHeader | shard 0 | shard 1 | ... | load table | track table
//	           | read counters [rows][lanes]ReadCounters ]
//	shard:     [ ShardHeader | heads [NumClasses]uint32 | buckets [nbuckets]uint32
//	           | stripes [Stripes]uint64 | change ring [Ring]uint32
//	           | free bitmap [ceil(nunits/64)]uint64 | reference bitmap [ceil(nunits/64)]uint64
//	           | heap [nunits][UnitSize]byte ]
//
// The heap is an array of 16-byte units, and unit 0 is never used, so index
// 0 means "none" everywhere and a zeroed bucket array is empty. An entry
// takes a whole number of units. Normally it is one contiguous run:
//
//	[ Entry (32 B) | EntryExt (16 B), only if Entry.Info has InfoExt | key | value | padding to 16 ]
//
// When the shard has enough free units but no run long enough, the entry is
// a chain of pieces (lru/storage.go): the first piece as above, with
// EntryExt.More naming the next piece, each further piece starting with a
// PieceHeader. Free units form runs, each kept on the free list of its size
// class (lru/alloc.go), and the free bitmap has a bit set for every free
// unit, so that freeing can merge a run with free neighbours on both sides
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
	// A region of another version is refused; CHANGELOG.md says what each
	// version changed.
	LayoutVersion = 7

	// Magic starts the cache header (CacheHeader.Magic).
	Magic = "shmlruC\x01"

	// The sizes of the headers and of the heap's unit, in bytes; the
	// structs' sizes are checked against them in init.
	CacheHeaderSize = 256
	ShardHeaderSize = 256
	UnitSize        = 16 // bytes; the heap's granularity
	EntryHeaderSize = 32 // unsafe.Sizeof(Entry{}), checked in init
	EntryExtSize    = 16 // unsafe.Sizeof(EntryExt{})
	PieceHeaderSize = 8  // unsafe.Sizeof(PieceHeader{})

	// NumClasses is the number of free-list size classes (lru's classOf):
	// one per size below ExactClasses units, then eight per power of two.
	NumClasses   = 256
	ExactClasses = 64

	// MaxKeySize is the largest key any cache accepts (the limit of
	// ngx.shared.DICT, and what the Entry's 16 bits of key length hold).
	MaxKeySize = 65535

	// MaxShards bounds lru.Options.Shards.
	MaxShards = 4096

	// MinUnitsPerShard and MaxUnitsPerShard bound a shard's heap: at
	// least 4 KiB, at most 16 GiB, so unit indexes and byte offsets
	// computed from them stay far from overflow.
	MinUnitsPerShard = 256
	MaxUnitsPerShard = 1 << 30

	// BytesPerBucket is how much heap the planner gives each bucket:
	// about one per small entry, so a bucket chain holds one or two.
	BytesPerBucket = 96

	// The load table (lru/flight.go): its header and each Flight are whole
	// cache lines.
	LoadTableHeaderSize = 64
	FlightSize          = 128
	MinLoads            = 16
	MaxLoads            = 1024
	// BytesPerLoad is how much of the data area the planner gives each
	// flight: 64 MiB gets 512 of them (64 KiB, 0.1%), enough for as
	// many keys loading at once on the host.
	BytesPerLoad = 128 << 10

	// The track table (lru/track.go): a cache line of state, then one
	// invalidation count per TrackCountsPerLoad flights' worth of keys, 64 to 4096 of them.
	TrackTableHeaderSize = 64
	TrackCountsPerLoad   = 4

	// The invalidation stripes (lru/stripes.go): per shard a power of
	// two of uint64 counts, one per BytesPerStripe of the shard (about
	// six small entries; or one per two entries when MaxEntries is
	// given), MinStripes to MaxStripes of them, so that a write
	// invalidates a few entries' worth of a per-process copy (the
	// stripe's share of the shard) rather than a whole shard's, for
	// 8/BytesPerStripe of the data area (1.6%), less than the buckets'. A key's stripe takes the hash's
	// bits from StripeShift up, which neither the shard (the top bits)
	// nor the bucket (the low bits, at most 30 of them) use.
	BytesPerStripe = 512
	MinStripes     = 64
	MaxStripes     = 1 << 14
	StripeShift    = 32
	// MaxRing bounds the change ring of a shard: Ring = min(Stripes,
	// MaxRing) stripe indexes (uint32), a reader further behind than
	// that is told it lapped.
	MaxRing = 1024
	// The read counter table (lru/counters.go): a row of lanes per process
	// slot, each row on cache lines of its own, taking at most
	// 1/ReadsShare of the data area (small regions get fewer rows).
	ReadCountersSize = 16 // unsafe.Sizeof(ReadCounters{})
	MaxLanes         = 64
	ReadsShare       = 16
)

// The fields packed into Entry.Info. The deadline takes 44 bits of Unix
// milliseconds, which last until the year 2527.
const (
	InfoExpiresMask = 1<<44 - 1
	InfoKlenShift   = 44
	InfoTypShift    = 60
	InfoTypMask     = 7
	InfoExt         = 1 << 63

	// MaxExpires is the latest deadline (Unix ms) an entry can have.
	MaxExpires = InfoExpiresMask
)

// The value types an entry's Info holds (lru.Type's values).
const (
	TypeBytes  = 0 // an opaque byte string
	TypeNumber = 1 // a float64, 8 bytes in the region's byte order
	TypeBool   = 2 // one byte, 0 or 1
	TypeList   = 3 // a list of values (lru/listvalue.go)
	TypeNone   = 4 // a cached absence (read-through negative caching); the value is empty
	NumTypes   = 5 // a type at or above this is corrupt
)

// UnlockedTries is how many times a read tries without the lock (two loads
// of ShardHeader.Seq around its copy) before it takes it, in Go and in C
// (docs/protocol.md, "Reading without the lock").
const UnlockedTries = 4
