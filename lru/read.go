package lru

import "fmt"

// ReadOptions are the general form of a lookup; Get, GetInto, GetStale and
// Peek are shorthands.
type ReadOptions struct {
	// Stale returns an entry that has expired but not yet been removed,
	// with stale set, instead of ErrNotFound.
	Stale bool
	// Peek changes nothing: no reference mark, no counters (for
	// observers).
	Peek bool
	// Fit is for fixed buffers: the value is copied only if it fits in
	// dst's spare capacity. If it does not, Read returns
	// ErrBufferTooSmall with the entry's Meta (Meta.Size is the room
	// needed) and changes nothing, so a retry with a larger buffer is
	// counted once.
	Fit bool
	// Absent returns a cached absence (an entry of TypeNone, see
	// GetOrLoad's NegativeTTL) as an entry with an empty value instead of
	// ErrNotFound. Peek always shows it.
	Absent bool
	// Tracked is Tracker.Get's read (track.go): only an entry that a fill
	// of the current generation stored, and only while the cache is in
	// step with its store (else ErrNotInStep, before the key is looked
	// up). Whether the cache is in step and the entry are read together,
	// under the shard's lock, so that an invalidation and a new
	// confirmation cannot come between them. Not with Stale or Peek.
	Tracked  bool
	metaOnly bool   // do not copy the value (TTL)
	repair   bool   // with Peek: acquire, repairing a dead owner's leftovers, rather than observe (TTL is not an observer)
	now      *int64 // where to put the wall time (Unix ms) that expiry was judged by, 0 if not read (TTL)
}

// Get returns a copy of the value stored at key, or ErrNotFound if there is
// no live entry. A hit marks the entry as read, which spares it from the
// next eviction that reaches it (see Caveats in the package doc); it takes
// no lock and, on an entry already marked, writes nothing other processes
// read.
func (c *Cache) Get(key []byte) ([]byte, error) {
	v, _, _, err := c.Read(nil, key, ReadOptions{})
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

// GetInto appends the value stored at key to dst and returns the extended
// slice and the entry's Meta. It allocates nothing when dst has room: reuse
// one buffer across calls (dst[:0]). On error dst is returned unchanged.
func (c *Cache) GetInto(dst, key []byte) ([]byte, Meta, error) {
	v, m, _, err := c.Read(dst, key, ReadOptions{})
	return v, m, err
}

// GetStale is GetInto that also returns an entry that has expired but not
// yet been removed, with stale set (ngx.shared.DICT's get_stale).
func (c *Cache) GetStale(dst, key []byte) (v []byte, m Meta, stale bool, err error) {
	return c.Read(dst, key, ReadOptions{Stale: true})
}

// Peek is GetStale for observers: it changes nothing, not the LRU order, not
// the counters, and not a shard that a process left half changed when it
// died (that is ErrCorrupt until a write or Repair repairs it). shmctl uses
// it.
func (c *Cache) Peek(dst, key []byte) (v []byte, m Meta, stale bool, err error) {
	return c.Read(dst, key, ReadOptions{Stale: true, Peek: true})
}

// Read looks key up as o says and appends its value to dst.
func (c *Cache) Read(dst, key []byte, o ReadOptions) (out []byte, m Meta, stale bool, err error) {
	if err := c.checkKey(key); err != nil {
		return dst, m, false, err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	if !o.Peek && !o.Tracked && !o.metaOnly {
		if out, m, stale, err, ok := s.readUnlocked(dst, key, h, o); ok {
			return out, m, stale, err
		}
	}
	if err := s.begin(); err != nil {
		return dst, m, false, err
	}
	defer s.end(&err)
	if o.Peek && !o.repair {
		s.observe()
		if err := s.leftBroken(); err != nil {
			return dst, m, false, err
		}
	} else {
		s.acquire()
	}
	out = dst
	var gen uint32
	if o.Tracked {
		if o.Stale || o.Peek {
			return dst, m, false, fmt.Errorf("%w: ReadOptions.Tracked with Stale or Peek (a tracked read is neither)", ErrBadOptions)
		}
		if gen = c.tr.gen(); gen == 0 {
			return dst, m, false, ErrNotInStep
		}
	}
	i, _ := s.find(key, h)
	if i == 0 {
		if !o.Peek {
			s.countMiss()
		}
		return dst, m, false, ErrNotFound
	}
	e := s.ent(i)
	var wall lazyNow
	if e.expires() != 0 && expiredAt(e, wall.get()) {
		if !o.Stale {
			if !o.Peek {
				s.countMiss()
			}
			return dst, m, false, ErrNotFound
		}
		stale = true
	}
	if e.typ() == TypeNone && !o.Absent && !o.Peek {
		s.countMiss() // to the caller, there is no value
		return dst, m, false, ErrNotFound
	}
	if o.now != nil {
		*o.now = int64(wall)
	}
	m = s.metaOf(i, e)
	if o.Tracked && m.Flags != gen {
		s.countMiss() // a copy from before the last InvalidateAll
		return dst, Meta{}, false, ErrNotFound
	}
	if o.Fit && m.Size > cap(dst)-len(dst) {
		return dst, m, stale, ErrBufferTooSmall
	}
	if !o.Peek {
		s.countHit()
		s.markRef(i)
	}
	if !o.metaOnly {
		if p := s.flat(i, e); p != nil {
			out = append(dst, p[e.klen():]...) // the common case: one copy
		} else {
			out = s.readAt(dst, i, e, e.klen(), int(e.Vlen))
		}
	}
	return out, m, stale, nil
}
