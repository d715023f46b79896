package lru

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"unsafe"

	"github.com/shmlru/shmlru/internal/format"
)

// The invalidation stripes and change rings (docs/protocol.md,
// "Invalidation stripes"): how a process that keeps copies of values
// outside the region (resty.shmlru.mlcache's per-worker L1) learns which of
// them a change made stale, a few keys' worth at a time rather than a whole
// shard's. Each shard has g.stripes uint64 counts, and a key's stripe is
// format.StripeOf of its hash: every change a reader could see bumps its
// key's stripe and appends the stripe to the shard's change ring. A copy
// taken after reading its stripe's count stays current while the count
// reads the same; a reader that follows the ring learns every stripe
// changed since it last looked. Everything here runs with the shard's lock
// held and inside the change's odd sequence (mutating), which is what
// orders a bump before a reader's validated read of the new value.

// bindStripes points shard s at its stripes and ring in data.
func (s *shard) bindStripes(data []byte) {
	g := s.g
	off := cacheHeaderSize + s.idx*g.stride
	s.stripes = unsafe.Slice((*uint64)(unsafe.Pointer(&data[off+g.stripesOff])), g.stripes)
	s.ring = unsafe.Slice((*uint32)(unsafe.Pointer(&data[off+g.ringOff])), g.ring)
}

// stripeIn is the stripe of a key of hash h within its shard.
func (g *geometry) stripeIn(h uint64) uint32 {
	return uint32(h>>format.StripeShift) & uint32(g.stripes-1)
}

// countChange records a change to the entry of the key of hash h that a
// reader could see (a write, a delete, a new deadline): it advances the
// shard's change count and returns it, the version of the entry the change
// writes, and bumps the key's stripe and appends it to the change ring.
// (The layout's fields: ShardHeader.ChangeCount, the stripe table and
// ShardHeader.RingHead.) Binding.Changes hands the count out, so that a
// reader may go on using its copy for as long as the count stays.
func (s *shard) countChange(h uint64) uint64 {
	s.h.ChangeCount++
	st := s.g.stripeIn(h)
	atomic.AddUint64(&s.stripes[st], 1)
	head := atomic.LoadUint64(&s.h.RingHead)
	atomic.StoreUint32(&s.ring[head%uint64(len(s.ring))], st)
	atomic.StoreUint64(&s.h.RingHead, head+1) // the slot first: a reader that sees the head sees it
	return s.h.ChangeCount
}

// Where a new region's change rings and stripe counts start: at random
// points below these, not at 0, so that a region created anew in the
// file of another (truncated to nothing under its open caches, then
// created by the next opener) is no continuation of it. A cache of the
// old region maps the new one; a copy it kept is current while its
// cursor or stamp reads the same, and from 0 the new region would reach
// the old one's cursors and stamps after as many changes. Below 2^62 a
// ring head is far from the cursors' "from now on" (^uint64(0)); below
// 2^40 a stripe count stays exact as a Lua number (a double) for as many
// changes as it can take. A ring head starts at 1 at least: a reader that
// loads heads straight from the region (the C library's ring-head watch,
// c/watch.c) reads 0 from a page the file lost, which must match no
// cursor.
const (
	ringStartBelow   = 1 << 62
	stripeStartBelow = 1 << 40
)

// startCounts sets a new shard's ring head and stripe counts to their
// random starts (see ringStartBelow). Only a region's creator calls it,
// before any other process maps the region.
func (s *shard) startCounts() {
	s.h.RingHead = 1 + rand.Uint64N(ringStartBelow-1)
	base := rand.Uint64N(stripeStartBelow)
	for i := range s.stripes {
		s.stripes[i] = base
	}
}

// countFlush records a change to every entry of the shard (a flush, a
// reset): the change count advances, every stripe is bumped, and the
// ring's head moves a whole ring and one further, so that every reader
// finds it has lapped and drops all its copies. The ring's slots are
// cleared, as no reader reads them again, so that a reset repairs a ring a
// stray write damaged.
func (s *shard) countFlush() {
	s.h.ChangeCount++
	for i := range s.stripes {
		atomic.AddUint64(&s.stripes[i], 1)
	}
	for i := range s.ring {
		atomic.StoreUint32(&s.ring[i], 0)
	}
	atomic.AddUint64(&s.h.RingHead, uint64(len(s.ring))+1)
}

// Shards is the number of the cache's shards: StripeChanges takes a
// cursor for each.
func (b *Binding) Shards() int { return b.c.g.shards }

