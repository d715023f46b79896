package lru

import "github.com/shmlru/shmlru/shm"

func (a *Counters) add(b *Counters) {
	a.Hits += b.Hits
	a.Misses += b.Misses
	a.Sets += b.Sets
	a.Deletes += b.Deletes
	a.Evictions += b.Evictions
	a.Expirations += b.Expirations
	a.Recoveries += b.Recoveries
	a.Resets += b.Resets
}

// countersOf is a shard's write-side counts as Stats reports them.
func countersOf(sc *shardCounters) Counters {
	return Counters{Sets: sc.Sets, Deletes: sc.Deletes, Evictions: sc.Evictions, Expirations: sc.Expirations, Recoveries: sc.Recoveries, Resets: sc.Resets}
}

// ShardStats describe one shard. With more than 64 shards, hits and misses
// are counted per group of shards, not per shard (see counters.go): a
// shard's Hits and Misses are then 0, and only Stats' totals count them.
type ShardStats struct {
	Counters
	Entries   int
	Chained   int   // entries stored in pieces, for want of a free run long enough
	UsedBytes int64 // of the shard's heap
	FreeBytes int64
	FreeRuns  int       // free runs the free bytes are in: many small ones mean fragmentation
	Lock      shm.Owner // who held the lock as Stats came to it
	// Dirty: the lock's owner died in the middle of a change, and the
	// shard waits for the next write (or Repair) to reset it.
	Dirty bool
}

// Stats describe the whole cache.
type Stats struct {
	Counters
	Entries   int
	Chained   int   // entries stored in pieces
	UsedBytes int64 // bytes of the heaps in entries
	FreeBytes int64
	Shards    []ShardStats
}

// HitRatio is hits / (hits + misses), 0 with no lookups.
func (c Counters) HitRatio() float64 {
	if c.Hits+c.Misses == 0 {
		return 0
	}
	return float64(c.Hits) / float64(c.Hits+c.Misses)
}

// Stats reads every shard's counters and fill, each under its lock. It
// changes nothing: a lock whose owner died is reported (Lock, Dirty), not
// taken over for good.
func (c *Cache) Stats() (Stats, error) {
	st := Stats{Shards: make([]ShardStats, len(c.shards))}
	for si := range c.shards {
		s := &c.shards[si]
		ss := &st.Shards[si]
		if err := s.statsOf(ss); err != nil {
			return st, err
		}
		st.Counters.add(&ss.Counters)
		st.Entries += ss.Entries
		st.Chained += ss.Chained
		st.UsedBytes += ss.UsedBytes
		st.FreeBytes += ss.FreeBytes
	}
	if c.g.shards > c.g.lanes { // not in the shards' figures: sum the lanes
		if err := c.r.Guard(func() {
			for lane := range c.g.lanes {
				h, m := c.laneReads(lane)
				st.Hits += h
				st.Misses += m
			}
		}); err != nil {
			return st, err
		}
	}
	return st, nil
}

// statsOf fills ss, reading the lock's owner before taking the lock.
func (s *shard) statsOf(ss *ShardStats) error {
	return s.withLock(lockObserve|lockAskOwner, func() error {
		ss.Lock = s.heldBy
		ss.Dirty = s.leftDirty
		ss.Counters = countersOf(&s.h.Stats)
		if s.g.shards <= s.g.lanes {
			ss.Hits, ss.Misses = s.c.laneReads(s.idx)
		}
		ss.Entries = int(s.h.Entries)
		ss.Chained = int(s.h.Chained)
		ss.FreeBytes = int64(s.h.FreeUnits) * unitSize
		ss.UsedBytes = int64(s.g.nunits-1)*unitSize - ss.FreeBytes
		ss.FreeRuns = int(s.h.FreeRuns)
		return nil
	})
}

// lockOwner describes who holds the shard's lock, with the pid of the dead
// owner that an orphan stands for.
func (s *shard) lockOwner() (shm.Owner, error) {
	o, err := s.c.r.LockOwner(&s.h.Lock)
	if o.Orphan {
		o.Pid = int(s.h.DeadPid)
	}
	return o, err
}
