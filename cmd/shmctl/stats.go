package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
)

var statsCmd = &command{
	name:    "stats",
	summary: "the counters, as text, JSON or Prometheus exposition format",
	maxArgs: 0,
	desc: `Prints the event counters of every shard and of the whole cache: hits,
misses, sets, deletes, evictions, expirations, recoveries, resets, with
entries and fill. --format prometheus writes the Prometheus text exposition
format, for a node-exporter textfile collector or a sidecar to scrape.
It changes nothing: no LRU order, no counter, and no repair. A shard whose
lock a process left when it died is named on a "repair:" line after the
table (in JSON: awaiting_repair, dirty and the lock's state; in Prometheus:
shmlru_shard_awaiting_repair and shmlru_shard_dirty).`,
	example: `shmctl -r myapp stats
shmctl -r myapp stats --format prometheus > /var/lib/node_exporter/shmlru.prom.$$ && mv /var/lib/node_exporter/shmlru.prom.$$ /var/lib/node_exporter/shmlru.prom`,
	setup: func(fs *flag.FlagSet) runner {
		format := fs.String("format", "text", "output `FORMAT`: text, json or prometheus")
		asJSON := jsonFlag(fs)
		return func(e *env, _ []string) error {
			if *asJSON {
				*format = "json"
			}
			if *format != "text" && *format != "json" && *format != "prometheus" {
				return usagef("--format %q: use text, json or prometheus", *format)
			}
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			rep, err := gather(c, false)
			if err != nil {
				return err
			}
			switch *format {
			case "json":
				return writeJSON(e.stdout, statsJSON(rep))
			case "prometheus":
				return writePrometheus(e.stdout, rep)
			}
			return writeStatsText(e.stdout, rep)
		}
	},
}

// statsDoc is stats' JSON output.
type statsDoc struct {
	Region               string       `json:"region"`
	Entries              int          `json:"entries"`
	HitRatio             float64      `json:"hit_ratio"`
	Total                countersJSON `json:"total"`
	ShardsAwaitingRepair int          `json:"shards_awaiting_repair"`
	Shards               []shardJSON  `json:"shards"`
}

func statsJSON(r *report) statsDoc {
	return statsDoc{r.Region, r.Entries, r.HitRatio, r.Counters, r.ShardsAwaitingRepair, r.Shards}
}

// writeStatsText prints the counters as a table, one row per shard and a
// total row.
func writeStatsText(w io.Writer, r *report) error {
	t := newTable("SHARD", ">ENTRIES", ">FILL", ">HITS", ">MISSES", ">HIT%", ">SETS", ">DELETES",
		">EVICTIONS", ">EXPIRATIONS", ">RECOVERIES", ">RESETS")
	row := func(name string, entries int, fill, hr float64, c countersJSON) {
		u := func(v uint64) string { return strconv.FormatUint(v, 10) }
		t.add(name, strconv.Itoa(entries), percent(fill), u(c.Hits), u(c.Misses), percent(hr),
			u(c.Sets), u(c.Deletes), u(c.Evictions), u(c.Expirations), u(c.Recoveries), u(c.Resets))
	}
	for _, s := range r.Shards {
		row(strconv.Itoa(s.Shard), s.Entries, s.Fill, s.HitRatio, s.Counters)
	}
	row("total", r.Entries, r.Fill, r.HitRatio, r.Counters)
	if _, err := fmt.Fprintf(w, "%s\n", r.Region); err != nil {
		return err
	}
	if err := t.write(w); err != nil {
		return err
	}
	if s := repairSummary(r); s != "" {
		_, err := fmt.Fprintf(w, "repair: %s\n", s)
		return err
	}
	return nil
}
