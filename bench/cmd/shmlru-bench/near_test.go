package main

import (
	"strings"
	"testing"
	"time"
)

// What the section reads of INFO: CPU as user + sys, GET calls, all
// commands, the tracking table; a server that served no GET yet has no
// cmdstat_get line, and a reply without the CPU is an error.
func TestParseRedisInfo(t *testing.T) {
	info := "# CPU\r\nused_cpu_sys:1.250000\r\nused_cpu_user:0.500000\r\nused_cpu_sys_children:9.000000\r\n" +
		"used_cpu_sys_main_thread:1.000000\r\n\r\n# Commandstats\r\n" +
		"cmdstat_set:calls=7,usec=10,usec_per_call=1.43,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_get:calls=12345,usec=100,usec_per_call=0.01,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_getex:calls=99,usec=1\r\n\r\n# Stats\r\ntotal_commands_processed:20000\r\n" +
		"tracking_total_keys:10\r\ntracking_total_items:30\r\ntracking_total_prefixes:1\r\n"
	s, err := parseRedisInfo(info)
	if err != nil {
		t.Fatal(err)
	}
	if s.cpu() != 1.75 || s["cmdstat_get"] != 12345 || s["total_commands_processed"] != 20000 ||
		s["tracking_total_keys"] != 10 || s["tracking_total_items"] != 30 || s["tracking_total_prefixes"] != 1 {
		t.Errorf("got %v", s)
	}
	s, err = parseRedisInfo("used_cpu_sys:0.1\nused_cpu_user:0.2\ntotal_commands_processed:3\n")
	if err != nil || s["cmdstat_get"] != 0 || s["total_commands_processed"] != 3 {
		t.Errorf("no GETs yet: %+v, %v", s, err)
	}
	if _, err := parseRedisInfo("total_commands_processed:3\n"); err == nil {
		t.Error("INFO without the CPU parsed")
	}
}

// Connections are every CLIENT LIST line but the harness's own; tracking
// ones have t among their flags (not T, no-touch).
func TestCountClients(t *testing.T) {
	list := "id=3 addr=127.0.0.1:1 laddr=127.0.0.1:9 fd=8 name=shmlru-bench-admin age=1 idle=0 flags=N db=0 cmd=client|list resp=2\n" +
		"id=4 addr=127.0.0.1:2 laddr=127.0.0.1:9 fd=9 name=shmlru-bench-admin age=1 idle=0 flags=N db=0 cmd=set resp=2\n" +
		"id=5 addr=127.0.0.1:3 laddr=127.0.0.1:9 fd=10 name=shmlru-near-agent age=1 idle=0 flags=BtT db=0 cmd=ping resp=3\n" +
		"id=6 addr=127.0.0.1:4 laddr=127.0.0.1:9 fd=11 name= age=1 idle=0 flags=t db=0 cmd=exec resp=3\n" +
		"id=7 addr=127.0.0.1:5 laddr=127.0.0.1:9 fd=12 name= age=1 idle=0 flags=T db=0 cmd=get resp=3\n" +
		"id=8 addr=127.0.0.1:6 laddr=127.0.0.1:9 fd=13 name= age=1 idle=0 flags=N db=0 cmd=get resp=3\n"
	conns, tracking := countClients(list)
	if conns != 4 || tracking != 2 {
		t.Errorf("%d connections, %d tracking; want 4, 2", conns, tracking)
	}
	if c, tr := countClients(""); c != 0 || tr != 0 {
		t.Errorf("an empty list: %d, %d", c, tr)
	}
}

// A run sums its processes; wall time is from the first start to the
// last end; near's hit ratio is counted at Redis, rueidis's by rueidis.
func TestNearRunAdd(t *testing.T) {
	r := NearRun{Peer: nearShmlru}
	r.add([]nearReport{
		{nearCounts: nearCounts{Reads: 900, Writes: 100, Distinct: 50, HeapGrowth: 200, AnonGrowth: -5}, Start: 1000, End: 5000},
		{nearCounts: nearCounts{Reads: 1100, Writes: 0, Distinct: 60, failures: failures{2, "boom"}}, Start: 1500, End: 7000},
	})
	r.RedisGets = 200
	if r.Reads != 2000 || r.Writes != 100 || r.Distinct != 110 || r.HeapGrowth != 200 || r.AnonGrowth != -5 || r.WallNs != 6000 {
		t.Errorf("sums: %+v", r)
	}
	if r.Errors != 2 || r.Err != "boom" {
		t.Errorf("errors %d %q", r.Errors, r.Err)
	}
	if r.OwnOK {
		t.Error("own count ok with processes that did not read it")
	}
	if h := r.HitRatio(); h != 0.9 {
		t.Errorf("near hit ratio %v, want 0.9", h)
	}
	r.UsedBytes = 1234
	if r.CacheBytes() != 1234 {
		t.Errorf("near cache bytes %d", r.CacheBytes())
	}
	q := NearRun{Peer: nearRueidis}
	q.add([]nearReport{{nearCounts: nearCounts{Reads: 1000, Hits: 750, HeapGrowth: 1000, OwnBytes: 600, OwnKeys: 3}, OwnOK: true}})
	q.RedisGets = 260
	if q.HitRatio() != 0.75 || q.ServerHitRatio() != 0.74 || q.CacheBytes() != 1000 || !q.OwnOK || q.OwnBytes != 600 || q.OwnKeys != 3 {
		t.Errorf("rueidis: %+v, hit ratio %v / %v", q, q.HitRatio(), q.ServerHitRatio())
	}
	if (NearRun{}).HitRatio() != 0 {
		t.Error("a run without reads has a hit ratio")
	}
}

