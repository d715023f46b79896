/*
 * C mirrors of the structs of a shmlru cache's data area (internal/format/structs.go),
 * for C code of libshmlru.so that reads the region directly. Not part of
 * the public ABI (that is shmlru.h).
 *
 * The numbers are generated (layout.h); these declarations are written by
 * hand, so that C code reads e->vlen rather than offset arithmetic, and
 * the static assertions below hold them to the generated numbers: every
 * field's offset and size and every struct's size. A change to the Go
 * structs regenerates layout.h (make generate), and then this file no
 * longer compiles until it is brought in line. c/layout_test.go also checks
 * that every Go field has its mirror here, under Go's name in snake case.
 *
 * Who may read and write each field, and how, is docs/protocol.md ("Words
 * and who writes them"). Everything is in native byte order.
 */
#ifndef SHMLRU_REGION_H
#define SHMLRU_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* The layout version this C code follows: the mirrors below and fast.c's
 * use of them and of docs/protocol.md. A new LayoutVersion changes the
 * bytes or the rules of the region, and stops the build here until this
 * file and fast.c have been brought in line with it and this number
 * raised; SHMLRU_L_FINGERPRINT then catches a layout.h that is older than
 * the Go it is built with. */
#define SHMLRU_REGION_LAYOUT_VERSION 7
_Static_assert(SHMLRU_L_LAYOUT_VERSION == SHMLRU_REGION_LAYOUT_VERSION,
	"layout.h is of another layout version: review region.h and fast.c against docs/protocol.md, then raise SHMLRU_REGION_LAYOUT_VERSION");

/* format.CacheHeader: at the start of the data area. */
struct shmlru_l_cache_header {
	uint8_t magic[8];
	uint32_t version; /* SHMLRU_L_LAYOUT_VERSION */
	uint32_t shards;  /* a power of two */
	uint32_t nunits;  /* heap units per shard, including the unused unit 0 */
	uint32_t nbuckets; /* per shard, a power of two */
	uint32_t max_entries;
	uint32_t max_key;
	uint32_t max_value;
	uint32_t pad0;
	uint64_t shard_stride; /* bytes from one shard to the next */
	uint32_t heads_off;    /* the free lists' heads, from the start of a shard */
	uint32_t buckets_off;  /* from the start of a shard */
	uint32_t bits_off;     /* the free bitmap, from the start of a shard */
	uint32_t heap_off;     /* unit 0 of the heap, from the start of a shard */
	uint64_t loads_off;    /* the load table (read-through), after the last shard; Go's alone */
	uint32_t loads;        /* flights in it */
	uint32_t pad1;
	uint64_t track_off;    /* the track table (struct shmlru_l_track_table), after the load table */
	uint32_t track_counts; /* invalidation counts after the track table's header; Go's alone */
	uint32_t refs_off;     /* the reference bitmap, from the start of a shard */
	uint64_t reads_off;    /* the read counter table (struct shmlru_l_read_counters rows), after the track table */
	uint32_t rows;         /* its rows: slot s counts in row s % rows */
	uint32_t lanes;        /* read counters per row: shard i counts in lane i % lanes */
	uint32_t stripes_off;  /* the invalidation stripes (stripes uint64 counts), from the start of a shard */
	uint32_t ring_off;     /* the change ring (ring uint32 stripe indexes), from the start of a shard */
	uint32_t stripes;      /* invalidation stripes per shard, a power of two */
	uint32_t ring;         /* slots of each shard's change ring */
};

/* format.ShardCounters: a shard's write-side event counts, under its lock. */
struct shmlru_l_shard_counters {
	uint64_t sets;
	uint64_t deletes;
	uint64_t evictions;
	uint64_t expirations;
	uint64_t recoveries;
	uint64_t resets;
};

/* format.ReadCounters: one process slot's hits and misses in one lane of
 * shards, in the read counter table. */
struct shmlru_l_read_counters {
	uint64_t hits;
	uint64_t misses;
};

/* format.ShardHeader: at the start of each shard. */
struct shmlru_l_shard_header {
	uint32_t lock;  /* futex word: 0, or an owner's token (SHMLRU_L_SHM_*) */
	uint32_t pad0;
	uint64_t seq;   /* the change sequence: odd while a change is under way (the dirty mark) */
	uint32_t head;  /* most recently written entry, 0 if none */
	uint32_t tail;  /* least recently written entry, 0 if none */
	uint32_t free_units; /* units in free runs */
	uint32_t entries;
	uint32_t chained; /* entries stored as a chain of pieces */
	uint32_t ttls;    /* entries with a deadline */
	uint64_t change_count; /* last version handed out */
	uint32_t dead_pid;
	uint32_t free_runs; /* runs on the free lists */
	uint64_t classes[SHMLRU_L_SIZEOF_SHARD_HEADER_CLASSES / 8]; /* non-empty size classes (allocator's) */
	struct shmlru_l_shard_counters stats;
	uint64_t ring_head; /* appends to the shard's change ring ever made; atomics (release store, acquire load) */
};

