/*
 * The native read path of libshmlru.so: the state it keeps per open cache,
 * shared by fast.c (the operations), guard.c (faults) and shim.c (the
 * public entry points, which try it before entering Go). Not part of the
 * public ABI.
 *
 * The Go side (native.go) fills a handle's state at shmlru_open from a
 * second attachment to the region (lru.NativeView): a mapping, a process
 * slot and a lock token of its own. Its own token matters: Go takes a lock
 * word that holds Go's own token for a leftover and takes it over, so the C
 * path must never lock under Go's. A fault on the mapping changes no page
 * of it (guard.c): the call that faulted escapes (or, at
 * shmlru_fast_load64's load, sees it returned as "faulted"), and the
 * handle is marked broken.
 */
#ifndef SHMLRU_FAST_H
#define SHMLRU_FAST_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "region.h"

/* Nothing of the native path is exported from the library. */
#define SHMLRU_HIDDEN __attribute__((visibility("hidden")))

/* Returned by a fast operation that leaves the call to Go. Positive, so
 * never a status. */
#define SHMLRU_FAST_FALLBACK 1

/* The longest TTL in milliseconds that Go takes (c/main.go's ttlOf: it
 * must fit a time.Duration in nanoseconds). A call with a longer one goes
 * to Go, to be refused there. */
#define SHMLRU_FAST_MAX_TTL_MS (INT64_MAX / 1000000)

/* How many times a fast operation spins on a busy shard lock before it
 * sleeps on the futex word (fast.c's lock). */
#define SHMLRU_FAST_SPINS 64

/* The layout fingerprint (SHMLRU_L_FINGERPRINT) fast.c was compiled with.
 * native.go compares it with Go's (format.Fingerprint) and hands no handle
 * to the C path when they differ: every call then goes through Go. */
extern SHMLRU_HIDDEN const uint64_t shmlru_fast_fingerprint;

struct shmlru_fast {
	/* The handle while the fast path may serve it, 0 otherwise. Set last
	 * at open and cleared first at close, which then waits until inflight
	 * is 0 before the mapping goes. */
	uint64_t id;
	int32_t inflight; /* fast calls in progress on this handle */
	int32_t broken;   /* a page of the mapping faulted: everything goes to Go */

	uint32_t token; /* the C attachment's lock token */
	unsigned char *map; /* the C attachment's whole mapping... */
	size_t map_len;     /* ...and its length, for guard.c */
	unsigned char *data; /* its data area */

	/* The layout, validated by Go at open (never read from the region). */
	uint64_t stride;
	uint32_t shards, shard_shift, nbuckets;
	uint32_t nunits; /* heap units per shard, including the unused unit 0 */
	uint32_t buckets_off, heap_off, max_key, max_value;
	uint32_t max_entries; /* per shard: a longer bucket chain is corrupt */
	uint32_t refs_off;    /* the reference bitmap, from the start of a shard */
	uint32_t lanes;       /* read counters in this attachment's row: shard i counts in lane i % lanes */
	/* This attachment's row of the read counter table, in the mapping:
	 * written by its calls alone (with atomic adds: threads of one
	 * process share the handle). */
	struct shmlru_l_read_counters *reads;
	/* The track table's header (struct shmlru_l_track_table), from the
	 * start of the data area; 0 if unknown, or if this process cannot
	 * read the track clock (shmlru_tracked_gen and shmlru_get_tracked go
	 * to Go). */
	uint64_t track_off;
	/* A shard's invalidation stripes and change ring (lru/stripes.go),
	 * from the start of the shard, and their sizes: stripes a power of
	 * two, stripe_bits its log2, ring the change ring's slots. */
	uint32_t stripes_off, ring_off;
	uint32_t stripes, stripe_bits, ring;
	/* This process's CLOCK_MONOTONIC minus the host's (its time
	 * namespace's offset): the track table's instants are on the host's
	 * (lru.TrackClock, lru/trackclock.go). */
	int64_t mono_offset;
	/* The ring-head watch (watch.c): a page per shard, shard i's at
	 * watch + i * the page size; NULL if the handle has none (yet:
	 * watch_tried says whether it was made, or failed, already). Made
	 * from fd, the region's file, open until close. */
	unsigned char *watch;
	size_t watch_len;
	int32_t watch_tried;
	int fd;
};

#define SHMLRU_FAST_HANDLES 4096

extern SHMLRU_HIDDEN struct shmlru_fast shmlru_fast_handles[SHMLRU_FAST_HANDLES];

/* shard_at is shard i's header in f's mapping (fast.c's operations, and
 * watch.c's pages). */
static inline struct shmlru_l_shard_header *shard_at(const struct shmlru_fast *f, uint32_t i)
{
	return (struct shmlru_l_shard_header *)(f->data + SHMLRU_L_CACHE_HEADER_SIZE + (uint64_t)i * f->stride);
}

/* What guard.c needs to know of the thread's fast call in progress, and
 * what the call's escape (fast.c's escaped) needs to know of the call. It
 * lives in the operation's stack frame (sigsetjmp must be called there);
 * the thread finds it through shmlru_fast_cur. */
struct shmlru_fast_call {
	struct shmlru_fast *f;               /* the handle; NULL: the call marks its faults itself (fast.c's peek_load) */
	struct shmlru_l_shard_header *locked; /* the shard whose lock is held, or NULL */
	int faulted;                         /* the fault that escaped was on a page of the mapping */
	int made;                            /* the call's change is made (fast.c's clean): never Go's to make again */
	sigjmp_buf escape;                   /* where a fault returns (fast.c's escaped) */
};

