package lru

import (
	"bytes"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// This file holds the shard's mechanics: blocks, chains, the LRU queue, the
// free list and eviction. Everything here runs with the shard's lock held.
// Every index read from the region is range-checked before use and every
// walk is bounded, so a corrupt region panics with a corruptError (turned
// into ErrCorrupt by end) rather than faulting or looping.

// reset empties the shard: no entries, every block free. It keeps the
// counters and the version clock, so versions never repeat.
func (s *shard) reset() {
	clear(s.buckets)
	h := s.h
	h.head, h.tail, h.free, h.entries, h.ttls = 0, 0, 0, 0, 0
	h.hwm = 1 // block 0 is never used
	h.nfree = uint32(s.g.nblocks - 1)
}

// resetCounted resets a shard whose state cannot be trusted (a dead owner
// left it mid-change, or corruption was found), counts the reset and clears
// the dirty mark.
func (s *shard) resetCounted() {
	s.reset()
	s.h.stats.Resets++
	s.clean()
}

// mutating marks the shard dirty before a change to its structures, and
// clean clears the mark after. A process that takes the lock over from a
// dead owner resets a dirty shard (see acquire). The atomic stores keep the
// compiler and CPU from moving the mark past the stores it guards.
func (s *shard) mutating() { atomic.StoreUint32(&s.h.dirty, 1) }
func (s *shard) clean()    { atomic.StoreUint32(&s.h.dirty, 0) }

// testHook, when set by a test, is called at named points of a mutation so
// that a test can stop or kill the process there.
var testHook func(point string)

// ent returns the entry header of block i.
func (s *shard) ent(i uint32) *entry {
	if i == 0 || int(i) >= s.g.nblocks {
		s.corrupt("block index %d out of range [1, %d)", i, s.g.nblocks)
	}
	return (*entry)(unsafe.Add(s.base, uintptr(i)*uintptr(s.g.blockSize)))
}

// block returns the bytes of block i.
func (s *shard) block(i uint32) []byte {
	if i == 0 || int(i) >= s.g.nblocks {
		s.corrupt("block index %d out of range [1, %d)", i, s.g.nblocks)
	}
	return unsafe.Slice((*byte)(unsafe.Add(s.base, uintptr(i)*uintptr(s.g.blockSize))), s.g.blockSize)
}

// link is the next-block index stored at the start of overflow block i (and
// of free block i).
func (s *shard) link(i uint32) *uint32 { return (*uint32)(unsafe.Pointer(&s.block(i)[0])) }

// checkEntry validates the lengths in an entry header, so that a corrupt
// header cannot make a copy run past its chain.
func (s *shard) checkEntry(i uint32, e *entry) {
	if int(e.klen) == 0 || int(e.klen) > s.g.maxKey || int(e.vlen) > s.g.maxValue || e.typ >= numTypes {
		s.corrupt("entry %d: key %d bytes, value %d bytes, type %d out of range", i, e.klen, e.vlen, e.typ)
	}
}

// chunks iterates over the payload of entry i: the key, then the value, in
// pieces of at most a block. It is a small state machine rather than a
// callback so that the hot paths do not allocate.
type chunks struct {
	s     *shard
	cur   uint32 // block holding the current piece
	more  uint32 // the second block: the first block's link is the header's more
	first bool   // cur is the entry's first block
	left  int    // blocks left in the chain after cur, a bound on the walk
	p     []byte // the current piece
}

func (s *shard) chunksOf(i uint32, e *entry) chunks {
	s.checkEntry(i, e)
	return chunks{s: s, cur: i, more: e.more, first: true, left: s.g.blocksFor(int(e.klen), int(e.vlen)) - 1, p: s.block(i)[entryHeaderSize:]}
}

// next moves to the following block of the chain.
func (c *chunks) next() {
	if c.left <= 0 {
		c.s.corrupt("entry chain longer than its lengths allow")
	}
	nx := c.more
	if !c.first {
		nx = *c.s.link(c.cur)
	}
	c.first = false
	c.left--
	c.cur = nx
	c.p = c.s.block(nx)[linkSize:]
}

// seek skips off bytes of the payload. There must be payload at off: a
// seek to the very end would step past the last block.
func (c *chunks) seek(off int) {
	for off >= len(c.p) {
		off -= len(c.p)
		c.next()
	}
	c.p = c.p[off:]
}

// readAt appends n bytes of entry i's payload, starting at off, to dst.
func (s *shard) readAt(dst []byte, i uint32, e *entry, off, n int) []byte {
	if end := entryHeaderSize + off + n; end <= s.g.blockSize && off >= 0 {
		// The common case: the bytes lie in the first block.
		return append(dst, s.block(i)[entryHeaderSize+off:end]...)
	}
	if n == 0 {
		return dst
	}
	c := s.chunksOf(i, e)
	c.seek(off)
	for {
		take := min(n, len(c.p))
		dst = append(dst, c.p[:take]...)
		if n -= take; n == 0 {
			return dst
		}
		c.next()
	}
}

// keyEquals reports whether entry i holds key.
func (s *shard) keyEquals(i uint32, e *entry, key []byte) bool {
	if int(e.klen) != len(key) {
		return false
	}
	if entryHeaderSize+len(key) <= s.g.blockSize { // the common case: key in the first block
		return bytes.Equal(s.block(i)[entryHeaderSize:entryHeaderSize+len(key)], key)
	}
	c := s.chunksOf(i, e)
	for {
		n := min(len(key), len(c.p))
		if !bytes.Equal(c.p[:n], key[:n]) {
			return false
		}
		if key = key[n:]; len(key) == 0 {
			return true
		}
		c.next()
	}
}

// hashOf recomputes the hash of entry i's key (to find its bucket when it is
// removed by eviction).
func (s *shard) hashOf(i uint32, e *entry) uint64 {
	if entryHeaderSize+int(e.klen) <= s.g.blockSize {
		s.checkEntry(i, e)
		return xxhash.Sum64(s.block(i)[entryHeaderSize : entryHeaderSize+int(e.klen)])
	}
	var d xxhash.Digest
	d.Reset()
	c := s.chunksOf(i, e)
	for left := int(e.klen); ; {
		n := min(left, len(c.p))
		d.Write(c.p[:n])
		if left -= n; left == 0 {
			return d.Sum64()
		}
		c.next()
	}
}

// find looks key up in its bucket. It returns the entry's block (0 if
// absent) and its predecessor in the bucket chain (0 if first).
func (s *shard) find(key []byte, h uint64) (i, prev uint32) {
	i = s.buckets[s.g.bucketOf(h)]
	for n := 0; i != 0; n++ {
		if n >= s.g.nblocks {
			s.corrupt("bucket chain longer than the shard's blocks (a cycle)")
		}
		e := s.ent(i)
		if s.keyEquals(i, e, key) {
			return i, prev
		}
		prev, i = i, e.hnext
	}
	return 0, prev
}

// unlinkLRU takes entry i out of the LRU queue.
func (s *shard) unlinkLRU(i uint32, e *entry) {
	if e.prev != 0 {
		s.ent(e.prev).next = e.next
	} else {
		s.h.head = e.next
	}
	if e.next != 0 {
		s.ent(e.next).prev = e.prev
	} else {
		s.h.tail = e.prev
	}
}

// pushHead puts entry i at the head (most recent end) of the LRU queue.
func (s *shard) pushHead(i uint32, e *entry) {
	e.prev, e.next = 0, s.h.head
	if s.h.head != 0 {
		s.ent(s.h.head).prev = i
	} else {
		s.h.tail = i
	}
	s.h.head = i
}

// touch makes entry i the most recently used.
//
// It is the one change made without the dirty mark, because it is on every
// hit and the mark costs two atomic stores: a touch only relinks the LRU
// queue, and a queue left half relinked by a dead reader is rebuilt from the
// bucket chains (see repairLRU) without losing an entry.
func (s *shard) touch(i uint32, e *entry) {
	if s.h.head == i {
		return
	}
	s.unlinkLRU(i, e)
	if testHook != nil {
		testHook("touch-unlinked")
	}
	s.pushHead(i, e)
}

// remove deletes entry i, whose predecessor in its bucket chain is prev,
// and frees its blocks. The caller has marked the shard dirty.
func (s *shard) remove(i, prev uint32, h uint64) {
	e := s.ent(i)
	if prev != 0 {
		s.ent(prev).hnext = e.hnext
	} else {
		s.buckets[s.g.bucketOf(h)] = e.hnext
	}
	s.unlinkLRU(i, e)
	if testHook != nil {
		testHook("remove-unlinked")
	}
	if e.expires != 0 {
		s.h.ttls--
	}
	s.freeChain(i, e)
	if s.h.entries == 0 {
		s.corrupt("entry count below zero")
	}
	s.h.entries--
}

// removeEntry deletes entry i, finding its bucket chain predecessor first.
func (s *shard) removeEntry(i uint32) {
	e := s.ent(i)
	h := s.hashOf(i, e)
	if s.g.shardOf(h) != s.idx {
		s.corrupt("entry %d hashes to another shard", i)
	}
	j := s.buckets[s.g.bucketOf(h)]
	var prev uint32
	for n := 0; j != i; n++ {
		if j == 0 || n >= s.g.nblocks {
			s.corrupt("entry %d is not in its bucket chain", i)
		}
		prev, j = j, s.ent(j).hnext
	}
	s.remove(i, prev, h)
}

// freeChain returns entry i's blocks to the free list. The chain is spliced
// onto the list whole: two writes instead of one per block, and the next
// allocation takes the blocks back in their order rather than reversed.
func (s *shard) freeChain(i uint32, e *entry) {
	n := s.g.blocksFor(int(e.klen), int(e.vlen))
	s.checkEntry(i, e)
	last := i
	if n > 1 {
		last = e.more
		for k := 2; k < n; k++ {
			last = *s.link(last)
		}
	}
	*s.link(last) = s.h.free // s.link range-checks last
	if n > 1 {
		*s.link(i) = e.more // the first block's link field is its hnext: free now
	}
	s.h.free = i
	s.h.nfree += uint32(n)
}

// allocBlock takes a free block. The caller has made sure one is free.
func (s *shard) allocBlock() uint32 {
	if s.h.nfree == 0 {
		s.corrupt("allocation with no free block")
	}
	s.h.nfree--
	if i := s.h.free; i != 0 {
		s.h.free = *s.link(i)
		return i
	}
	if int(s.h.hwm) >= s.g.nblocks || s.h.hwm == 0 {
		s.corrupt("free count %d but no free block (high-water mark %d)", s.h.nfree+1, s.h.hwm)
	}
	i := s.h.hwm
	s.h.hwm++
	return i
}

// expiredAt reports whether entry e has expired at now (Unix ms).
func expiredAt(e *entry, now int64) bool { return e.expires != 0 && e.expires <= now }

// expireScan is how many entries from the LRU tail a write that needs room
// looks at for expired ones before it evicts live ones.
const expireScan = 8

// expireTail removes expired entries among the expireScan least recently
// used ones. It looks only if some entry of the shard has a deadline.
func (s *shard) expireTail(now *lazyNow) {
	if s.h.ttls == 0 {
		return
	}
	i := s.h.tail
	for k := 0; k < expireScan && i != 0; k++ {
		e := s.ent(i)
		prev := e.prev
		if e.expires != 0 && expiredAt(e, now.get()) {
			s.removeEntry(i)
			s.h.stats.Expirations++
		}
		i = prev
	}
}

// roomFor reports whether an entry of n blocks fits without removing
// anything.
func (s *shard) roomFor(n int) bool {
	return int(s.h.nfree) >= n && int(s.h.entries) < s.g.maxEntries
}

// makeRoom frees space for an entry of n blocks: expired entries near the
// tail first, then live ones from the tail. It reports whether a live entry
// was evicted. The caller has marked the shard dirty.
func (s *shard) makeRoom(n int, now *lazyNow) (forcible bool) {
	if s.roomFor(n) {
		return false
	}
	s.expireTail(now)
	for evicted := 0; !s.roomFor(n); evicted++ {
		if evicted >= s.g.nblocks {
			// Each eviction frees at least a block: more evictions than
			// blocks means the counts are corrupt, not that we need more.
			s.corrupt("evicted %d entries and still no room: counts are inconsistent", evicted)
		}
		t := s.h.tail
		if t == 0 {
			s.corrupt("no entry to evict but only %d free blocks for %d", s.h.nfree, n)
		}
		if e := s.ent(t); e.expires != 0 && expiredAt(e, now.get()) {
			s.h.stats.Expirations++
		} else {
			s.h.stats.Evictions++
			forcible = true
		}
		s.removeEntry(t)
	}
	return forcible
}

// insert writes a new entry for key (hash h) at the head of its bucket and
// of the LRU queue. The caller has made room and marked the shard dirty.
func (s *shard) insert(key, value []byte, h uint64, t Type, flags uint32, expires int64) *entry {
	i := s.allocBlock()
	e := s.ent(i)
	s.h.clock++
	*e = entry{expires: expires, version: s.h.clock, flags: flags, vlen: uint32(len(value)), klen: uint16(len(key)), typ: t}
	w := chainWriter{s: s, p: s.block(i)[entryHeaderSize:], link: &e.more}
	w.write(key)
	if testHook != nil {
		testHook("insert-key-written")
	}
	w.write(value)
	if testHook != nil {
		testHook("insert-written")
	}
	b := &s.buckets[s.g.bucketOf(h)]
	e.hnext = *b
	*b = i
	s.pushHead(i, e)
	s.h.entries++
	if expires != 0 {
		s.h.ttls++
	}
	return e
}

// overwrite replaces the value of entry i, whose chain already has exactly
// the blocks the new value needs, and makes it the most recently used. The
// caller has marked the shard dirty.
func (s *shard) overwrite(i uint32, e *entry, value []byte, t Type, flags uint32, expires int64) {
	if testHook != nil {
		testHook("overwrite-start")
	}
	if len(value) > 0 {
		c := s.chunksOf(i, e)
		c.seek(int(e.klen)) // the value starts after the key
		for src := value; ; {
			n := copy(c.p, src)
			if src = src[n:]; len(src) == 0 {
				break
			}
			c.next()
		}
	}
	if testHook != nil {
		testHook("overwrite-copied")
	}
	s.h.clock++
	s.setExpires(e, expires)
	e.version, e.flags, e.typ, e.vlen = s.h.clock, flags, t, uint32(len(value))
	if s.h.head != i {
		s.unlinkLRU(i, e)
		s.pushHead(i, e)
	}
}

// setExpires changes an entry's deadline, keeping the count of entries
// that have one. The caller has marked the shard dirty.
func (s *shard) setExpires(e *entry, expires int64) {
	switch {
	case e.expires == 0 && expires != 0:
		s.h.ttls++
	case e.expires != 0 && expires == 0:
		s.h.ttls--
	}
	e.expires = expires
}

// chainWriter copies bytes into a new entry's chain, allocating overflow
// blocks only when the current one is full, so an entry takes exactly
// blocksFor(klen, vlen) blocks.
type chainWriter struct {
	s    *shard
	p    []byte  // free room in the current block
	link *uint32 // where the next block's index goes
}

func (w *chainWriter) write(src []byte) {
	for len(src) > 0 {
		if len(w.p) == 0 {
			nb := w.s.allocBlock()
			*w.link = nb
			b := w.s.block(nb)
			w.link = (*uint32)(unsafe.Pointer(&b[0]))
			*w.link = 0
			w.p = b[linkSize:]
		}
		n := copy(w.p, src)
		w.p, src = w.p[n:], src[n:]
	}
}

// valueInFirstBlock returns entry i's value bytes when they lie wholly in
// its first block (nil otherwise), for in-place updates of small fixed-size
// values (Incr).
func (s *shard) valueInFirstBlock(i uint32, e *entry) []byte {
	off := entryHeaderSize + int(e.klen)
	if off+int(e.vlen) > s.g.blockSize {
		return nil
	}
	return s.block(i)[off : off+int(e.vlen)]
}