// nearFixture is what a near run returns: the hit comparison, and two
// process counts with both peers, two runs each.
func nearFixture() *Results {
	ns := func(xs ...float64) []Sample {
		var out []Sample
		for _, x := range xs {
			out = append(out, Sample{Ops: 1000, NsPerOp: x, Mallocs: 3000})
		}
		return out
	}
	run := func(n int, peer string, round int, gets, cpu float64, mem int64) NearRun {
		r := NearRun{Procs: n, Peer: peer, Round: round, nearCounts: nearCounts{Reads: 99000, Writes: 1000}, RedisGets: int64(gets),
			RedisCmds: int64(gets) + 1000, RedisCPU: cpu, Conns: 3 * n, TrackingConns: 1, WallNs: 1e9,
			TrackingPrefix: 1, Entries: 9000, Invalidations: 2000, Refused: 10, Loads: uint64(gets), Samples: 200}
		if peer == nearShmlru {
			r.UsedBytes = mem
		} else {
			r.Hits = 99000 - int64(gets)
			r.HeapGrowth, r.OwnBytes, r.OwnKeys, r.OwnOK = mem, mem*3/4, 9000, true
			r.RedisCmds = 5*int64(gets) + 1000
			r.TrackingConns, r.Conns, r.TrackingPrefix, r.Distinct = 2*n, 2*n, 0, 9000
		}
		return r
	}
	return &Results{Date: "now", Command: "make bench-near", Layout: 5, Elapsed: "50s", Dur: "200ms", Reps: 5,
		Machine: Machine{CPU: "AMD EPYC", Cores: 2, Redis: "Redis server v=7.0.15"},
		Near: &NearSection{nearLoad: nearLoad{Keys: 10000, ValueSize: 256, Ops: 50000, WriteFrac: 0.01, MaxTTL: time.Minute},
			RegionSize: 32 << 20, MaxLag: 500 * time.Millisecond, Rounds: 2,
			Hit: &NearHit{Size: "16B/32B", Keys: 1000, Near: ns(400, 500, 450), Redis: ns(100e3, 90e3, 95e3),
				Region: []Sample{{Ops: 10, Gets: 10, Hits: 10, NsPerOp: 250}, {Ops: 10, Gets: 10, Hits: 10, NsPerOp: 240}}},
			Runs: []NearRun{
				run(2, nearShmlru, 0, 9000, 0.2, 3<<20), run(2, nearRueidis, 0, 15000, 0.5, 12<<20),
				run(2, nearRueidis, 1, 15000, 0.6, 14<<20), run(2, nearShmlru, 1, 9000, 0.3, 3<<20),
				run(8, nearShmlru, 0, 14000, 0.5, 3<<20), run(8, nearRueidis, 0, 70000, 2.0, 48<<20),
				run(8, nearRueidis, 1, 70000, 2.0, 48<<20), run(8, nearShmlru, 1, 14000, 0.5, 3<<20),
			}}}
}

func TestNearTables(t *testing.T) {
	md := tablesOf(t, nearFixture(), "near")
	wantLines(t, md,
		"| `near.Client.Get` (hit) | 450 ns | 3 | 400 ns, 500 ns, 450 ns |",
		"| go-redis `GET` | 95.0 µs | 3 | 100.0 µs, 90.0 µs, 95.0 µs |",
		"| reference: the region's read, `Cache().GetTracked` | 250 ns | 0 | 250 ns, 240 ns |",
		"| checks | Redis GETs during the near rounds: 0; generations dropped: 0 |  |  |",
		"| 2 | shmlru (near, one region) | 0.9091 | 9000 | 10000 | 0.30 s | 1 (of 6) | 3.00 MiB | 1.00 s |",
		"| 2 | rueidis (a cache per process) | 0.8485 | 15000 | 76000 | 0.60 s | 4 (of 4) | 14.0 MiB (10.5 MiB) | 1.00 s |",
		"| 8 | rueidis (a cache per process) | 0.2929 | 70000 | 351000 | 2.00 s | 16 (of 16) | 48.0 MiB (36.0 MiB) | 1.00 s |",
		"| 2 | ×1.67 | ×7.60 | ×2.00 | ×4.00 | ×4.67 (×3.50) | ×1.67 | ×1.00 |",
		"| 8 | ×5.00 | ×23.4 | ×4.00 | ×16.0 | ×16.0 (×12.0) | ×5.00 | ×1.00 |")
	for _, want := range []string{
		"| 2 | shmlru (near, one region) | 1000 | 9000 · 2000 · 10 · 9000 | 0 of 200 samples | – |",
		"| 2 | rueidis (a cache per process) | 1000 | – | – | 9000 · 1631 B · 9000 |",
		"Every one of the 800000 operations of the 8 runs succeeded",
		"differ by at most 0.0000 in any run",
		"No near region evicted an entry and none dropped all its keys",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("near.md lacks %q", want)
		}
	}

	// A Get that went to Redis, failed operations and evictions are said.
	r := nearFixture()
	r.Near.Hit.NearRedisGets = 3
	r.Near.Runs[1].Errors, r.Near.Runs[1].Err = 2, "boom"
	r.Near.Runs[0].Evictions = 5
	r.Near.Runs[5].OwnOK = false
	md = tablesOf(t, r, "near")
	for _, want := range []string{
		"Redis GETs during the near rounds: 3",
		"**2 operations failed or read a wrong value** (the first: 2 processes, rueidis, run 0: boom).",
		"**The near regions evicted 5 entries**",
		"| 8 | rueidis (a cache per process) | 0.2929 | 70000 | 351000 | 2.00 s | 16 (of 16) | 48.0 MiB | 1.00 s |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("near.md lacks %q", want)
		}
	}
}
