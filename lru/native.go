package lru

import (
	"github.com/shmlru/shmlru/shm"
)

// NativeView is a second attachment to a cache's region, with the validated
// layout, for code outside Go that works on the region directly: the C read
// path of libshmlru.so. It has a process slot and lock token of its own, so
// a lock it holds is never mistaken by this process's Cache for a leftover
// of its own token (which the Cache would take over), and a mapping of its
// own, of the very file the Cache has open. It follows the same protocol
// as the Cache
// (docs/protocol.md); any state it cannot handle it leaves to the Cache.
type NativeView struct {
	Region *shm.Region // the second attachment; Close it to end the view

	// The layout, as validated when the Cache was opened (never re-read
	// from the region). Offsets are in bytes; DataOff from the start of
	// Region's mapping, the others from the start of the data area or of
	// a shard.
	DataOff    int
	Shards     int
	ShardShift int // 64 - log2(Shards); 64 for one shard
	Stride     int // bytes from one shard to the next
	BucketsOff int
	HeapOff    int
	Buckets    int // per shard
	Units      int // heap units per shard, including the unused unit 0
	MaxKey     int
	MaxValue   int
	MaxEntries int // per shard: a bucket chain longer than this is corrupt
	RefsOff    int // the reference bitmap, from the start of a shard
	// Reads is this view's lanes of the read counter table: Lanes
	// readCounters (hits, misses), from the start of the data area; shard i
	// counts in lane i % Lanes.
	ReadsOff int
	Lanes    int
	TrackOff int // the track table's header, from the start of the data area
	// The invalidation stripes and the change ring (stripes.go), from
	// the start of a shard, and their sizes.
	StripesOff int
	RingOff    int
	Stripes    int
	Ring       int
}

// NativeView opens a second attachment to the cache's region (see the
// type NativeView) through shm.Region.Attach: it maps the very file the cache
// has open, whatever the cache's path names by now, so the geometry the
// cache validated is that file's. Like Open, it never takes a lock token
// that a lock word of the region still holds for a dead process.
func (b *Binding) NativeView() (*NativeView, error) {
	c := b.c
	r, err := c.r.Attach()
	if err != nil {
		return nil, err
	}
	if err := avoidTokens(r, &c.g); err != nil {
		r.Close()
		return nil, err
	}
	m, _ := r.Mapping()
	d := r.Data()
	g := &c.g
	return &NativeView{
		Region:     r,
		DataOff:    len(m) - len(d),
		Shards:     g.shards,
		ShardShift: int(g.shardShift),
		Stride:     g.stride,
		BucketsOff: g.bucketsOff,
		HeapOff:    g.heapOff,
		Buckets:    g.nbuckets,
		Units:      g.nunits,
		MaxKey:     g.maxKey,
		MaxValue:   g.maxValue,
		MaxEntries: g.maxEntries,
		RefsOff:    g.refsOff,
		ReadsOff:   g.readsOff + r.Slot()%g.rows*g.rowStride,
		Lanes:      g.lanes,
		TrackOff:   g.trackOff,
		StripesOff: g.stripesOff,
		RingOff:    g.ringOff,
		Stripes:    g.stripes,
		Ring:       g.ring,
	}, nil
}
