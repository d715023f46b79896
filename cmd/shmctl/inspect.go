package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
)

var inspectCmd = &command{
	name:    "inspect",
	alias:   "info",
	summary: "geometry, fill, hit ratio, counters and a per-shard table",
	maxArgs: 0,
	desc: `Shows the cache's geometry, capacity, used and free value storage, entries,
fill, hit ratio, evictions, expirations, recoveries, and a table of every
shard with its lock state (and the lock's owner when it is held).
It changes nothing: no LRU order, no counter, and no repair. A shard whose
lock a process left when it died is shown as it is: "dead pid N" (or
"orphan" once any observer has come to it, which forgets the pid), "dirty"
if the process died in the middle of a change, and "awaiting repair"; the
summary's "repair" line says what 'shmctl check --repair' would do.`,
	example: `shmctl -r myapp inspect
SHMLRU_REGION=/dev/shm/myapp shmctl info --json | jq .hit_ratio`,
	setup: func(fs *flag.FlagSet) runner {
		asJSON := jsonFlag(fs)
		return func(e *env, _ []string) error {
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			rep, err := gather(c, true)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(e.stdout, rep)
			}
			if err := writeSummary(e.stdout, rep); err != nil {
				return err
			}
			fmt.Fprintln(e.stdout)
			return writeShardTable(e.stdout, rep)
		}
	},
}

// writeSummary prints the cache-wide part of inspect (and of each watch frame).
func writeSummary(w io.Writer, r *report) error {
	g := r.Geometry
	c := r.Counters
	age := r.Time.Sub(r.CreatedAt)
	entries := strconv.Itoa(r.Entries)
	switch {
	case r.Expired > 0:
		entries += fmt.Sprintf(" (%d expired, not yet removed)", r.Expired)
	case r.ShardsAwaitingRepair > 0 && r.ExpiredError != "":
		entries += " (expired ones not counted: a shard awaits repair)"
	case r.ExpiredError != "":
		entries += " (expired ones not counted: " + r.ExpiredError + ")"
	}
	t := newTable()
	t.add("region", r.Region)
	t.add("created", fmt.Sprintf("%s (%s ago)", r.CreatedAt.Format("2006-01-02 15:04:05 MST"), humanDuration(age)))
	t.add("attached", plural(r.Attached, "other process", "other processes"))
	t.add("geometry", fmt.Sprintf("%d shards x %s of entry storage, %d buckets/shard",
		g.Shards, humanBytes(int64(g.HeapPerShard)), g.BucketsPerShard))
	t.add("limits", fmt.Sprintf("%d entries, key %s, value %s", g.MaxEntries, humanBytes(int64(g.MaxKey)), humanBytes(int64(g.MaxValue))))
	t.add("capacity", fmt.Sprintf("%s (value storage %s)", humanBytes(r.CapacityBytes), humanBytes(r.StorageBytes)))
	t.add("used", fmt.Sprintf("%s (fill %s)", humanBytes(r.UsedBytes), percent(r.Fill)))
	t.add("free", humanBytes(r.FreeBytes))
	t.add("entries", entries)
	t.add("hit ratio", fmt.Sprintf("%s (%d hits, %d misses)", percent(r.HitRatio), c.Hits, c.Misses))
	t.add("sets", fmt.Sprintf("%d (%d deletes)", c.Sets, c.Deletes))
	t.add("evictions", strconv.FormatUint(c.Evictions, 10))
	t.add("expirations", strconv.FormatUint(c.Expirations, 10))
	t.add("recoveries", fmt.Sprintf("%d (%d shard resets)", c.Recoveries, c.Resets))
	t.add("oldest entry", "n/a (the layout records no insertion times)")
	t.add("locks", locksSummary(r))
	if s := repairSummary(r); s != "" {
		t.add("repair", s)
	}
	return t.write(w)
}

// locksSummary counts held locks for the summary line.
func locksSummary(r *report) string {
	held, dead := 0, 0
	for _, s := range r.Shards {
		if s.Lock.Held {
			held++
			if s.Lock.awaitsRepair() {
				dead++
			}
		}
	}
	s := fmt.Sprintf("%d of %d held", held, len(r.Shards))
	if dead > 0 {
		s += fmt.Sprintf(", %d left by a dead process, not repaired", dead)
	}
	return s
}

// writeShardTable prints one row per shard.
func writeShardTable(w io.Writer, r *report) error {
	t := newTable("SHARD", ">ENTRIES", ">USED", ">FREE", ">FILL", ">HITS", ">MISSES", ">HIT%",
		">SETS", ">DELETES", ">EVICTED", ">EXPIRED", ">RECOVERED", ">RESETS", "LOCK")
	for _, s := range r.Shards {
		c := s.Counters
		u := func(v uint64) string { return strconv.FormatUint(v, 10) }
		t.add(strconv.Itoa(s.Shard), strconv.Itoa(s.Entries),
			humanBytes(s.UsedBytes), humanBytes(s.FreeBytes), percent(s.Fill),
			u(c.Hits), u(c.Misses), percent(s.HitRatio), u(c.Sets), u(c.Deletes),
			u(c.Evictions), u(c.Expirations), u(c.Recoveries), u(c.Resets), lockState(s.Lock, s.Dirty))
	}
	return t.write(w)
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
