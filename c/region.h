/*
 * C mirrors of the structs of a shmlru cache's data area (lru/layout.go),
 * for C code of libshmlru.so that reads the region directly. Not part of
 * the public ABI (that is shmlru.h).
 *
 * The numbers are generated (layout.h); these declarations are written by
 * hand, so that C code reads e->expires rather than offset arithmetic, and
 * the static assertions below hold them to the generated numbers: every
 * field's offset and size and every struct's size. A change to the Go
 * structs regenerates layout.h (make generate), and then this file no
 * longer compiles until it is brought in line. c/layout_test.go also checks
 * that every Go field has its mirror here, under Go's name in snake case.
 *
 * Fields are read and written as lru does: lock with atomics (the futex
 * word, see shm/mutex.go), dirty with atomic stores, the rest only with
 * the shard's lock held. Everything is in native byte order.
 */
#ifndef SHMLRU_REGION_H
#define SHMLRU_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "layout.h"

/* lru.cacheHeader: at the start of the data area. */
struct shmlru_l_cache_header {
	uint8_t magic[8];
	uint32_t version; /* SHMLRU_L_LAYOUT_VERSION */
	uint32_t shards;  /* a power of two */
	uint32_t block_size;
	uint32_t nblocks; /* per shard, including the unused block 0 */
	uint32_t nbuckets; /* per shard, a power of two */
	uint32_t max_entries;
	uint32_t max_key;
	uint32_t max_value;
	uint64_t shard_stride; /* bytes from one shard to the next */
	uint32_t buckets_off;  /* from the start of a shard */
	uint32_t blocks_off;   /* from the start of a shard */
};

/* lru.Counters: a shard's event counts. */
struct shmlru_l_counters {
	uint64_t hits;
	uint64_t misses;
	uint64_t sets;
	uint64_t deletes;
	uint64_t evictions;
	uint64_t expirations;
	uint64_t recoveries;
	uint64_t resets;
};

/* lru.shardHeader: at the start of each shard. */
struct shmlru_l_shard_header {
	uint32_t lock;  /* futex word: 0, or an owner's token (SHMLRU_L_SHM_*) */
	uint32_t dirty; /* nonzero while a mutation is under way */
	uint32_t head;  /* most recently used entry, 0 if none */
	uint32_t tail;  /* least recently used entry, 0 if none */
	uint32_t free;  /* first block of the free list, 0 if none */
	uint32_t nfree;
	uint32_t hwm;
	uint32_t entries;
	uint64_t clock; /* last version handed out */
	uint32_t ttls;  /* entries with a deadline */
	uint32_t dead_pid;
	struct shmlru_l_counters stats;
};

