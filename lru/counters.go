package lru

import (
	"sync/atomic"
	"unsafe"
)

// The read counter table: hits and misses, kept per process slot so that a
// read writes only cache lines that no other process writes, and summed by
// Stats. Slot s counts in row s % rows; a region large enough (1/readsShare
// of its data area) has a row per slot, and then a row is written only by
// the attachment that holds its slot. Each row holds one readCounters per
// lane; shard i counts in lane i % lanes, so with at most maxLanes shards
// every shard has a lane of its own. A row outlives its attachment: the
// next to claim the slot adds to the counts its predecessor left, so
// nothing counted is lost when a process exits.

// bindReads points every shard at its lane in the row of slot, one of the
// region's slots.
func (c *Cache) bindReads(data []byte, slot, slots int) {
	g := &c.g
	c.rows = data[g.readsOff : g.readsOff+g.rows*g.rowStride]
	c.sharedRows = g.rows < slots
	row := slot % g.rows * g.rowStride
	for i := range c.shards {
		c.shards[i].reads = (*readCounters)(unsafe.Pointer(&c.rows[row+(i%g.lanes)*readCountersSize]))
	}
}

// countHit and countMiss count a lookup of the shard in this attachment's
// row. Where the row is this attachment's alone (a row per slot), the
// count is a plain add: no other process writes the row, and it costs a
// read no atomic instruction; two goroutines of this process that read
// shards of one lane at the same instant may then count one lookup
// between them. Where a small region makes slots share rows, the add is
// atomic, so that no process loses another's counts.
func (s *shard) countHit() {
	if s.c.sharedRows {
		atomic.AddUint64(&s.reads.Hits, 1)
		return
	}
	s.reads.Hits++
}

func (s *shard) countMiss() {
	if s.c.sharedRows {
		atomic.AddUint64(&s.reads.Misses, 1)
		return
	}
	s.reads.Misses++
}

// laneReads sums lane's hits and misses over every slot's row.
func (c *Cache) laneReads(lane int) (hits, misses uint64) {
	for row := 0; row < len(c.rows); row += c.g.rowStride {
		rc := (*readCounters)(unsafe.Pointer(&c.rows[row+lane*readCountersSize]))
		hits += atomic.LoadUint64(&rc.Hits)
		misses += atomic.LoadUint64(&rc.Misses)
	}
	return hits, misses
}
