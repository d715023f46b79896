package lru

// Eviction: how a write finds room. Expired entries near the LRU tail go
// first, then live ones from the tail, one at a time, only until the new
// entry fits. A tail entry that a read marked since it last came to the head
// is moved to the head instead, its mark cleared (its second chance; see
// refs.go), at most maxSecondChances times per write, so that readers
// marking entries as fast as eviction clears them cannot hold a write up.
// The new entry fits contiguously if a free run is long enough, otherwise as a
// chain of pieces over the free runs (storage.go). So a write never fails
// for want of a contiguous run, and it evicts no more than the space it is
// missing plus, at most, the rest of the last entry evicted (a piece
// header of 8 bytes per free run is counted as missing space).

// expiredAt reports whether entry e has expired at now (Unix ms).
func expiredAt(e *entry, now int64) bool {
	x := e.expires()
	return x != 0 && x <= now
}

// expireScan is how many entries from the LRU tail a write that needs room
// looks at for expired ones before it evicts live ones.
const expireScan = 8

// expireTail removes expired entries among the expireScan least recently
// used ones. It looks only if some entry of the shard has a deadline.
func (s *shard) expireTail(now *lazyNow) {
	if s.h.Ttls == 0 {
		return
	}
	u := s.h.Tail
	for k := 0; k < expireScan && u != 0; k++ {
		e := s.ent(u)
		prev := e.Prev
		if e.expires() != 0 && expiredAt(e, now.get()) {
			s.removeEntry(u)
			s.h.Stats.Expirations++
		}
		u = prev
	}
}

// maxSecondChances bounds the marked entries one write moves to the head
// before it evicts the tail whether marked or not.
const maxSecondChances = 64

// makeRoom takes the storage for a new entry of need units contiguous (see
// unitsFor) and payload bytes of key and value, evicting as it must. It
// reports whether a live entry was evicted. The caller has marked the shard
// dirty.
func (s *shard) makeRoom(need uint32, payload int, now *lazyNow) (pl placement, forcible bool) {
	chances := 0
	for round := 0; ; round++ {
		if int(s.h.Entries) < s.g.maxEntries && s.h.FreeUnits >= need {
			if u := s.findRun(need); u != 0 {
				return placement{u: s.cut(u, need), units: need}, forcible
			}
			if s.chainFits(payload) {
				return s.allocChain(need, payload), forcible
			}
		}
		if round == 0 {
			s.expireTail(now)
			continue
		}
		if round > s.g.maxEntries+maxSecondChances+1 {
			// Each eviction frees at least three units: more rounds
			// than entries and second chances means the counts are
			// corrupt.
			s.corrupt("evicted every entry and still no room: counts are inconsistent")
		}
		t := s.h.Tail
		if t == 0 {
			s.corrupt("no entry to evict but only %d free units for %d", s.h.FreeUnits, need)
		}
		e := s.ent(t)
		switch {
		case e.expires() != 0 && expiredAt(e, now.get()):
			s.h.Stats.Expirations++
		case chances < maxSecondChances && s.h.Head != t && s.takeRef(t):
			chances++
			s.touch(t, e)
			continue
		default:
			s.h.Stats.Evictions++
			forcible = true
		}
		s.removeEntry(t)
	}
}
