package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// report is everything inspect, watch and stats show about a cache, read
// without changing it (Stats and Range only take each shard's lock).
type report struct {
	Region    string    `json:"region"`
	CreatedAt time.Time `json:"created_at"`
	// Attached counts the other processes attached to the region (shmctl's
	// own attachment excluded).
	Attached int          `json:"attached_processes"`
	Geometry geometryJSON `json:"geometry"`

	CapacityBytes int64   `json:"capacity_bytes"` // the region file's size
	StorageBytes  int64   `json:"storage_bytes"`  // value storage: used + free
	UsedBytes     int64   `json:"used_bytes"`
	FreeBytes     int64   `json:"free_bytes"`
	Fill          float64 `json:"fill"` // used / storage
	Entries       int     `json:"entries"`
	// Expired counts entries past their TTL that no write has removed yet
	// (-1 when not counted).
	Expired int `json:"expired_entries"`
	// ExpiredError says why the expired entries could not be counted: a
	// shard that a dead process left half changed, or corrupt, cannot be
	// walked until it is repaired.
	ExpiredError string       `json:"expired_error,omitempty"`
	HitRatio     float64      `json:"hit_ratio"`
	Counters     countersJSON `json:"counters"`
	// ShardsAwaitingRepair counts the shards whose lock a process left
	// when it died (see shardJSON.AwaitingRepair).
	ShardsAwaitingRepair int `json:"shards_awaiting_repair"`
	// OldestAgeSeconds is always null: the layout records no insertion or
	// access times, so an entry's age cannot be derived.
	OldestAgeSeconds *float64    `json:"oldest_entry_age_seconds"`
	Shards           []shardJSON `json:"shards"`
	Time             time.Time   `json:"time"`
}

type geometryJSON struct {
	SizeBytes       int64 `json:"size_bytes"`
	Shards          int   `json:"shards"`
	HeapPerShard    int   `json:"heap_bytes_per_shard"`
	BucketsPerShard int   `json:"buckets_per_shard"`
	MaxEntries      int   `json:"max_entries"`
	MaxKey          int   `json:"max_key_bytes"`
	MaxValue        int   `json:"max_value_bytes"`
}

type countersJSON struct {
	Hits        uint64 `json:"hits"`
	Misses      uint64 `json:"misses"`
	Sets        uint64 `json:"sets"`
	Deletes     uint64 `json:"deletes"`
	Evictions   uint64 `json:"evictions"`
	Expirations uint64 `json:"expirations"`
	Recoveries  uint64 `json:"recoveries"`
	Resets      uint64 `json:"resets"`
}

type shardJSON struct {
	Shard     int          `json:"shard"`
	Entries   int          `json:"entries"`
	UsedBytes int64        `json:"used_bytes"`
	FreeBytes int64        `json:"free_bytes"`
	FreeRuns  int          `json:"free_runs"` // many small runs: the free space is fragmented
	Chained   int          `json:"chained"`   // entries stored in pieces for want of a long enough run
	Fill      float64      `json:"fill"`
	HitRatio  float64      `json:"hit_ratio"`
	Counters  countersJSON `json:"counters"`
	Lock      lockJSON     `json:"lock"`
	// AwaitingRepair: the lock was left by a process that died (its state
	// is "dead" or "orphan"), and nobody has repaired the shard since. The
	// next write to the shard, or shmctl check --repair, does.
	AwaitingRepair bool `json:"awaiting_repair"`
	// Dirty: that process died in the middle of a change; the repair
	// resets the shard (its entries are lost, no other shard's).
	Dirty bool `json:"dirty"`
}

// lockJSON is a shard's lock as Stats came to it.
type lockJSON struct {
	// State is "free"; "held" by a live process; "dead": held by a process
	// that died, not repaired; or "orphan": a dead owner's lock that an
	// observer (shmctl's inspect, stats, check ...) already came to and
	// handed back for the next writer to repair; which process died is
	// then no longer known.
	State  string `json:"state"`
	Held   bool   `json:"held"`
	Slot   *int   `json:"slot,omitempty"` // the owner's process slot, when known
	Pid    int    `json:"pid,omitempty"`  // the owner's pid in its own pid namespace, when known
	Alive  bool   `json:"alive"`
	Orphan bool   `json:"orphan,omitempty"`
}

// Lock states (lockJSON.State).
const (
	lockFree   = "free"
	lockHeld   = "held"
	lockDead   = "dead"
	lockOrphan = "orphan"
)