/* format.TrackCounters: the tracking counts of a whole cache. */
struct shmlru_l_track_counters {
	uint64_t invalidations;
	uint64_t generations;
	uint64_t refused;
	uint64_t agents;
};

/* format.TrackTable: heads the track table (lru/track.go), which keeps tracked
 * entries in step with an outside store. Every field is read and written
 * with atomics, none under a lock; the C path only reads gen and in_step
 * (shmlru_tracked_gen, shmlru_get_tracked), with acquire loads, in lru's
 * order: in_step first. */
struct shmlru_l_track_table {
	uint32_t gen;       /* the generation a tracked entry's flags must equal; never 0 */
	uint32_t agent_pid; /* for operators */
	int64_t in_step;    /* host CLOCK_MONOTONIC ns (lru.TrackClock) until which the cache is in step; 0: not */
	struct shmlru_l_track_counters stats;
	uint8_t pad0[16];
};

/* format.Entry: the header of an entry's first (usually only) piece, at its
 * first unit. An entry_ext follows if info has SHMLRU_L_INFO_EXT; then the
 * key, then the value. */
struct shmlru_l_entry {
	uint32_t hnext; /* next entry in the bucket's chain */
	uint32_t prev;  /* LRU neighbour towards the head */
	uint32_t next;  /* LRU neighbour towards the tail */
	uint32_t vlen;
	uint64_t version;
	/* The deadline (info & SHMLRU_L_INFO_EXPIRES_MASK, Unix ms, 0 =
	 * never), the key length, the type and the ext bit, packed: see
	 * SHMLRU_L_INFO_* */
	uint64_t info;
};

/* format.EntryExt: after the header of an entry with user flags or stored in
 * pieces. */
struct shmlru_l_entry_ext {
	uint32_t flags; /* user flags */
	uint32_t more;  /* the second piece, 0 if the entry is contiguous */
	uint32_t units; /* units of the first piece when more != 0 */
	uint32_t pad0;
};

/* format.PieceHeader: starts a chained entry's second and later pieces. The C
 * path never walks a chain (it leaves chained entries to Go); the mirror is
 * here so that the layout test holds every struct of the region. */
struct shmlru_l_piece_header {
	uint32_t next;
	uint32_t units;
};

