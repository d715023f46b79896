package lru

import (
	"fmt"
	"runtime"
	"time"
)

// WriteMode says what a write requires of the entry already at the key.
type WriteMode uint8

const (
	// ModeSet writes whatever is there.
	ModeSet WriteMode = iota
	// ModeAdd writes only if there is no live entry (an expired one is
	// replaced); otherwise ErrExists.
	ModeAdd
	// ModeReplace writes only over a live entry; otherwise ErrNotFound.
	ModeReplace
	// ModeCAS writes only over a live entry whose Version is
	// WriteOptions.Version; otherwise ErrNotFound or ErrVersionMismatch.
	ModeCAS
)

// WriteOptions are the general form of a write; Set, Add, Replace and
// CompareAndSwap are shorthands.
type WriteOptions struct {
	Mode  WriteMode
	TTL   time.Duration // 0 = never expires; negative is ErrBadTTL
	Flags uint32        // user flags, returned in Meta
	Type  Type          // the value's type; the value must match it
	// NoEvict makes the write fail with ErrNoMemory rather than evict live
	// entries to make room (ngx.shared.DICT's safe_set and safe_add).
	NoEvict bool
	Version uint64      // for ModeCAS: the version the entry must have
	fill    *FillTicket // a fill's (StoreFill): write only if it still holds
	load    *LoadTicket // a loader's (Loads.Write): write only if the load is still its own
}

// WriteResult tells what a successful write did.
type WriteResult struct {
	Version  uint64 // the entry's new version
	Forcible bool   // live entries were evicted to make room
}

// Set stores value at key, replacing any entry, with a TTL (0 = never
// expires). To make room it removes expired entries, then the least recently
// used ones of the key's shard.
func (c *Cache) Set(key, value []byte, ttl time.Duration) error {
	_, err := c.Write(key, value, WriteOptions{TTL: ttl})
	return err
}

// Add stores value at key only if there is no live entry; ErrExists if
// there is.
func (c *Cache) Add(key, value []byte, ttl time.Duration) error {
	_, err := c.Write(key, value, WriteOptions{Mode: ModeAdd, TTL: ttl})
	return err
}

// Replace stores value at key only if there is a live entry; ErrNotFound if
// there is not.
func (c *Cache) Replace(key, value []byte, ttl time.Duration) error {
	_, err := c.Write(key, value, WriteOptions{Mode: ModeReplace, TTL: ttl})
	return err
}

// CompareAndSwap stores value at key only if the live entry there has the
// given version (from Meta.Version), and returns the new version. It fails
// with ErrVersionMismatch if another write came first, or ErrNotFound.
func (c *Cache) CompareAndSwap(key []byte, version uint64, value []byte, ttl time.Duration) (uint64, error) {
	r, err := c.Write(key, value, WriteOptions{Mode: ModeCAS, Version: version, TTL: ttl})
	return r.Version, err
}

