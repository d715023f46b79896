// Command shmctl inspects and manages a shmlru cache (see package lru) while
// the processes that use it keep running: it maps the same region, takes
// each shard's lock only as long as any client would, and its read
// subcommands change nothing, neither the LRU order nor the counters, and
// repair nothing: a shard that a process left locked (or half changed)
// when it died is shown as it is until 'check --repair' or the next write
// to it repairs it.
//
// Usage:
//
//	shmctl [-r PATH|NAME] SUBCOMMAND [flags] [args]
//
// The region is given by -r/--region (before or after the subcommand) or by
// the SHMLRU_REGION environment variable. A name without a slash is a file
// under /dev/shm. shmctl never creates a region by accident: only create
// does, and every other subcommand fails on a name that does not exist.
//
// Read subcommands (each takes --json for scripts):
//
//	inspect, info   geometry, capacity, used/free, entries, fill, hit ratio,
//	                evictions, expirations, recoveries, and one row per shard
//	                with its lock state and owner (a dead owner, and a shard
//	                it left dirty, shown as they are, awaiting repair)
//	stats           counters per shard and in total; --format text|json|prometheus
//	keys            keys in LRU order per shard with type, size, TTL, flags;
//	                --prefix P, --limit N, --expired
//	get KEY         the value; --stale also shows an expired entry
//	check           the integrity walk; each problem on its own line
//	watch           inspect's summary and rates, redrawn every --interval
//	                (default 1s) until Ctrl-C; --count N stops after N frames;
//	                --json prints each frame as a line of JSON
//
// Subcommands that change the cache or the region:
//
//	check --repair  repair what dead processes left and what is corrupt,
//	                one line per shard repaired, then check again
//	set KEY VALUE   --ttl D, --flags N, --type bytes|number|bool
//	del KEY         delete one key
//	flush           remove every entry; --expired only the expired ones
//	create          a new region: --size, --shards,
//	                --max-entries, --max-value, --mode
//	rm              remove the region file; asks unless --yes
//
// For Prometheus, and about shmctl itself:
//
//	serve           a Prometheus exporter: GET /metrics over HTTP on
//	                --listen ADDR (default :9877), shmlru_up 0 while the
//	                region cannot be read; stops cleanly on SIGTERM/SIGINT
//	version         the shmlru release (--json for more)
//	completion bash a bash completion script
//	help --man      the manual page, shmctl(1), in roff
//
// The manual page and the completion script are generated from the same
// table of subcommands as --help, and make install installs both.
//
// Every subcommand has --help with an example. Exit status: 0 ok; 1 not
// found, a problem found, or a failure; 2 a usage error (an unknown
// subcommand or flag, a malformed duration, size or value). A failure is
// one line on stderr starting with "shmctl: ".
//
// Examples:
//
//	shmctl -r myapp inspect
//	shmctl -r myapp keys --prefix user: --limit 20
//	shmctl -r myapp stats --format prometheus > /var/lib/node_exporter/shmlru.prom
//	shmctl -r myapp set --type number hits 0 --ttl 1h
//	shmctl -r myapp check || shmctl -r myapp check --repair
//
// Inspecting needs read and write access to the region file: attaching
// claims a process slot and shard locks live in the region.
//
// shmctl opens regions under the library's trust rule (see package shm):
// never through a symbolic link at the region's path, and only a file
// owned by the caller, root, or a user named by the global flag
// --trust-uid (a uid or a name; repeat it or separate users with commas).
// Unlike an application, which names in its Mode whom it shares with,
// shmctl opens a region its group or everyone may write as readily as a
// private one: an operator looks at a region as its users share it.
package main