/* SHMLRU_L_PIN(type, member, NAME): member of type is where and as large as layout.h says. */
#define SHMLRU_L_PIN(type, member, NAME)                                                     \
	_Static_assert(offsetof(type, member) == SHMLRU_L_OFF_##NAME, #type "." #member " offset"); \
	_Static_assert(sizeof(((type *)0)->member) == SHMLRU_L_SIZEOF_##NAME, #type "." #member " size")

_Static_assert(sizeof(struct shmlru_l_cache_header) == SHMLRU_L_SIZEOF_CACHE_HEADER, "cache header size");
_Static_assert(sizeof(struct shmlru_l_cache_header) <= SHMLRU_L_CACHE_HEADER_SIZE, "cache header fits its space");
SHMLRU_L_PIN(struct shmlru_l_cache_header, magic, CACHE_HEADER_MAGIC);
SHMLRU_L_PIN(struct shmlru_l_cache_header, version, CACHE_HEADER_VERSION);
SHMLRU_L_PIN(struct shmlru_l_cache_header, shards, CACHE_HEADER_SHARDS);
SHMLRU_L_PIN(struct shmlru_l_cache_header, nunits, CACHE_HEADER_NUNITS);
SHMLRU_L_PIN(struct shmlru_l_cache_header, nbuckets, CACHE_HEADER_NBUCKETS);
SHMLRU_L_PIN(struct shmlru_l_cache_header, max_entries, CACHE_HEADER_MAX_ENTRIES);
SHMLRU_L_PIN(struct shmlru_l_cache_header, max_key, CACHE_HEADER_MAX_KEY);
SHMLRU_L_PIN(struct shmlru_l_cache_header, max_value, CACHE_HEADER_MAX_VALUE);
SHMLRU_L_PIN(struct shmlru_l_cache_header, shard_stride, CACHE_HEADER_SHARD_STRIDE);
SHMLRU_L_PIN(struct shmlru_l_cache_header, heads_off, CACHE_HEADER_HEADS_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, buckets_off, CACHE_HEADER_BUCKETS_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, bits_off, CACHE_HEADER_BITS_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, heap_off, CACHE_HEADER_HEAP_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, loads_off, CACHE_HEADER_LOADS_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, loads, CACHE_HEADER_LOADS);
SHMLRU_L_PIN(struct shmlru_l_cache_header, track_off, CACHE_HEADER_TRACK_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, track_counts, CACHE_HEADER_TRACK_COUNTS);
SHMLRU_L_PIN(struct shmlru_l_cache_header, refs_off, CACHE_HEADER_REFS_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, reads_off, CACHE_HEADER_READS_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, rows, CACHE_HEADER_ROWS);
SHMLRU_L_PIN(struct shmlru_l_cache_header, lanes, CACHE_HEADER_LANES);
SHMLRU_L_PIN(struct shmlru_l_cache_header, stripes_off, CACHE_HEADER_STRIPES_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, ring_off, CACHE_HEADER_RING_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, stripes, CACHE_HEADER_STRIPES);
SHMLRU_L_PIN(struct shmlru_l_cache_header, ring, CACHE_HEADER_RING);

_Static_assert(sizeof(struct shmlru_l_shard_header) == SHMLRU_L_SIZEOF_SHARD_HEADER, "shard header size");
_Static_assert(sizeof(struct shmlru_l_shard_header) <= SHMLRU_L_SHARD_HEADER_SIZE, "shard header fits its space");
SHMLRU_L_PIN(struct shmlru_l_shard_header, lock, SHARD_HEADER_LOCK);
SHMLRU_L_PIN(struct shmlru_l_shard_header, seq, SHARD_HEADER_SEQ);
SHMLRU_L_PIN(struct shmlru_l_shard_header, head, SHARD_HEADER_HEAD);
SHMLRU_L_PIN(struct shmlru_l_shard_header, tail, SHARD_HEADER_TAIL);
SHMLRU_L_PIN(struct shmlru_l_shard_header, free_units, SHARD_HEADER_FREE_UNITS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, entries, SHARD_HEADER_ENTRIES);
SHMLRU_L_PIN(struct shmlru_l_shard_header, chained, SHARD_HEADER_CHAINED);
SHMLRU_L_PIN(struct shmlru_l_shard_header, ttls, SHARD_HEADER_TTLS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, change_count, SHARD_HEADER_CHANGE_COUNT);
SHMLRU_L_PIN(struct shmlru_l_shard_header, dead_pid, SHARD_HEADER_DEAD_PID);
SHMLRU_L_PIN(struct shmlru_l_shard_header, free_runs, SHARD_HEADER_FREE_RUNS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, classes, SHARD_HEADER_CLASSES);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats, SHARD_HEADER_STATS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.sets, SHARD_HEADER_STATS_SETS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.deletes, SHARD_HEADER_STATS_DELETES);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.evictions, SHARD_HEADER_STATS_EVICTIONS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.expirations, SHARD_HEADER_STATS_EXPIRATIONS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.recoveries, SHARD_HEADER_STATS_RECOVERIES);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.resets, SHARD_HEADER_STATS_RESETS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, ring_head, SHARD_HEADER_RING_HEAD);

_Static_assert(sizeof(struct shmlru_l_entry) == SHMLRU_L_SIZEOF_ENTRY, "entry header size");
_Static_assert(sizeof(struct shmlru_l_entry) == SHMLRU_L_ENTRY_HEADER_SIZE, "entry header size");
_Static_assert(SHMLRU_L_ENTRY_HEADER_SIZE % SHMLRU_L_UNIT_SIZE == 0, "entry header is whole units");
SHMLRU_L_PIN(struct shmlru_l_entry, hnext, ENTRY_HNEXT);
SHMLRU_L_PIN(struct shmlru_l_entry, prev, ENTRY_PREV);
SHMLRU_L_PIN(struct shmlru_l_entry, next, ENTRY_NEXT);
SHMLRU_L_PIN(struct shmlru_l_entry, vlen, ENTRY_VLEN);
SHMLRU_L_PIN(struct shmlru_l_entry, version, ENTRY_VERSION);
SHMLRU_L_PIN(struct shmlru_l_entry, info, ENTRY_INFO);

_Static_assert(sizeof(struct shmlru_l_entry_ext) == SHMLRU_L_SIZEOF_ENTRY_EXT, "entry ext size");
_Static_assert(sizeof(struct shmlru_l_entry_ext) == SHMLRU_L_ENTRY_EXT_SIZE, "entry ext size");
_Static_assert(SHMLRU_L_ENTRY_EXT_SIZE % SHMLRU_L_UNIT_SIZE == 0, "entry ext is whole units");
SHMLRU_L_PIN(struct shmlru_l_entry_ext, flags, ENTRY_EXT_FLAGS);
SHMLRU_L_PIN(struct shmlru_l_entry_ext, more, ENTRY_EXT_MORE);
SHMLRU_L_PIN(struct shmlru_l_entry_ext, units, ENTRY_EXT_UNITS);