// Stripe returns key's stripe (one index over every shard's stripes, as
// libshmlru's shmlru_l1_stamp reports it) and the stripe's count now. A
// copy of key's value read after the count stays current for as long as
// StripeStamp returns the same count.
func (b *Binding) Stripe(key []byte) (stripe uint32, stamp uint64, err error) {
	c := b.c
	if err := c.checkKey(key); err != nil {
		return 0, 0, err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	err = s.withLock(lockObserve, func() error {
		st := s.g.stripeIn(h)
		stripe, stamp = uint32(s.idx*s.g.stripes)+st, atomic.LoadUint64(&s.stripes[st])
		return nil
	})
	return stripe, stamp, err
}

// Stripes is the number of stripes of every shard together: a stripe
// index (Stripe's) is below it.
func (b *Binding) Stripes() int { return b.c.g.shards * b.c.g.stripes }

// StripeStamp returns the count of stripe (see Stripe) now.
func (b *Binding) StripeStamp(stripe uint32) (stamp uint64, err error) {
	c := b.c
	if int(stripe) >= b.Stripes() {
		return 0, fmt.Errorf("%w: stripe %d; the cache has %d", ErrBadOptions, stripe, b.Stripes())
	}
	s := &c.shards[int(stripe)/c.g.stripes]
	err = s.withLock(lockObserve, func() error {
		stamp = atomic.LoadUint64(&s.stripes[int(stripe)%c.g.stripes])
		return nil
	})
	return stamp, err
}

// Unchanged reports whether the shard of stripe (see Stripe) had no
// change since cursors (as a StripeChanges that reported all of the
// shard's changes left them). A copy current when that call returned, or
// filled since under a stamp its stripe still read after the copy was
// taken, is current while this holds.
func (b *Binding) Unchanged(cursors []uint64, stripe uint32) (bool, error) {
	c := b.c
	if len(cursors) != c.g.shards {
		return false, fmt.Errorf("%w: %d cursors for %d shards", ErrBadOptions, len(cursors), c.g.shards)
	}
	if int(stripe) >= b.Stripes() {
		return false, fmt.Errorf("%w: stripe %d; the cache has %d", ErrBadOptions, stripe, b.Stripes())
	}
	i := int(stripe) / c.g.stripes
	s := &c.shards[i]
	var head uint64
	err := s.withLock(lockObserve, func() error {
		head = atomic.LoadUint64(&s.h.RingHead)
		return nil
	})
	return err == nil && head == cursors[i], err
}

// StripeChanges appends to out, up to its capacity, the stripes changed
// since cursors (one per shard, each a count of the shard's ring appends;
// ^uint64(0) for "from now on", which reports nothing for the shard) and
// advances the cursors past what it appended. lapped is true when a
// shard's ring was overrun since its cursor (or the shard was flushed):
// the stripes changed there are not all known, and a caller keeping copies
// must drop them all. A stripe may be reported more than once. With out
// full, the call stops early; call again with the advanced cursors.
func (b *Binding) StripeChanges(cursors []uint64, out []uint32) (_ []uint32, lapped bool, err error) {
	c := b.c
	if len(cursors) != c.g.shards {
		return out, false, fmt.Errorf("%w: %d cursors for %d shards", ErrBadOptions, len(cursors), c.g.shards)
	}
	for i := range c.shards {
		s := &c.shards[i]
		if err := s.withLock(lockObserve, func() error {
			head := atomic.LoadUint64(&s.h.RingHead)
			cur := cursors[i]
			switch {
			case head == 0:
				// No ring head is ever 0 (startCounts), and a reader of
				// the C library's ring-head watch takes 0 for "gone":
				// a cursor of 0 would make that read current.
				return fmt.Errorf("%w: shard %d: its change ring's head reads 0, which no region writes", ErrCorrupt, i)
			case cur == ^uint64(0):
				cursors[i] = head
				return nil
			case head-cur > uint64(len(s.ring)):
				lapped = true
				cursors[i] = head
				return nil
			}
			base := uint32(i * c.g.stripes)
			mask := uint32(c.g.stripes - 1)
			for ; cur != head && len(out) < cap(out); cur++ {
				out = append(out, base+atomic.LoadUint32(&s.ring[cur%uint64(len(s.ring))])&mask)
			}
			cursors[i] = cur
			return nil
		}); err != nil {
			return out, lapped, err
		}
	}
	return out, lapped, nil
}
