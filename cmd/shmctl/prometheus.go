package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The Prometheus text exposition format (version 0.0.4): for each metric
// family a "# HELP" and a "# TYPE" line, then its samples, one per line:
//
//	shmlru_hits_total{region="/dev/shm/app",shard="0"} 1234
//
// Counters are per shard only: sum(shmlru_hits_total) is the cache's total,
// and an unlabelled total in the same family would be counted twice by such
// a sum. Every sample carries the region label so that one collector can
// export several caches.

// promFamily is one metric family being written.
type promFamily struct {
	name, help, typ string
	samples         []promSample
}

type promSample struct {
	labels string // rendered, without braces
	value  float64
}

// writePrometheus writes the report in the exposition format.
func writePrometheus(w io.Writer, r *report) error {
	region := `region="` + promEscapeLabel(r.Region) + `"`
	shardLabel := func(i int) string { return region + `,shard="` + strconv.Itoa(i) + `"` }
	var fams []promFamily
	gauge := func(name, help string, v float64) {
		fams = append(fams, promFamily{name, help, "gauge", []promSample{{region, v}}})
	}
	perShard := func(name, help, typ string, get func(s shardJSON) float64) {
		f := promFamily{name: name, help: help, typ: typ}
		for _, s := range r.Shards {
			f.samples = append(f.samples, promSample{shardLabel(s.Shard), get(s)})
		}
		fams = append(fams, f)
	}
	counter := func(name, help string, get func(c countersJSON) uint64) {
		perShard("shmlru_"+name+"_total", help, "counter", func(s shardJSON) float64 { return float64(get(s.Counters)) })
	}
	counter("hits", "Lookups that found a live entry.", func(c countersJSON) uint64 { return c.Hits })
	counter("misses", "Lookups that found no live entry.", func(c countersJSON) uint64 { return c.Misses })
	counter("sets", "Entries written (set, add, replace, cas, incr).", func(c countersJSON) uint64 { return c.Sets })
	counter("deletes", "Entries deleted.", func(c countersJSON) uint64 { return c.Deletes })
	counter("evictions", "Live entries evicted to make room.", func(c countersJSON) uint64 { return c.Evictions })
	counter("expirations", "Expired entries removed.", func(c countersJSON) uint64 { return c.Expirations })
	counter("recoveries", "Shard locks taken over from a dead process.", func(c countersJSON) uint64 { return c.Recoveries })
	counter("resets", "Shard resets after a dead owner or corruption.", func(c countersJSON) uint64 { return c.Resets })
	perShard("shmlru_shard_entries", "Entries in the shard, expired ones not yet removed included.", "gauge",
		func(s shardJSON) float64 { return float64(s.Entries) })
	perShard("shmlru_shard_used_bytes", "Bytes of value storage in use in the shard.", "gauge",
		func(s shardJSON) float64 { return float64(s.UsedBytes) })
	perShard("shmlru_shard_lock_held", "1 if the shard's lock was held when read.", "gauge",
		func(s shardJSON) float64 { return b2f(s.Lock.Held) })
	perShard("shmlru_shard_awaiting_repair", "1 if a process died holding the shard's lock and nobody has repaired the shard since (the next write to it, or shmctl check --repair, does).", "gauge",
		func(s shardJSON) float64 { return b2f(s.AwaitingRepair) })
	perShard("shmlru_shard_dirty", "1 if that process died in the middle of a change: the repair resets the shard.", "gauge",
		func(s shardJSON) float64 { return b2f(s.Dirty) })
	gauge("shmlru_entries", "Entries in the cache, expired ones not yet removed included.", float64(r.Entries))
	gauge("shmlru_capacity_bytes", "Size of the region file.", float64(r.CapacityBytes))
	gauge("shmlru_storage_bytes", "Bytes of value storage (used plus free).", float64(r.StorageBytes))
	gauge("shmlru_used_bytes", "Bytes of value storage in use.", float64(r.UsedBytes))
	gauge("shmlru_free_bytes", "Bytes of value storage free.", float64(r.FreeBytes))
	gauge("shmlru_max_entries", "Most entries the cache can hold.", float64(r.Geometry.MaxEntries))
	gauge("shmlru_shards", "Number of shards.", float64(r.Geometry.Shards))
	gauge("shmlru_attached_processes", "Processes attached to the region, the exporter excluded.", float64(r.Attached))
	gauge("shmlru_created_timestamp_seconds", "When the region was created, Unix seconds.", float64(r.CreatedAt.UnixNano())/1e9)

	var b strings.Builder
	for _, f := range fams {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, promEscapeHelp(f.help), f.name, f.typ)
		for _, s := range f.samples {
			fmt.Fprintf(&b, "%s{%s} %s\n", f.name, s.labels, strconv.FormatFloat(s.value, 'g', -1, 64))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// promEscapeLabel escapes a label value: backslash, double quote, newline.
func promEscapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// promEscapeHelp escapes HELP text: backslash and newline.
func promEscapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
