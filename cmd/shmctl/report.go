package main

import (
	"strconv"
	"time"

	"github.com/shmlru/shmlru/lru"
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
	Expired  int          `json:"expired_entries"`
	HitRatio float64      `json:"hit_ratio"`
	Counters countersJSON `json:"counters"`
	// OldestAgeSeconds is always null: the layout records no insertion or
	// access times, so an entry's age cannot be derived.
	OldestAgeSeconds *float64    `json:"oldest_entry_age_seconds"`
	Shards           []shardJSON `json:"shards"`
	Time             time.Time   `json:"time"`
}

type geometryJSON struct {
	SizeBytes       int64 `json:"size_bytes"`
	Shards          int   `json:"shards"`
	BlockSize       int   `json:"block_size"`
	BlocksPerShard  int   `json:"blocks_per_shard"`
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
	Shard      int          `json:"shard"`
	Entries    int          `json:"entries"`
	UsedBlocks int          `json:"used_blocks"`
	FreeBlocks int          `json:"free_blocks"`
	Fill       float64      `json:"fill"`
	HitRatio   float64      `json:"hit_ratio"`
	Counters   countersJSON `json:"counters"`
	Lock       lockJSON     `json:"lock"`
}

type lockJSON struct {
	Held  bool `json:"held"`
	Slot  int  `json:"slot,omitempty"`
	Pid   int  `json:"pid,omitempty"`
	Alive bool `json:"alive,omitempty"`
}

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
	r := c.Region()
	attached, err := r.Attached()
	if err != nil {
		return nil, err
	}
	rep := &report{
		Region:    r.Path(),
		CreatedAt: r.CreatedAt(),
		Attached:  max(attached-1, 0),
		Geometry: geometryJSON{g.Size, g.Shards, g.BlockSize, g.BlocksPerShard,
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
		rep.Shards = append(rep.Shards, shardJSON{
			Shard:      i,
			Entries:    s.Entries,
			UsedBlocks: s.UsedBlocks,
			FreeBlocks: s.FreeBlocks,
			Fill:       ratio(int64(s.UsedBlocks), int64(s.UsedBlocks+s.FreeBlocks)),
			HitRatio:   s.HitRatio(),
			Counters:   counters(s.Counters),
			Lock:       lockJSON{s.Lock.Held, s.Lock.Slot, s.Lock.Pid, s.Lock.Alive},
		})
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
		if err != nil {
			return nil, err
		}
		rep.Expired = n
	}
	return rep, nil
}

// lockState describes a shard's lock for people.
func lockState(l lockJSON) string {
	switch {
	case !l.Held:
		return "free"
	case l.Alive:
		return "held by pid " + strconv.Itoa(l.Pid)
	}
	return "held by dead pid " + strconv.Itoa(l.Pid) + " (next locker recovers it)"
}
