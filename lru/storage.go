package lru

import (
	"bytes"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// Entry storage: an entry's header, its optional entryExt, and its payload
// (key, then value), contiguous in one run of units or, when the heap had
// no run long enough, in a chain of pieces (see internal/format). Everything here
// runs with the shard's lock held; every length and index read from the
// region is checked before it is used.

func packInfo(expires int64, klen int, t Type, ext bool) uint64 {
	i := uint64(expires)&infoExpiresMask | uint64(klen)<<infoKlenShift | uint64(t&infoTypMask)<<infoTypShift
	if ext {
		i |= infoExt
	}
	return i
}

// expires is the entry's deadline, Unix ms, 0 = never.
func (e *entry) expires() int64 { return int64(e.Info & infoExpiresMask) }

// klen is the key's length.
func (e *entry) klen() int { return int(e.Info >> infoKlenShift & 0xffff) }

// typ is the value's type.
func (e *entry) typ() Type { return Type(e.Info >> infoTypShift & infoTypMask) }

// hasExt reports whether an entryExt follows the header.
func (e *entry) hasExt() bool { return e.Info&infoExt != 0 }

// payloadOff is where the key starts, from the entry's first unit.
func (e *entry) payloadOff() int {
	if e.hasExt() {
		return entryHeaderSize + entryExtSize
	}
	return entryHeaderSize
}

// ent returns the header of the entry at unit u.
func (s *shard) ent(u uint32) *entry {
	if u == 0 || int(u)+entryHeaderSize/unitSize > s.g.nunits {
		s.corrupt("entry index %d out of range [1, %d)", u, s.g.nunits)
	}
	return (*entry)(unsafe.Add(s.base, uintptr(u)*unitSize))
}

// extOf returns the entryExt of the entry at u, which has one.
func (s *shard) extOf(u uint32) *entryExt {
	return (*entryExt)(s.unitAt(u + entryHeaderSize/unitSize))
}

// flagsOf returns the entry's user flags.
func (s *shard) flagsOf(u uint32, e *entry) uint32 {
	if !e.hasExt() {
		return 0
	}
	return s.extOf(u).Flags
}

// metaOf returns the entry's Meta.
func (s *shard) metaOf(u uint32, e *entry) Meta {
	return Meta{Type: e.typ(), Flags: s.flagsOf(u, e), Version: e.Version, Expires: e.expires(), Size: int(e.Vlen)}
}

// bytesAt returns n bytes of the heap starting off bytes into unit u.
func (s *shard) bytesAt(u uint32, off, n int) []byte {
	if u == 0 || uint64(u)*unitSize+uint64(off)+uint64(n) > uint64(s.g.nunits)*unitSize {
		s.corrupt("%d bytes at unit %d + %d run past the heap", n, u, off)
	}
	return unsafe.Slice((*byte)(unsafe.Add(s.base, uintptr(u)*unitSize+uintptr(off))), n)
}

// checkEntry validates the lengths and type in an entry header, so that a
// corrupt header cannot make a copy run past its storage.
func (s *shard) checkEntry(u uint32, e *entry) {
	if k := e.klen(); k == 0 || k > s.g.maxKey || int(e.Vlen) > s.g.maxValue || e.typ() >= numTypes {
		s.corrupt("entry %d: key %d bytes, value %d bytes, type %d out of range", u, k, e.Vlen, e.typ())
	}
}

// chainOf returns the chain of the entry at u: its second piece and the
// units of its first, or 0, 0 if it is contiguous.
func (s *shard) chainOf(u uint32, e *entry) (more, units uint32) {
	if !e.hasExt() {
		return 0, 0
	}
	x := s.extOf(u)
	return x.More, x.Units
}

// flat returns the payload (key, then value) of the entry at u if it is
// contiguous, and nil if it is a chain.
func (s *shard) flat(u uint32, e *entry) []byte {
	s.checkEntry(u, e)
	off := entryHeaderSize
	if e.hasExt() {
		if s.extOf(u).More != 0 {
			return nil
		}
		off += entryExtSize
	}
	return s.bytesAt(u, off, e.klen()+int(e.Vlen))
}

// units returns how many units the entry at u takes in all its pieces
// and how many pieces it has.
func (s *shard) units(u uint32, e *entry) (units, pieces int) {
	if s.flat(u, e) != nil {
		return unitsFor(e.klen(), int(e.Vlen), e.hasExt()), 1
	}
	more, first := s.chainOf(u, e)
	units, pieces = int(first), 1
	for ; more != 0; pieces++ {
		if pieces > s.g.nunits {
			s.corrupt("entry %d: its chain has a cycle", u)
		}
		ph := (*pieceHeader)(s.unitAt(more))
		units += int(ph.Units)
		more = ph.Next
	}
	return units, pieces
}

// chunks iterates over the payload of a chained entry: the key, then the
// value, a piece at a time. It is a small state machine rather than a
// callback so that the paths using it do not allocate.
type chunks struct {
	s    *shard
	next uint32 // the piece after the current one, 0 after the last
	left int    // pieces that may still follow: a bound on the walk
	p    []byte // the payload bytes of the current piece
}

func (s *shard) chunksOf(u uint32, e *entry) chunks {
	if p := s.flat(u, e); p != nil {
		return chunks{s: s, p: p}
	}
	more, units := s.chainOf(u, e)
	s.checkSpan(u, units)
	off := e.payloadOff()
	if int(units)*unitSize <= off {
		s.corrupt("entry %d: first piece of %d units holds no payload", u, units)
	}
	// Every piece holds at least 8 bytes: the payload bounds the walk.
	left := (e.klen()+int(e.Vlen))/(unitSize-pieceHeaderSize) + 1
	return chunks{s: s, next: more, left: left, p: s.bytesAt(u, off, int(units)*unitSize-off)}
}

// advance moves to the next piece.
func (c *chunks) advance() {
	if c.next == 0 || c.left <= 0 {
		c.s.corrupt("entry chain shorter than its lengths, or a cycle")
	}
	ph := (*pieceHeader)(c.s.unitAt(c.next))
	c.s.checkSpan(c.next, ph.Units)
	c.p = c.s.bytesAt(c.next, pieceHeaderSize, int(ph.Units)*unitSize-pieceHeaderSize)
	c.next = ph.Next
	c.left--
}

// seek skips off bytes of the payload; there must be payload at off.
func (c *chunks) seek(off int) {
	for off >= len(c.p) {
		off -= len(c.p)
		c.advance()
	}
	c.p = c.p[off:]
}

// copyOut appends n payload bytes from the current position to dst.
func (c *chunks) copyOut(dst []byte, n int) []byte {
	for {
		take := min(n, len(c.p))
		dst = append(dst, c.p[:take]...)
		c.p = c.p[take:]
		if n -= take; n == 0 {
			return dst
		}
		c.advance()
	}
}

// copyIn overwrites payload bytes from the current position with src.
func (c *chunks) copyIn(src []byte) {
	for len(src) > 0 {
		if len(c.p) == 0 {
			c.advance()
		}
		n := copy(c.p, src)
		c.p, src = c.p[n:], src[n:]
	}
}

// readAt appends n bytes of the payload of the entry at u, starting at
// off, to dst.
func (s *shard) readAt(dst []byte, u uint32, e *entry, off, n int) []byte {
	if p := s.flat(u, e); p != nil {
		return append(dst, p[off:off+n]...)
	}
	if n == 0 {
		return dst
	}
	c := s.chunksOf(u, e)
	c.seek(off)
	return c.copyOut(dst, n)
}

// keyEquals reports whether the entry at u holds key.
func (s *shard) keyEquals(u uint32, e *entry, key []byte) bool {
	if e.klen() != len(key) {
		return false
	}
	if p := s.flat(u, e); p != nil {
		return bytes.Equal(p[:len(key)], key)
	}
	c := s.chunksOf(u, e)
	for {
		n := min(len(key), len(c.p))
		if !bytes.Equal(c.p[:n], key[:n]) {
			return false
		}
		if key = key[n:]; len(key) == 0 {
			return true
		}
		c.advance()
	}
}

// hashOf recomputes the hash of the key of the entry at u (to find its
// bucket when eviction removes it).
func (s *shard) hashOf(u uint32, e *entry) uint64 {
	if p := s.flat(u, e); p != nil {
		return xxhash.Sum64(p[:e.klen()])
	}
	var d xxhash.Digest
	d.Reset()
	c := s.chunksOf(u, e)
	for left := e.klen(); ; {
		n := min(left, len(c.p))
		d.Write(c.p[:n])
		if left -= n; left == 0 {
			return d.Sum64()
		}
		c.advance()
	}
}

// placement is the storage taken for a new entry: units [u, u+units), and
// for a chain, its further pieces from more.
type placement struct {
	u, units, more uint32
}

// chainFits reports whether a chain for payload bytes can be built from the
// free runs as they are: the largest run must hold the header, extension
// and some payload (4 units), and all of them together, less each piece's
// header, the payload.
func (s *shard) chainFits(payload int) bool {
	c := s.lastClass()
	if c < 4 {
		return false
	}
	room := int64(s.h.FreeUnits)*unitSize - int64(s.h.FreeRuns)*pieceHeaderSize - (entryHeaderSize + entryExtSize - pieceHeaderSize)
	return room >= int64(payload)
}

// allocChain takes the storage for an entry whose contiguous form needs
// need units and whose payload is payload bytes, largest free run first, so
// that the chain has as few pieces as it can. The caller has checked
// chainFits. If the largest run can hold the entry whole after all, the
// entry is contiguous.
func (s *shard) allocChain(need uint32, payload int) placement {
	u := s.headOf(s.lastClass())
	first := s.run(u).Units
	if first >= need {
		return placement{u: s.cut(u, need), units: need}
	}
	pl := placement{u: s.cut(u, first), units: first}
	left := payload - (int(first)*unitSize - entryHeaderSize - entryExtSize)
	var last *pieceHeader
	for left > 0 {
		c := s.lastClass()
		if c < 0 {
			s.corrupt("free space ran out building a chain that fit")
		}
		v := s.headOf(c)
		take := min(s.run(v).Units, uint32((left+pieceHeaderSize+unitSize-1)/unitSize))
		p := s.cut(v, take)
		ph := (*pieceHeader)(s.unitAt(p))
		*ph = pieceHeader{Units: take}
		if last == nil {
			pl.more = p
		} else {
			last.Next = p
		}
		last = ph
		left -= int(take)*unitSize - pieceHeaderSize
	}
	return pl
}

// freeEntry returns the storage of the entry at u to the heap.
func (s *shard) freeEntry(u uint32, e *entry) {
	if s.flat(u, e) != nil {
		s.freeUnits(u, uint32(unitsFor(e.klen(), int(e.Vlen), e.hasExt())))
		return
	}
	more, first := s.chainOf(u, e)
	s.freeUnits(u, first)
	for n := 0; more != 0; n++ {
		if n > s.g.nunits {
			s.corrupt("entry %d: its chain has a cycle", u)
		}
		// Read the header before freeing: the free run's header
		// overwrites it.
		ph := (*pieceHeader)(s.unitAt(more))
		next, units := ph.Next, ph.Units
		s.freeUnits(more, units)
		more = next
	}
	if s.h.Chained == 0 {
		s.corrupt("chained entry count below zero")
	}
	s.h.Chained--
}

// writePayload copies key and value into the entry at u, whose header and
// extension are written.
func (s *shard) writePayload(u uint32, e *entry, key, value []byte) {
	if p := s.flat(u, e); p != nil {
		copy(p, key)
		if testHook != nil {
			testHook("insert-key-written")
		}
		copy(p[len(key):], value)
		return
	}
	c := s.chunksOf(u, e)
	c.copyIn(key)
	if testHook != nil {
		testHook("insert-key-written")
	}
	c.copyIn(value)
}

// valueBytes returns the value of the entry at u when it is contiguous,
// for in-place updates (Incr); nil for a chain.
func (s *shard) valueBytes(u uint32, e *entry) []byte {
	p := s.flat(u, e)
	if p == nil {
		return nil
	}
	return p[e.klen():]
}
