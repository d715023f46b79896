package lru

import (
	"fmt"
)

// Repair of a shard whose owner died in a touch (see shard.touch): the
// bucket chains and the heap are intact, only the LRU queue may be half
// relinked. Both functions run with the lock held, after a takeover.

// lruIntact reports whether the LRU queue is whole: a bounded walk from the
// head with consistent back links that ends at the tail and meets every
// entry once.
func (s *shard) lruIntact() bool {
	n := 0
	var prev uint32
	for i := s.h.Head; i != 0; n++ {
		if n >= int(s.h.Entries) || int(i) >= s.g.nunits {
			return false
		}
		e := s.ent(i)
		if e.Prev != prev {
			return false
		}
		prev, i = i, e.Next
	}
	return n == int(s.h.Entries) && s.h.Tail == prev
}

// repairLRU rebuilds the LRU queue from the bucket chains, keeping the
// order of the part still reachable from the head and putting the entries
// it lost behind it. If the bucket chains do not account for every entry,
// the shard is reset instead.
func (s *shard) repairLRU() {
	s.mutating()
	defer s.clean()
	inChain := newBitset(s.g.nunits)
	var all []uint32
	for b := range s.buckets {
		for i, n := s.buckets[b], 0; i != 0; n++ {
			if int(i) >= s.g.nunits || inChain.has(i) || n > s.g.maxEntries {
				s.resetCounted()
				return
			}
			inChain.add(i)
			all = append(all, i)
			i = s.ent(i).Hnext
		}
	}
	if len(all) != int(s.h.Entries) {
		s.resetCounted()
		return
	}
	order := make([]uint32, 0, len(all))
	placed := newBitset(s.g.nunits)
	for i := s.h.Head; i != 0 && int(i) < s.g.nunits && inChain.has(i) && !placed.has(i); i = s.ent(i).Next {
		placed.add(i)
		order = append(order, i)
	}
	for _, i := range all {
		if !placed.has(i) {
			order = append(order, i)
		}
	}
	s.h.Head, s.h.Tail = 0, 0
	for k := len(order) - 1; k >= 0; k-- {
		s.pushHead(order[k], s.ent(order[k]))
	}
}

// Repair does, on request, what the next write to each shard would do: it
// takes over every lock whose owner died, resetting a shard left mid-change
// or rebuilding an LRU queue left half relinked, and then resets any shard
// in which Check still finds a problem. It returns one line per shard it
// repaired, saying what it found and what it did; none if all was well.
// Other processes go on using the cache meanwhile.
func (c *Cache) Repair() ([]Problem, error) {
	var done []Problem
	for si := range c.shards {
		s := &c.shards[si]
		if err := s.repairShard(&done); err != nil {
			return done, err
		}
	}
	return done, nil
}

func (s *shard) repairShard(done *[]Problem) error {
	return s.withLock(lockChange|lockAskOwner, func() error {
		owner := s.heldBy
		say := func(format string, args ...any) {
			*done = append(*done, Problem{s.idx, fmt.Sprintf(format, args...)})
		}
		switch s.did {
		case repairedReset:
			say("lock held by %s, which died mid-change: took the lock over and reset the shard (its entries are lost)", deadOwner(owner))
		case repairedQueue:
			say("lock held by %s, which died while moving an entry: took the lock over and rebuilt the LRU queue from the bucket chains (no entry lost)", deadOwner(owner))
		case repairedNothing:
			say("lock held by %s, which died: took the lock over; the shard was whole", deadOwner(owner))
		}
		if ps := s.check(); len(ps) > 0 {
			lost := int(s.h.Entries)
			s.mutating()
			s.resetCounted()
			say("%d problem(s), the first %q: reset the shard (%d entries lost)", len(ps), ps[0].Msg, lost)
		}
		return nil
	})
}
