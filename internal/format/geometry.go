package format

// Where each table of the data area goes, given the sizes a cache header
// records: the arithmetic lru's planner and validator share.

// UnitsFor is how many units a contiguous entry with a key of klen bytes
// and a value of vlen bytes takes, with or without an EntryExt.
func UnitsFor(klen, vlen int, ext bool) int {
	n := EntryHeaderSize + klen + vlen
	if ext {
		n += EntryExtSize
	}
	return (n + UnitSize - 1) / UnitSize
}

// HeapLayout places the free bitmap, the reference bitmap and the heap of a
// shard whose buckets end at bucketsEnd: every offset is on a cache line.
func HeapLayout(bucketsEnd, nunits int64) (bitsOff, refsOff, heapOff, end int64) {
	words := 8 * ((nunits + 63) / 64)
	bitsOff = AlignUp(bucketsEnd, 64)
	refsOff = AlignUp(bitsOff+words, 64)
	heapOff = AlignUp(refsOff+words, 64)
	return bitsOff, refsOff, heapOff, AlignUp(heapOff+nunits*UnitSize, 64)
}

// ReadsLayout sizes the read counter table of a cache of shards shards in
// a data area of dataSize bytes in a region of slots process slots: lanes
// per row, each row's bytes (whole cache lines, so that no two rows share
// one), and rows: one per slot, or fewer in a small region, where slots
// then share rows.
func ReadsLayout(shards, slots int, dataSize int64) (lanes, rowStride, rows int) {
	lanes = min(shards, MaxLanes)
	rowStride = int(AlignUp(int64(lanes*ReadCountersSize), 64))
	rows = int(min(int64(slots), max(1, dataSize/ReadsShare/int64(rowStride))))
	return lanes, rowStride, rows
}

// AlignUp rounds n up to a multiple of a, a power of two.
func AlignUp(n, a int64) int64 { return (n + a - 1) &^ (a - 1) }

// LoadTableSize is the bytes a load table of n flights takes.
func LoadTableSize(n int) int64 { return LoadTableHeaderSize + int64(n)*FlightSize }

// TrackTableSize is the bytes a track table of n invalidation counts takes, a
// whole number of cache lines.
func TrackTableSize(n int) int64 { return TrackTableHeaderSize + AlignUp(4*int64(n), 64) }

// StripesFor is the stripes per shard of a shard of perShard bytes, or,
// when maxEntries (per shard) is not 0, of a shard that holds that many
// entries: a power of two from MinStripes to MaxStripes, one per
// BytesPerStripe of shard (or per two entries).
func StripesFor(perShard int64, maxEntries int) int {
	want := perShard / BytesPerStripe
	if maxEntries > 0 {
		want = int64(maxEntries+1) / 2
	}
	n := MinStripes
	for n < MaxStripes && int64(n*2) <= want {
		n *= 2
	}
	return n
}

// RingFor is the change ring's length (slots per shard) of a cache of
// stripes stripes per shard.
func RingFor(stripes int) int { return min(stripes, MaxRing) }

// StripesLayout places the stripes and the change ring of a shard whose
// buckets end at bucketsEnd, each on a cache line (MinStripes*8 bytes and
// RingFor(MinStripes)*4 are whole lines); the free bitmap follows at end.
func StripesLayout(bucketsEnd int64, stripes, ring int) (stripesOff, ringOff, end int64) {
	stripesOff = AlignUp(bucketsEnd, 64)
	ringOff = AlignUp(stripesOff+8*int64(stripes), 64)
	return stripesOff, ringOff, AlignUp(ringOff+4*int64(ring), 64)
}

// StripeOf is the stripe of a key of hash h in shard shard of a cache of
// stripes (a power of two) stripes per shard, as one index over every
// shard's stripes: shard*stripes plus the hash's bits from StripeShift up.
// c/fast.c's stripe_of is its twin (SHMLRU_L_STRIPE_SHIFT).
func StripeOf(h uint64, shard, stripes int) uint32 {
	return uint32(shard*stripes) + uint32(h>>StripeShift)&uint32(stripes-1)
}
