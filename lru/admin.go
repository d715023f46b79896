package lru

// Whole-cache operations: they visit the shards one at a time, each under
// its lock, so they are atomic per shard, not across the cache.

// Keys returns up to max keys of live entries (0 = all), in queue order
// (most recently written first) within each shard, shard by shard. It
// changes nothing.
func (c *Cache) Keys(max int) ([][]byte, error) {
	var keys [][]byte
	err := c.Range(func(key []byte, m Meta, _ int) bool {
		keys = append(keys, append([]byte(nil), key...))
		return max <= 0 || len(keys) < max
	}, false)
	return keys, err
}

// Range calls fn for the entries of each shard in LRU order (most recent
// first), with the key, the entry's Meta and its value's size, until fn
// returns false. Expired entries are skipped unless withExpired is set. It
// changes nothing, and repairs nothing: a shard that a process left half
// changed when it died fails the walk with ErrCorrupt. key is only valid
// during the call. fn must not call the cache: the shard is locked while it
// runs. A panic in fn reaches the caller with every lock released.
func (c *Cache) Range(fn func(key []byte, m Meta, valueSize int) bool, withExpired bool) error {
	var key []byte
	now := nowMillis()
	for si := range c.shards {
		s := &c.shards[si]
		more := true
		err := s.withLock(lockObserve, func() error {
			if err := s.leftBroken(); err != nil {
				return err
			}
			i := s.h.Head
			for n := 0; i != 0 && more; n++ {
				if n > s.g.maxEntries {
					s.corrupt("LRU queue longer than the shard's blocks (a cycle)")
				}
				e := s.ent(i)
				if withExpired || !expiredAt(e, now) {
					key = s.readAt(key[:0], i, e, 0, e.klen())
					more = callerFn(fn, key, s.metaOf(i, e), int(e.Vlen))
				}
				i = e.Next
			}
			return nil
		})
		if err != nil || !more {
			return err
		}
	}
	return nil
}

// Flush removes every entry. (ngx.shared.DICT's flush_all only marks them
// expired; here the memory is free at once.)
func (c *Cache) Flush() error {
	for si := range c.shards {
		s := &c.shards[si]
		if err := s.withLock(lockChange, func() error {
			s.mutating()
			s.reset()
			s.countFlush() // readers' copies are out of date
			s.clean()
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// FlushExpired removes up to max expired entries (0 = all) and returns how
// many it removed.
func (c *Cache) FlushExpired(max int) (int, error) {
	removed := 0
	now := nowMillis()
	for si := range c.shards {
		s := &c.shards[si]
		err := s.withLock(lockChange, func() error {
			i := s.h.Tail
			for n := 0; i != 0 && (max <= 0 || removed < max); n++ {
				if n > s.g.maxEntries {
					s.corrupt("LRU queue longer than the shard's blocks (a cycle)")
				}
				e := s.ent(i)
				prev := e.Prev
				if expiredAt(e, now) {
					s.mutating()
					s.removeEntry(i)
					s.h.Stats.Expirations++
					s.clean()
					removed++
				}
				i = prev
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// Len returns the number of entries, expired ones not yet removed included.
// It changes nothing.
func (c *Cache) Len() (int, error) {
	n := 0
	for si := range c.shards {
		s := &c.shards[si]
		if err := s.withLock(lockObserve, func() error { n += int(s.h.Entries); return nil }); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Capacity returns the size of the region in bytes (ngx.shared.DICT's
// capacity).
func (c *Cache) Capacity() int64 { return c.size }

// FreeSpace returns the bytes of value storage not in use by any entry
// (ngx.shared.DICT's free_space).
func (c *Cache) FreeSpace() (int64, error) {
	var free int64
	for si := range c.shards {
		s := &c.shards[si]
		if err := s.withLock(lockObserve, func() error { free += int64(s.h.FreeUnits) * unitSize; return nil }); err != nil {
			return free, err
		}
	}
	return free, nil
}