// lockOf describes the owner Stats reported.
func lockOf(o shm.Owner) lockJSON {
	l := lockJSON{State: lockFree, Held: o.Held, Pid: o.Pid, Alive: o.Alive, Orphan: o.Orphan}
	switch {
	case !o.Held:
		return l
	case o.Orphan:
		l.State = lockOrphan
		return l
	case o.Alive:
		l.State = lockHeld
	default:
		l.State = lockDead
	}
	if o.Slot >= 0 {
		slot := o.Slot
		l.Slot = &slot
	}
	return l
}

// awaitsRepair: the lock is held by no one alive.
func (l lockJSON) awaitsRepair() bool { return l.Held && !l.Alive }

func counters(c lru.Counters) countersJSON {
	return countersJSON{c.Hits, c.Misses, c.Sets, c.Deletes, c.Evictions, c.Expirations, c.Recoveries, c.Resets}
}

// gather reads the cache's report. countExpired walks every shard's LRU
// queue to count expired entries (a read, but a longer one).
func gather(c *lru.Cache, countExpired bool) (*report, error) {
	st, err := c.Stats()
	if err != nil {
		return nil, err
	}
	g := c.Geometry()
	r := c.Binding().Region()
	attached, err := r.Attached()
	if err != nil {
		return nil, err
	}
	rep := &report{
		Region:    r.Path(),
		CreatedAt: r.CreatedAt(),
		Attached:  max(attached-1, 0),
		Geometry: geometryJSON{g.Size, g.Shards, g.HeapPerShard,
			g.BucketsPerShard, g.MaxEntries, g.MaxKey, g.MaxValue},
		CapacityBytes: c.Capacity(),
		StorageBytes:  st.UsedBytes + st.FreeBytes,
		UsedBytes:     st.UsedBytes,
		FreeBytes:     st.FreeBytes,
		Fill:          ratio(st.UsedBytes, st.UsedBytes+st.FreeBytes),
		Entries:       st.Entries,
		Expired:       -1,
		HitRatio:      st.HitRatio(),
		Counters:      counters(st.Counters),
		Time:          time.Now(),
	}
	for i, s := range st.Shards {
		sj := shardJSON{
			Shard:     i,
			Entries:   s.Entries,
			UsedBytes: s.UsedBytes,
			FreeBytes: s.FreeBytes,
			FreeRuns:  s.FreeRuns,
			Chained:   s.Chained,
			Fill:      ratio(s.UsedBytes, s.UsedBytes+s.FreeBytes),
			HitRatio:  s.HitRatio(),
			Counters:  counters(s.Counters),
			Lock:      lockOf(s.Lock),
			Dirty:     s.Dirty,
		}
		sj.AwaitingRepair = sj.Lock.awaitsRepair() || s.Dirty
		if sj.AwaitingRepair {
			rep.ShardsAwaitingRepair++
		}
		rep.Shards = append(rep.Shards, sj)
	}
	if countExpired {
		now := time.Now()
		n := 0
		err := c.Range(func(_ []byte, m lru.Meta, _ int) bool {
			if m.Expires != 0 && m.TTL(now) <= 0 {
				n++
			}
			return true
		}, true)
		switch {
		case errors.Is(err, lru.ErrCorrupt):
			// A shard left half changed (or corrupt) is not walked until
			// it is repaired; the rest of the report stands.
			rep.ExpiredError = strings.TrimPrefix(err.Error(), lru.ErrCorrupt.Error()+": ")
		case err != nil:
			return nil, err
		default:
			rep.Expired = n
		}
	}
	return rep, nil
}

// lockState describes a shard's lock for people: who holds it, and whether
// the shard waits for a repair.
func lockState(l lockJSON, dirty bool) string {
	var s string
	switch l.State {
	case lockFree:
		s = "free"
	case lockHeld:
		return "held by pid " + strconv.Itoa(l.Pid)
	case lockDead:
		s = "dead pid " + strconv.Itoa(l.Pid)
	default:
		s = "orphan"
	}
	if dirty {
		s += ", dirty"
	}
	if l.awaitsRepair() || dirty {
		s += ", awaiting repair"
	}
	return s
}

// repairSummary says which shards wait for a repair and what it will do,
// "" if none does.
func repairSummary(r *report) string {
	var waiting []string
	for _, s := range r.Shards {
		switch {
		case s.Dirty:
			waiting = append(waiting, strconv.Itoa(s.Shard)+" (dirty: mid-change; its repair resets it and its entries are lost)")
		case s.AwaitingRepair:
			waiting = append(waiting, strconv.Itoa(s.Shard))
		}
	}
	switch len(waiting) {
	case 0:
		return ""
	case 1:
		return "shard " + waiting[0] + " left locked by a process that died; 'shmctl check --repair' repairs it, as would the next write to it"
	}
	return "shards " + strings.Join(waiting, ", ") + " left locked by processes that died; 'shmctl check --repair' repairs them, as would the next write to each"
}
