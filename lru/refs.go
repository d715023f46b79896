package lru

import "sync/atomic"

// The reference bitmap: one bit per heap unit of a shard, set for the unit
// an entry starts at when a read finds the entry. It is how the LRU queue
// learns of reads without a read writing the queue (CLOCK's reference bit,
// or "lazy promotion"):
//
//   - A read sets its entry's bit, with an atomic OR, and only if the bit
//     is clear: reading an entry already marked writes nothing, so a hot
//     entry read by every process stays in every core's cache.
//   - A write puts its entry at the head of the queue, as before.
//   - Eviction takes from the tail; a tail entry whose bit is set is not
//     evicted but moved to the head with its bit cleared (a second
//     chance).
//
// So the order that LRU guarantees becomes: an entry is evicted only when it
// has reached the tail with no read since it was inserted, last written, or
// last given its second chance. See docs/protocol.md.
//
// Readers set bits without the shard's lock, after checking their read, but
// the entry may have gone and its units been reused in between: a bit then
// marks a unit that starts no entry (ignored) or a newer entry (which gets
// one second chance it did not earn). Nothing but this bitmap is ever
// written by a reader, so a stray bit can cost hit ratio, never data.

// markRef sets the reference bit of the entry at u, if it is not set.
func (s *shard) markRef(u uint32) {
	w, bit := int(u/64), uint64(1)<<(u%64)
	if w >= len(s.refs) {
		return
	}
	if atomic.LoadUint64(&s.refs[w])&bit == 0 {
		atomic.OrUint64(&s.refs[w], bit)
	}
}

// takeRef clears the reference bit of the entry at u and reports whether
// it was set. The caller holds the lock.
func (s *shard) takeRef(u uint32) bool {
	w, bit := int(u/64), uint64(1)<<(u%64)
	if w >= len(s.refs) || atomic.LoadUint64(&s.refs[w])&bit == 0 {
		return false
	}
	atomic.AndUint64(&s.refs[w], ^bit)
	return true
}

// clearRefs clears every reference bit (a reset shard has no entries).
func (s *shard) clearRefs() {
	for i := range s.refs {
		atomic.StoreUint64(&s.refs[i], 0)
	}
}