/* lru.entry: the header of an entry's first block. */
struct shmlru_l_entry {
	uint32_t hnext; /* next entry in the bucket's chain */
	uint32_t prev;  /* LRU neighbour towards the head */
	uint32_t next;  /* LRU neighbour towards the tail */
	uint32_t more;  /* first overflow block, 0 if none */
	int64_t expires; /* Unix milliseconds, 0 = never */
	uint64_t version;
	uint32_t flags;
	uint32_t vlen;
	uint16_t klen;
	uint8_t typ; /* SHMLRU_L_TYPE_* */
	uint8_t pad[5];
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
SHMLRU_L_PIN(struct shmlru_l_cache_header, block_size, CACHE_HEADER_BLOCK_SIZE);
SHMLRU_L_PIN(struct shmlru_l_cache_header, nblocks, CACHE_HEADER_NBLOCKS);
SHMLRU_L_PIN(struct shmlru_l_cache_header, nbuckets, CACHE_HEADER_NBUCKETS);
SHMLRU_L_PIN(struct shmlru_l_cache_header, max_entries, CACHE_HEADER_MAX_ENTRIES);
SHMLRU_L_PIN(struct shmlru_l_cache_header, max_key, CACHE_HEADER_MAX_KEY);
SHMLRU_L_PIN(struct shmlru_l_cache_header, max_value, CACHE_HEADER_MAX_VALUE);
SHMLRU_L_PIN(struct shmlru_l_cache_header, shard_stride, CACHE_HEADER_SHARD_STRIDE);
SHMLRU_L_PIN(struct shmlru_l_cache_header, buckets_off, CACHE_HEADER_BUCKETS_OFF);
SHMLRU_L_PIN(struct shmlru_l_cache_header, blocks_off, CACHE_HEADER_BLOCKS_OFF);

_Static_assert(sizeof(struct shmlru_l_shard_header) == SHMLRU_L_SIZEOF_SHARD_HEADER, "shard header size");
_Static_assert(sizeof(struct shmlru_l_shard_header) <= SHMLRU_L_SHARD_HEADER_SIZE, "shard header fits its space");
SHMLRU_L_PIN(struct shmlru_l_shard_header, lock, SHARD_HEADER_LOCK);
SHMLRU_L_PIN(struct shmlru_l_shard_header, dirty, SHARD_HEADER_DIRTY);
SHMLRU_L_PIN(struct shmlru_l_shard_header, head, SHARD_HEADER_HEAD);
SHMLRU_L_PIN(struct shmlru_l_shard_header, tail, SHARD_HEADER_TAIL);
SHMLRU_L_PIN(struct shmlru_l_shard_header, free, SHARD_HEADER_FREE);
SHMLRU_L_PIN(struct shmlru_l_shard_header, nfree, SHARD_HEADER_NFREE);
SHMLRU_L_PIN(struct shmlru_l_shard_header, hwm, SHARD_HEADER_HWM);
SHMLRU_L_PIN(struct shmlru_l_shard_header, entries, SHARD_HEADER_ENTRIES);
SHMLRU_L_PIN(struct shmlru_l_shard_header, clock, SHARD_HEADER_CLOCK);
SHMLRU_L_PIN(struct shmlru_l_shard_header, ttls, SHARD_HEADER_TTLS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, dead_pid, SHARD_HEADER_DEAD_PID);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats, SHARD_HEADER_STATS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.hits, SHARD_HEADER_STATS_HITS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.misses, SHARD_HEADER_STATS_MISSES);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.sets, SHARD_HEADER_STATS_SETS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.deletes, SHARD_HEADER_STATS_DELETES);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.evictions, SHARD_HEADER_STATS_EVICTIONS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.expirations, SHARD_HEADER_STATS_EXPIRATIONS);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.recoveries, SHARD_HEADER_STATS_RECOVERIES);
SHMLRU_L_PIN(struct shmlru_l_shard_header, stats.resets, SHARD_HEADER_STATS_RESETS);

_Static_assert(sizeof(struct shmlru_l_entry) == SHMLRU_L_SIZEOF_ENTRY, "entry header size");
_Static_assert(sizeof(struct shmlru_l_entry) == SHMLRU_L_ENTRY_HEADER_SIZE, "entry header size");
SHMLRU_L_PIN(struct shmlru_l_entry, hnext, ENTRY_HNEXT);
SHMLRU_L_PIN(struct shmlru_l_entry, prev, ENTRY_PREV);
SHMLRU_L_PIN(struct shmlru_l_entry, next, ENTRY_NEXT);
SHMLRU_L_PIN(struct shmlru_l_entry, more, ENTRY_MORE);
SHMLRU_L_PIN(struct shmlru_l_entry, expires, ENTRY_EXPIRES);
SHMLRU_L_PIN(struct shmlru_l_entry, version, ENTRY_VERSION);
SHMLRU_L_PIN(struct shmlru_l_entry, flags, ENTRY_FLAGS);
SHMLRU_L_PIN(struct shmlru_l_entry, vlen, ENTRY_VLEN);
SHMLRU_L_PIN(struct shmlru_l_entry, klen, ENTRY_KLEN);
SHMLRU_L_PIN(struct shmlru_l_entry, typ, ENTRY_TYP);

#undef SHMLRU_L_PIN

#endif /* SHMLRU_REGION_H */
