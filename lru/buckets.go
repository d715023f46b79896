package lru

import "sync/atomic"

// The shard's entry table: the bucket chains that index its entries, and
// the changes that add, rewrite and remove an entry, keeping the bucket
// chains, the LRU queue (lruqueue.go), the heap (alloc.go, storage.go) and the
// counts in step. Everything here runs with the shard's lock held. Every
// index read from the region is range-checked before use and every walk is
// bounded, so a corrupt region panics with a corruptError (turned into
// ErrCorrupt by end) rather than faulting or looping.

// reset empties the shard: no entries, the whole heap one free run. It
// keeps the counters and the change count, so versions never repeat.
func (s *shard) reset() {
	clear(s.buckets)
	h := s.h
	h.Head, h.Tail, h.Entries, h.Ttls, h.Chained = 0, 0, 0, 0, 0
	s.resetHeap()
	s.clearRefs()
}

// resetCounted resets a shard whose state cannot be trusted (a dead owner
// left it mid-change, or corruption was found), counts the reset and clears
// the dirty mark.
func (s *shard) resetCounted() {
	s.mutating() // readers without the lock must see the shard change under them
	s.reset()
	s.countFlush() // every entry is gone: readers' copies are out of date
	s.h.Stats.Resets++
	s.clean()
}

// mutating marks the shard dirty before a change to its structures, and
// clean clears the mark after: each advances the shard's change sequence,
// to odd and back to even (see shardHeader.seq). A process that takes the
// lock over from a dead owner resets a dirty shard (see acquire), and a
// reader that takes no lock retries, or takes the lock, while it is odd or
// after it moved (snapshot.go). The increments are atomic read-modify-writes,
// which order the change's stores before the closing one; mutating's load
// after its increment keeps them after the opening one on every
// architecture. Both are no-ops when the mark is already as asked.
func (s *shard) mutating() {
	if s.h.Seq&1 == 0 {
		atomic.AddUint64(&s.h.Seq, 1)
		// Where the add is a load-exclusive/store-release loop (arm64
		// without LSE atomics), a later plain store could be seen before
		// the odd sequence; an acquire load after the release keeps every
		// store of the change after it. On amd64 it is a plain load.
		atomic.LoadUint64(&s.h.Seq)
	}
}

func (s *shard) clean() {
	if s.h.Seq&1 != 0 {
		atomic.AddUint64(&s.h.Seq, 1)
	}
}

// dirty reports whether a change to the shard is under way, or was cut
// short by the death of the process making it.
func (s *shard) dirty() bool { return atomic.LoadUint64(&s.h.Seq)&1 != 0 }

// testHook, when set by a test, is called at named points of a mutation so
// that a test can stop or kill the process there.
var testHook func(point string)

// find looks key up in its bucket. It returns the entry (0 if absent) and
// its predecessor in the bucket chain (0 if first).
func (s *shard) find(key []byte, h uint64) (u, prev uint32) {
	u = s.buckets[s.g.bucketOf(h)]
	for n := 0; u != 0; n++ {
		if n > s.g.maxEntries {
			s.corrupt("bucket chain longer than the shard's entries (a cycle)")
		}
		e := s.ent(u)
		if s.keyEquals(u, e, key) {
			return u, prev
		}
		prev, u = u, e.Hnext
	}
	return 0, prev
}

// remove deletes the entry at u, whose predecessor in its bucket chain is
// prev, and frees its storage. The caller has marked the shard dirty.
func (s *shard) remove(u, prev uint32, h uint64) {
	e := s.ent(u)
	if prev != 0 {
		s.ent(prev).Hnext = e.Hnext
	} else {
		s.buckets[s.g.bucketOf(h)] = e.Hnext
	}
	s.unlinkLRU(u, e)
	if testHook != nil {
		testHook("remove-unlinked")
	}
	if e.expires() != 0 {
		s.h.Ttls--
	}
	s.freeEntry(u, e)
	if s.h.Entries == 0 {
		s.corrupt("entry count below zero")
	}
	s.h.Entries--
}