/* The thread's fast call in progress, NULL outside one; set only once the
 * call's escape is set (BEGIN in fast.c). Initial-exec TLS:
 * a signal handler reads it, and the general-dynamic model may allocate on
 * a thread's first access, which a handler must never do. */
extern SHMLRU_HIDDEN __thread struct shmlru_fast_call *shmlru_fast_cur __attribute__((tls_model("initial-exec")));

/* guard.c: installs the fault handler once (after the Go runtime's, which
 * it chains to). */
SHMLRU_HIDDEN void shmlru_guard_install(void);

/*
 * guard.c's fault-recoverable load, where the architecture has one
 * (SHMLRU_FAST_LOAD): an acquire load of *p that a fault does not end.
 * Its one load instruction sits at a label the fault handler knows, and a
 * fault the kernel raises there resumes at a second label that returns
 * faulted = 1 (value 0): no escape to set per call, so the hot call that
 * uses it (shmlru_fast_l1_valid) costs a call and a load. Returned in two
 * registers, a struct of two words: no store to the caller's memory.
 */
#if defined(__x86_64__) || defined(__aarch64__)
#define SHMLRU_FAST_LOAD 1
struct shmlru_fast_load {
	uint64_t value;
	uint64_t faulted;
};
SHMLRU_HIDDEN struct shmlru_fast_load shmlru_fast_load64(const uint64_t *p);
#endif

/* watch.c: the ring-head watch of a handle, made at its first
 * shmlru_l1_heads and ended (its pages zeros) once close has cleared its
 * id;
 * and the fault handler's part, 1 if addr lay in a watch (now a page of
 * zeros there) and the fault is handled. shmlru_fast_head_off is the file
 * offset of shard i's ring head, which the watch maps (the native mapping
 * starts at the file's start). */
static inline uint64_t shmlru_fast_head_off(const struct shmlru_fast *f, uint32_t i)
{
	return (uint64_t)((const unsigned char *)&shard_at(f, i)->ring_head - f->map);
}
SHMLRU_HIDDEN unsigned char *shmlru_fast_watch(struct shmlru_fast *f, uint64_t id, size_t *len);
SHMLRU_HIDDEN void shmlru_fast_unwatch(struct shmlru_fast *f);
SHMLRU_HIDDEN int shmlru_fast_watch_fault(const void *addr, int unmapped);
SHMLRU_HIDDEN void shmlru_fast_watch_forked(void);

/* fast.c: the operations. Each returns a status, or SHMLRU_FAST_FALLBACK to
 * leave the call to Go. Their arguments are the public functions'. */
struct shmlru_meta;
struct shmlru_write_opts;
struct shmlru_write_result;
struct shmlru_look;
SHMLRU_HIDDEN int shmlru_fast_get(uint64_t h, const char *key, size_t klen, void *buf, size_t buf_len,
                                  size_t *value_len, struct shmlru_meta *meta, int stale_ok);
SHMLRU_HIDDEN int shmlru_fast_ttl(uint64_t h, const char *key, size_t klen, int64_t *ttl_ms);
SHMLRU_HIDDEN int shmlru_fast_changes(uint64_t h, const char *key, size_t klen, uint64_t *clock);
SHMLRU_HIDDEN int shmlru_fast_l1_stamp(uint64_t h, const char *key, size_t klen, uint32_t *stripe, uint64_t *stamp);
SHMLRU_HIDDEN int shmlru_fast_l1_valid(uint64_t h, uint32_t stripe, uint64_t stamp, int *valid);
SHMLRU_HIDDEN int shmlru_fast_l1_current(uint64_t h, const uint64_t *cursors, size_t ncursors, uint32_t stripe,
                                         int *current);
SHMLRU_HIDDEN int shmlru_fast_l1_heads(uint64_t h, const volatile uint64_t **heads, size_t nheads, uint32_t *shift);
SHMLRU_HIDDEN int shmlru_fast_l1_changes(uint64_t h, uint64_t *cursors, size_t ncursors, uint32_t *out, size_t out_len,
                                         size_t *n, int *lapped, size_t *done, int *done_lapped);
SHMLRU_HIDDEN int shmlru_fast_tracked_gen(uint64_t h, uint32_t *gen);
SHMLRU_HIDDEN int shmlru_fast_get_tracked(uint64_t h, const char *key, size_t klen, void *buf, size_t buf_len,
                                          size_t *value_len, struct shmlru_meta *meta);
SHMLRU_HIDDEN int shmlru_fast_load_look(uint64_t h, const char *key, size_t klen, int tracked, void *buf,
                                        size_t buf_len, size_t *value_len, struct shmlru_meta *meta,
                                        struct shmlru_look *look);
SHMLRU_HIDDEN int shmlru_fast_llen(uint64_t h, const char *key, size_t klen, size_t *length);
SHMLRU_HIDDEN int shmlru_fast_incr(uint64_t h, const char *key, size_t klen, double delta, double *result, int *forcible);
SHMLRU_HIDDEN int shmlru_fast_set(uint64_t h, const char *key, size_t klen, const void *value, size_t vlen,
                                  const struct shmlru_write_opts *o, struct shmlru_write_result *res);

#endif