_Static_assert(sizeof(struct shmlru_l_piece_header) == SHMLRU_L_SIZEOF_PIECE_HEADER, "piece header size");
_Static_assert(sizeof(struct shmlru_l_piece_header) == SHMLRU_L_PIECE_HEADER_SIZE, "piece header size");
SHMLRU_L_PIN(struct shmlru_l_piece_header, next, PIECE_HEADER_NEXT);
SHMLRU_L_PIN(struct shmlru_l_piece_header, units, PIECE_HEADER_UNITS);

_Static_assert(sizeof(struct shmlru_l_track_table) == SHMLRU_L_SIZEOF_TRACK_TABLE, "track table header size");
_Static_assert(sizeof(struct shmlru_l_track_table) == SHMLRU_L_TRACK_TABLE_HEADER_SIZE, "track table header size");
SHMLRU_L_PIN(struct shmlru_l_track_table, gen, TRACK_TABLE_GEN);
SHMLRU_L_PIN(struct shmlru_l_track_table, agent_pid, TRACK_TABLE_AGENT_PID);
SHMLRU_L_PIN(struct shmlru_l_track_table, in_step, TRACK_TABLE_IN_STEP);
SHMLRU_L_PIN(struct shmlru_l_track_table, stats, TRACK_TABLE_STATS);
SHMLRU_L_PIN(struct shmlru_l_track_table, stats.invalidations, TRACK_TABLE_STATS_INVALIDATIONS);
SHMLRU_L_PIN(struct shmlru_l_track_table, stats.generations, TRACK_TABLE_STATS_GENERATIONS);
SHMLRU_L_PIN(struct shmlru_l_track_table, stats.refused, TRACK_TABLE_STATS_REFUSED);
SHMLRU_L_PIN(struct shmlru_l_track_table, stats.agents, TRACK_TABLE_STATS_AGENTS);

_Static_assert(sizeof(struct shmlru_l_read_counters) == SHMLRU_L_SIZEOF_READ_COUNTERS, "read counters size");
SHMLRU_L_PIN(struct shmlru_l_read_counters, hits, READ_COUNTERS_HITS);
SHMLRU_L_PIN(struct shmlru_l_read_counters, misses, READ_COUNTERS_MISSES);

#undef SHMLRU_L_PIN

/* entry.info unpacked and packed, as lru/storage.go's expires, klen, typ,
 * hasExt and packInfo. */
/* The same for an info word already loaded (a reader's snapshot). */
static inline int64_t shmlru_l_info_expires(uint64_t info) { return (int64_t)(info & SHMLRU_L_INFO_EXPIRES_MASK); }
static inline uint32_t shmlru_l_info_klen(uint64_t info) { return (uint32_t)(info >> SHMLRU_L_INFO_KLEN_SHIFT) & 0xffffu; }
static inline uint32_t shmlru_l_info_typ(uint64_t info) { return (uint32_t)(info >> SHMLRU_L_INFO_TYP_SHIFT) & SHMLRU_L_INFO_TYP_MASK; }
static inline int shmlru_l_info_ext(uint64_t info) { return (info & SHMLRU_L_INFO_EXT) != 0; }

static inline int64_t shmlru_l_expires(const struct shmlru_l_entry *e) { return shmlru_l_info_expires(e->info); }
static inline uint32_t shmlru_l_klen(const struct shmlru_l_entry *e) { return shmlru_l_info_klen(e->info); }
static inline uint32_t shmlru_l_typ(const struct shmlru_l_entry *e) { return shmlru_l_info_typ(e->info); }
static inline int shmlru_l_has_ext(const struct shmlru_l_entry *e) { return shmlru_l_info_ext(e->info); }
static inline uint64_t shmlru_l_pack_info(int64_t expires, uint32_t klen, uint32_t typ, int ext)
{
	uint64_t i = ((uint64_t)expires & SHMLRU_L_INFO_EXPIRES_MASK) | (uint64_t)klen << SHMLRU_L_INFO_KLEN_SHIFT |
	             (uint64_t)(typ & SHMLRU_L_INFO_TYP_MASK) << SHMLRU_L_INFO_TYP_SHIFT;
	return ext ? i | SHMLRU_L_INFO_EXT : i;
}

/* shmlru_l_units_for is lru's unitsFor: the units of a contiguous entry. */
static inline uint64_t shmlru_l_units_for(uint64_t klen, uint64_t vlen, int ext)
{
	uint64_t n = SHMLRU_L_ENTRY_HEADER_SIZE + klen + vlen + (ext ? SHMLRU_L_ENTRY_EXT_SIZE : 0);
	return (n + SHMLRU_L_UNIT_SIZE - 1) / SHMLRU_L_UNIT_SIZE;
}

#endif /* SHMLRU_REGION_H */