// removeEntry deletes the entry at u, finding its bucket chain predecessor
// first.
func (s *shard) removeEntry(u uint32) {
	e := s.ent(u)
	h := s.hashOf(u, e)
	if s.g.shardOf(h) != s.idx {
		s.corrupt("entry %d hashes to another shard", u)
	}
	j := s.buckets[s.g.bucketOf(h)]
	var prev uint32
	for n := 0; j != u; n++ {
		if j == 0 || n > s.g.maxEntries {
			s.corrupt("entry %d is not in its bucket chain", u)
		}
		prev, j = j, s.ent(j).Hnext
	}
	s.remove(u, prev, h)
}

// insert writes a new entry for key (hash h) into the storage pl, at the
// head of its bucket and of the LRU queue. The caller has made room and
// marked the shard dirty.
func (s *shard) insert(pl placement, key, value []byte, h uint64, t Type, flags uint32, expires int64) *entry {
	u := pl.u
	e := s.ent(u)
	s.takeRef(u) // a read of whatever the units held before is not this entry's
	version := s.countChange(h)
	ext := flags != 0 || pl.more != 0
	*e = entry{Vlen: uint32(len(value)), Version: version, Info: packInfo(expires, len(key), t, ext)}
	if ext {
		x := entryExt{Flags: flags}
		if pl.more != 0 {
			x.More, x.Units = pl.more, pl.units
			s.h.Chained++
		}
		*s.extOf(u) = x
	}
	s.writePayload(u, e, key, value)
	if testHook != nil {
		testHook("insert-written")
	}
	b := &s.buckets[s.g.bucketOf(h)]
	e.Hnext = *b
	*b = u
	s.pushHead(u, e)
	s.h.Entries++
	if expires != 0 {
		s.h.Ttls++
	}
	return e
}

// rewrite replaces the value of the entry at u (its key's hash h) where it lies, if the entry
// is contiguous and the new value takes no more units (and needs no
// extension it lacks), and moves it to the head of the queue. Units the
// value no longer needs go back to the heap. It reports whether it did;
// if not, nothing changed. The caller has marked the shard dirty.
func (s *shard) rewrite(u uint32, e *entry, h uint64, value []byte, t Type, flags uint32, expires int64) bool {
	p := s.flat(u, e)
	if p == nil || (flags != 0 && !e.hasExt()) {
		return false
	}
	klen := e.klen()
	had, need := unitsFor(klen, int(e.Vlen), e.hasExt()), unitsFor(klen, len(value), e.hasExt())
	if need > had {
		return false
	}
	if testHook != nil {
		testHook("overwrite-start")
	}
	copy(s.bytesAt(u, e.payloadOff()+klen, len(value)), value)
	if testHook != nil {
		testHook("overwrite-copied")
	}
	version := s.countChange(h)
	s.setExpires(e, expires)
	e.Info = packInfo(expires, klen, t, e.hasExt())
	e.Version, e.Vlen = version, uint32(len(value))
	if e.hasExt() {
		s.extOf(u).Flags = flags
	}
	if need < had {
		s.freeUnits(u+uint32(need), uint32(had-need))
	}
	if s.h.Head != u {
		s.unlinkLRU(u, e)
		s.pushHead(u, e)
	}
	s.takeRef(u) // written: back at the head, with no read since
	return true
}

// setExpires changes an entry's deadline, keeping the count of entries
// that have one. The caller has marked the shard dirty.
func (s *shard) setExpires(e *entry, expires int64) {
	switch old := e.expires(); {
	case old == 0 && expires != 0:
		s.h.Ttls++
	case old != 0 && expires == 0:
		s.h.Ttls--
	}
	e.Info = e.Info&^infoExpiresMask | uint64(expires)&infoExpiresMask
}
