package lru

// How a lookup treats what it finds.
type readMode uint8

const (
	readLive  readMode = iota // live entries only; hit moves to the head; counted
	readStale                 // expired entries too; hit moves to the head; counted
	readPeek                  // expired entries too; changes nothing, counts nothing
	readMeta                  // readPeek without copying the value
)

// Get returns a copy of the value stored at key, or ErrNotFound if there is
// no live entry. A hit makes the entry the most recently used.
func (c *Cache) Get(key []byte) ([]byte, error) {
	v, _, _, err := c.read(nil, key, readLive)
	if err == nil && v == nil {
		v = []byte{}
	}
	return v, err
}

// GetInto appends the value stored at key to dst and returns the extended
// slice and the entry's Meta. It allocates nothing when dst has room: reuse
// one buffer across calls (dst[:0]). On error dst is returned unchanged.
func (c *Cache) GetInto(dst, key []byte) ([]byte, Meta, error) {
	v, m, _, err := c.read(dst, key, readLive)
	return v, m, err
}

// GetStale is GetInto that also returns an entry that has expired but not
// yet been removed, with stale set (ngx.shared.DICT's get_stale).
func (c *Cache) GetStale(dst, key []byte) (v []byte, m Meta, stale bool, err error) {
	return c.read(dst, key, readStale)
}

// Peek is GetStale for observers: it changes nothing, not the LRU order and
// not the counters. shmctl uses it.
func (c *Cache) Peek(dst, key []byte) (v []byte, m Meta, stale bool, err error) {
	return c.read(dst, key, readPeek)
}

func (c *Cache) read(dst, key []byte, mode readMode) (out []byte, m Meta, stale bool, err error) {
	if err := c.checkKey(key); err != nil {
		return dst, m, false, err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	if err := s.begin(); err != nil {
		return dst, m, false, err
	}
	defer s.end(&err)
	s.acquire()
	out = dst
	i, _ := s.find(key, h)
	if i == 0 {
		if mode < readPeek {
			s.h.stats.Misses++
		}
		return dst, m, false, ErrNotFound
	}
	e := s.ent(i)
	if e.expires != 0 && expiredAt(e, nowMillis()) {
		if mode == readLive {
			s.h.stats.Misses++
			return dst, m, false, ErrNotFound
		}
		stale = true
	}
	if mode < readPeek {
		s.h.stats.Hits++
		s.touch(i, e)
	}
	m = Meta{Type: e.typ, Flags: e.flags, Version: e.version, Expires: e.expires}
	if mode != readMeta {
		out = s.readAt(dst, i, e, int(e.klen), int(e.vlen))
	}
	return out, m, stale, nil
}