// Write stores value at key as o says. A call rejected for its arguments or
// by its mode changes nothing.
func (c *Cache) Write(key, value []byte, o WriteOptions) (res WriteResult, err error) {
	if err := c.checkKey(key); err != nil {
		return res, err
	}
	if err := c.checkValue(value); err != nil {
		return res, err
	}
	if err := checkTyped(o.Type, value); err != nil {
		return res, fmt.Errorf("%w: %d bytes for a %s", err, len(value), o.Type)
	}
	if o.Mode > ModeCAS {
		return res, fmt.Errorf("%w: write mode %d", ErrBadOptions, o.Mode)
	}
	expires, err := deadline(o.TTL)
	if err != nil {
		return res, err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	if err := s.begin(); err != nil {
		return res, err
	}
	defer s.end(&err)
	// Read the value once over before taking the lock: memory that faults
	// (a C pointer with a wrong length, a slice over a truncated mmap)
	// then fails the write with ErrFault before anything has changed.
	probe(value)
	s.acquire()
	return s.write(key, value, h, o.Type, o.Flags, expires, o)
}

// write is Write with the lock held.
func (s *shard) write(key, value []byte, h uint64, t Type, flags uint32, expires int64, o WriteOptions) (WriteResult, error) {
	if o.fill != nil && !s.c.tr.fillCurrent(o.fill) {
		return WriteResult{}, errFillRefused
	}
	if o.load != nil && !s.c.ownsLoad(o.load) {
		return WriteResult{}, ErrLoadLost
	}
	var now lazyNow
	i, prev := s.find(key, h)
	live := false
	if i != 0 {
		e := s.ent(i)
		// A cached absence (TypeNone) is no value: Add may write over
		// it, Replace and CAS may not.
		live = (e.expires() == 0 || !expiredAt(e, now.get())) && e.typ() != TypeNone
		if live && o.Mode == ModeCAS && e.Version != o.Version {
			return WriteResult{}, ErrVersionMismatch
		}
	}
	switch {
	case o.Mode == ModeAdd && live:
		return WriteResult{}, ErrExists
	case (o.Mode == ModeReplace || o.Mode == ModeCAS) && !live:
		return WriteResult{}, ErrNotFound
	}
	need := uint32(unitsFor(len(key), len(value), flags != 0))
	payload := len(key) + len(value)
	if o.NoEvict {
		// Decide before changing anything: expired entries may go, live
		// ones may not, and the old entry must survive a refusal.
		s.mutating()
		s.expireTail(&now)
		s.clean()
		i, prev = s.find(key, h)
		if !s.fitsWithoutEviction(i, need, payload) {
			return WriteResult{}, ErrNoMemory
		}
	}
	s.mutating()
	if i != 0 {
		if e := s.ent(i); s.rewrite(i, e, h, value, t, flags, expires) {
			// The value fits where the old one was: no unlinking,
			// freeing, allocating or relinking.
			s.h.Stats.Sets++
			s.clean()
			return WriteResult{Version: e.Version}, nil
		}
		s.remove(i, prev, h)
	}
	pl, forcible := s.makeRoom(need, payload, &now)
	e := s.insert(pl, key, value, h, t, flags, expires)
	s.h.Stats.Sets++
	s.clean()
	return WriteResult{Version: e.Version, Forcible: forcible}, nil
}

// fitsWithoutEviction reports whether a new entry of need units contiguous
// and payload bytes fits once the old entry at old (0 if none) is removed,
// without evicting anything. It is exact for a contiguous fit and errs
// only towards "no" for a chain: the old entry's pieces are counted as
// runs of their own, not merged with their free neighbours.
func (s *shard) fitsWithoutEviction(old, need uint32, payload int) bool {
	entries, units, runs := int(s.h.Entries), int64(s.h.FreeUnits), int64(s.h.FreeRuns)
	big := s.lastClass() >= 4
	if old != 0 {
		e := s.ent(old)
		entries--
		n, pieces := s.units(old, e)
		units, runs = units+int64(n), runs+int64(pieces)
		if pieces == 1 {
			// Freed, it merges with the free runs on either side.
			merged := uint32(n)
			if s.isFree(old - 1) {
				merged += *s.footer(old-1, 1)
			}
			if end := old + uint32(n); s.isFree(end) {
				merged += s.run(end).Units
			}
			if merged >= need {
				return entries < s.g.maxEntries
			}
			big = big || n >= 4
		} else {
			_, first := s.chainOf(old, e)
			big = big || first >= 4
		}
	}
	if entries >= s.g.maxEntries {
		return false
	}
	if s.findRun(need) != 0 {
		return true
	}
	room := units*unitSize - runs*pieceHeaderSize - (entryHeaderSize + entryExtSize - pieceHeaderSize)
	return big && room >= int64(payload)
}

// probe reads one byte of every page of b, and its last, so that memory
// which would fault faults now (see Write).
func probe(b []byte) {
	var x byte
	for i := 0; i < len(b); i += 4096 {
		x ^= b[i]
	}
	if len(b) > 0 {
		x ^= b[len(b)-1]
	}
	runtime.KeepAlive(x)
}

// Delete removes the entry at key. It reports whether there was one (live
// or expired).
func (c *Cache) Delete(key []byte) (deleted bool, err error) {
	if err := c.checkKey(key); err != nil {
		return false, err
	}
	h := hashKey(key)
	s := c.shardFor(h)
	if err := s.begin(); err != nil {
		return false, err
	}
	defer s.end(&err)
	s.acquire()
	i, prev := s.find(key, h)
	if i == 0 {
		return false, nil
	}
	s.mutating()
	s.remove(i, prev, h)
	s.countChange(h) // a reader's copy of the key is out of date
	s.h.Stats.Deletes++
	s.clean()
	return true, nil
}
