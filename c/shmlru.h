/* SPDX-License-Identifier: Apache-2.0 */
/*
 * shmlru.h — the C ABI of shmlru, a shared-memory LRU cache.
 *
 * Link with libshmlru.so (built by `make` into build/libshmlru.so).
 *
 * Conventions
 *   - A cache is named by an opaque handle (shmlru_t) from shmlru_open. A
 *     handle is a number, never a pointer; 0 is never valid. After
 *     shmlru_close every call with it returns SHMLRU_CLOSED; a value that was
 *     never returned by shmlru_open gives SHMLRU_BAD_HANDLE.
 *   - Every function returns an int status: SHMLRU_OK (0) or a negative
 *     SHMLRU_* code; shmlru_strerror(code) describes it. Out-parameters are
 *     written only as each function says.
 *   - Keys and values are byte strings given as pointer + length: they need
 *     no NUL terminator and may contain NULs. A key is 1 to the cache's
 *     max_key bytes (at most SHMLRU_MAX_KEY_SIZE).
 *   - The library never allocates memory for the caller and the caller never
 *     frees anything the library returns. Reads copy into the caller's
 *     buffer; when it is too small they return SHMLRU_BUFFER_TOO_SMALL and
 *     store the size needed, so the caller can grow the buffer and retry.
 *   - Every call is safe from any thread. Every operation is atomic with
 *     respect to all threads and processes that have the cache open.
 *   - The library embeds the Go runtime, which does not survive fork(): use
 *     it only in the process that loaded it (load it after forking). In a
 *     child forked after the library was loaded every call returns
 *     SHMLRU_FORKED instead of entering the runtime. The child holds none
 *     of the parent's caches: their mappings are not inherited and their
 *     files are closed in it, so a parent that dies is seen dead at once
 *     even while its children live. fork() waits for shmlru_open and
 *     shmlru_close calls running in other threads to finish.
 *   - Faults. The first shmlru_open installs handlers for SIGSEGV and SIGBUS
 *     (once per process), which act only on a fault raised inside one of
 *     the library's calls: on a page of the region (its file truncated
 *     underneath, say) the call returns SHMLRU_CORRUPT, on the caller's
 *     memory (a pointer that does not cover its length) SHMLRU_BAD_ARGUMENT,
 *     and the process goes on. Every other fault goes to the handler they
 *     replaced. A host that has SIGSEGV or SIGBUS handlers of its own:
 *       - installed before the library was loaded: needs nothing more (the
 *         Go runtime the library embeds takes them over at load and hands
 *         them every fault that is not Go's, and the library's handlers
 *         hand theirs to the runtime's);
 *       - installed later (after loading, or after the first shmlru_open):
 *         must chain, or the library's faults (and the Go runtime's) are
 *         no longer handled. Install with SA_SIGINFO | SA_ONSTACK (the Go
 *         runtime requires SA_ONSTACK of every handler in the process),
 *         and for every fault the handler does not handle itself, call the
 *         handler it replaced (the oldact that sigaction returned) with the
 *         same signal number, siginfo and ucontext (the very pointers it was
 *         given, not copies), before doing anything that ends the process
 *         or the thread. For most faults of its own the library never
 *         returns from that call: it leaves the handlers with siglongjmp
 *         to the call that faulted, setting the thread's signal mask to
 *         the one saved in the ucontext (the mask when the fault came), so
 *         the handler must hold no lock and have nothing half done when it
 *         chains. For a fault in the reads of shmlru_l1_valid and
 *         shmlru_l1_current (on x86-64 and arm64) it returns, having moved
 *         the program counter
 *         in the ucontext past the fault; for a SIGBUS on a page that
 *         shmlru_l1_heads handed out, it returns having mapped zeros in
 *         the page's place. In both cases, when the call returns, the
 *         handler must return at once, so that the thread resumes where
 *         the ucontext says.
 *     A handler that does not chain, or passes no siginfo, turns those
 *     faults into whatever it does with them (by default the process is
 *     killed): a bad pointer then kills the process instead of returning
 *     SHMLRU_BAD_ARGUMENT, and so does a region truncated underneath
 *     instead of returning SHMLRU_CORRUPT. So does one that passes no
 *     ucontext, for a fault in shmlru_l1_valid or shmlru_l1_current on
 *     x86-64 and arm64.
 *
 * The values below are pinned to the library's Go definitions by a test
 * (c/pin_test.go), as is the Lua binding's copy (ffi/resty/shmlru.lua).
 */
#ifndef SHMLRU_H
#define SHMLRU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this ABI: shmlru_abi_version() returns it. */
enum { SHMLRU_ABI_VERSION = 3 };

/* Limits. */
enum {
	SHMLRU_MAX_KEY_SIZE = 65535, /* the longest key any cache accepts */
	SHMLRU_ERRBUF_SIZE  = 512    /* an error buffer this size holds any message */
};

/* Status codes. */
enum {
	SHMLRU_OK                =  0,
	SHMLRU_NOT_FOUND         = -1,  /* no live entry at the key */
	SHMLRU_EXISTS            = -2,  /* add: a live entry is there */
	SHMLRU_NO_MEMORY         = -3,  /* no_evict write found no room */
	SHMLRU_NOT_NUMBER        = -4,  /* incr on a value that is not a number */
	SHMLRU_NOT_LIST          = -5,  /* list operation on a value that is not a list */
	SHMLRU_VERSION_MISMATCH  = -6,  /* compare-and-swap lost: the entry changed */
	SHMLRU_BUFFER_TOO_SMALL  = -7,  /* the size needed was stored; grow and retry */
	SHMLRU_EMPTY_KEY         = -8,  /* key_len is 0 */
	SHMLRU_KEY_TOO_LARGE     = -9,  /* key longer than the cache's max_key */
	SHMLRU_VALUE_TOO_LARGE   = -10, /* value longer than the cache's max_value */
	SHMLRU_BAD_VALUE         = -11, /* value does not match its type, or a bad type */
	SHMLRU_BAD_ARGUMENT      = -12, /* a NULL or invalid pointer, or a value out of range */
	SHMLRU_BAD_OPTIONS       = -13, /* shmlru_options out of range */
	SHMLRU_BAD_HANDLE        = -14, /* not a handle shmlru_open returned */
	SHMLRU_CLOSED            = -15, /* the handle was closed */
	SHMLRU_NOT_REGION        = -16, /* the file is not a shmlru region (or a directory) */
	SHMLRU_INCOMPATIBLE      = -17, /* another layout version or geometry */
	SHMLRU_NO_SPACE          = -18, /* the file system could not reserve the size */
	SHMLRU_NO_SLOT           = -19, /* every process slot of the region is in use */
	SHMLRU_CORRUPT           = -20, /* inconsistent region, or its file shrank */
	SHMLRU_NOT_EXIST         = -21, /* no region at the path (no_create) */
	SHMLRU_PERMISSION        = -22, /* the file's permissions forbid access */
	SHMLRU_TOO_MANY_HANDLES  = -23, /* too many caches open in this process */
	SHMLRU_SYSTEM            = -24, /* another operating system error */
	SHMLRU_INTERNAL          = -25, /* a bug in shmlru; please report it */
	SHMLRU_FORKED            = -26, /* called in a child forked after loading the library */
	SHMLRU_BAD_TTL           = -27, /* a negative TTL; 0 means never expires */
	SHMLRU_LOAD_LOST         = -28, /* load_end: the lease ran out and another caller took the load over */
	SHMLRU_NOT_IN_STEP       = -29, /* tracked read or fill: the cache is not in step with its store; read the store, cache nothing */
	SHMLRU_UNTRUSTED         = -30, /* a symbolic link, or a file owned or writable by someone not trusted: see the error text */
	SHMLRU_BUSY              = -31  /* the region is not ready and another process held its creation lock too long */
};

/* Value types (shmlru_meta.type, shmlru_write_opts.type). */
enum {
	SHMLRU_TYPE_BYTES  = 0, /* an opaque byte string */
	SHMLRU_TYPE_NUMBER = 1, /* a double, 8 bytes in native byte order */
	SHMLRU_TYPE_BOOL   = 2, /* one byte, 0 or 1 */
	SHMLRU_TYPE_LIST   = 3, /* a list (read it with the list functions) */
	SHMLRU_TYPE_NONE   = 4  /* a cached absence (a read-through load found
	                         * nothing): treat it as not found; the value is empty */
};

/* Write modes (shmlru_write_opts.mode). */
enum {
	SHMLRU_MODE_SET     = 0, /* write whatever is there */
	SHMLRU_MODE_ADD     = 1, /* only if there is no live entry, else SHMLRU_EXISTS */
	SHMLRU_MODE_REPLACE = 2, /* only over a live entry, else SHMLRU_NOT_FOUND */
	SHMLRU_MODE_CAS     = 3  /* only over a live entry whose version is .version */
};

/* A cache handle. */
typedef uint64_t shmlru_t;

/* Options of shmlru_open; all-zero (or NULL) means the defaults. The
 * geometry fields apply when the region is created; an existing region's
 * geometry is adopted unless exact is set. */
typedef struct shmlru_options {
	uint64_t size;           /* bytes of the region file (0 = 64 MiB) */
	uint64_t max_entries;    /* cap on entries (0 = as many as fit) */
	uint64_t max_value_size; /* largest value (0 = a quarter of a shard) */
	uint32_t shards;         /* a power of two (0 = chosen by size: 1..16 of at
	                          * least 1 MiB each, then up to 64 of 16 MiB) */
	/* Must be 0, or shmlru_open fails with SHMLRU_BAD_OPTIONS. This was
	 * block_size until cache layout 3, whose entries take as many 16-byte
	 * units as they need: there is no block size to choose. The field
	 * stays so that the struct's layout does not change. */
	uint32_t reserved_block_size;
	uint32_t mode;           /* permission of a new file (0 = 0600), and whom
	                          * an existing one may share with: 0600, 0660
	                          * or 0666 (read without write is BAD_OPTIONS) */
	uint8_t  exact;          /* fail if an existing region differs */
	uint8_t  no_create;      /* fail if the region does not exist */
	uint8_t  reserved[2];    /* must be 0 */
} shmlru_options;

/* What a read returns next to the value. */
typedef struct shmlru_meta {
	uint64_t version;    /* changes with every write; for SHMLRU_MODE_CAS */
	int64_t  expires_ms; /* expiry, Unix milliseconds; 0 = never */
	uint32_t flags;      /* user flags given to the write */
	uint8_t  type;       /* SHMLRU_TYPE_* */
	uint8_t  stale;      /* 1 if expired (shmlru_get_stale, shmlru_peek only) */
	uint8_t  reserved[2];
} shmlru_meta;

/* How shmlru_write writes. */
typedef struct shmlru_write_opts {
	int64_t  ttl_ms;   /* time to live in milliseconds; 0 = never expires */
	uint64_t version;  /* SHMLRU_MODE_CAS: the version the entry must have */
	uint32_t flags;    /* user flags, returned in shmlru_meta */
	uint8_t  type;     /* SHMLRU_TYPE_BYTES, _NUMBER, _BOOL, or _NONE (empty value) */
	uint8_t  mode;     /* SHMLRU_MODE_* */
	uint8_t  no_evict; /* fail with SHMLRU_NO_MEMORY rather than evict live entries */
	uint8_t  reserved; /* must be 0 */
} shmlru_write_opts;

/* What a successful shmlru_write did. */
typedef struct shmlru_write_result {
	uint64_t version;  /* the entry's new version */
	uint8_t  forcible; /* 1 if live entries were evicted to make room */
	uint8_t  reserved[7];
} shmlru_write_result;

/* The cache's layout and limits, fixed at creation. */
typedef struct shmlru_info {
	uint64_t size;              /* bytes of the region file */
	uint64_t shards;
	uint64_t unit_size;            /* bytes of the unit entries are stored in (16) */
	uint64_t heap_bytes_per_shard; /* bytes of entry storage in each shard */
	uint64_t buckets_per_shard;
	uint64_t max_entries;
	uint64_t max_key;           /* longest key accepted */
	uint64_t max_value;         /* longest value accepted */
} shmlru_info;

/* Counters and fill, summed over the shards; shared by every process. */
typedef struct shmlru_stats {
	uint64_t hits;
	uint64_t misses;
	uint64_t sets;
	uint64_t deletes;
	uint64_t evictions;
	uint64_t expirations;
	uint64_t recoveries; /* locks taken over from dead processes */
	uint64_t resets;     /* shards reset (dead owner mid-change, or corruption) */
	uint64_t entries;    /* expired ones not yet removed included */
	uint64_t used_bytes;
	uint64_t free_bytes;
	uint64_t capacity;   /* bytes of the region file */
} shmlru_stats;

/* The ABI version the library implements (SHMLRU_ABI_VERSION). */
int shmlru_abi_version(void);

/* A static description of a status code ("unknown status code" for others).
 * Never NULL; do not free it. */
const char *shmlru_strerror(int status);

/* Opens (creating if needed) the cache in the region at path: a name
 * without a slash is a file under /dev/shm. opts may be NULL. On success
 * *out is the handle. On failure a message naming the file and what to do
 * is written to errbuf (NUL-terminated, truncated to errbuf_len) unless
 * errbuf is NULL. It never follows a symbolic link at path, and adopts an
 * existing file only if it is the caller's or root's and gives no one
 * write access beyond what opts->mode shares (SHMLRU_UNTRUSTED otherwise;
 * the Go API's lru.Options.TrustUIDs has no C counterpart yet). */
int shmlru_open(const char *path, size_t path_len, const shmlru_options *opts,
                shmlru_t *out, char *errbuf, size_t errbuf_len);

/* Closes the handle; the region stays for other processes. A second close
 * returns SHMLRU_CLOSED. */
int shmlru_close(shmlru_t h);

/* Copies the live value at key into buf (buf may be NULL if buf_len is 0).
 * *value_len receives its length: on SHMLRU_BUFFER_TOO_SMALL the length
 * needed. meta (may be NULL) receives the type, flags, version and expiry.
 * It takes no lock; a hit marks the entry as read, which spares it from
 * the next eviction that reaches it (docs/protocol.md). */
int shmlru_get(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
               size_t *value_len, shmlru_meta *meta);

/* shmlru_get that also returns an expired entry not yet removed, with
 * meta->stale set. */
int shmlru_get_stale(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                     size_t *value_len, shmlru_meta *meta);

/* shmlru_get_stale that changes nothing: neither the LRU order nor the
 * counters. */
int shmlru_peek(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                size_t *value_len, shmlru_meta *meta);

/* Stores value at key as opts says (NULL = a plain set of bytes with no
 * expiry). result may be NULL. To make room it removes expired entries, then
 * entries from the tail of the shard's queue, sparing once an entry read
 * since it was written (unless opts->no_evict; docs/protocol.md). */
int shmlru_write(shmlru_t h, const char *key, size_t key_len, const void *value, size_t value_len,
                 const shmlru_write_opts *opts, shmlru_write_result *result);

/* Removes the entry at key. *deleted (may be NULL) is 1 if there was one. */
int shmlru_delete(shmlru_t h, const char *key, size_t key_len, int *deleted);

/* Adds delta to the number at key and stores the sum in *result. If there
 * is no live entry: with has_init, stores init + delta with the TTL
 * init_ttl_ms (0 = never) and sets *forcible (may be NULL) if live entries
 * were evicted; without, SHMLRU_NOT_FOUND. */
int shmlru_incr(shmlru_t h, const char *key, size_t key_len, double delta, double *result,
                int has_init, double init, int64_t init_ttl_ms, int *forcible);

/* *ttl_ms receives the milliseconds left before the entry at key expires:
 * 0 if it never does, negative (at most -1) if it has expired and is still
 * stored, as ngx.shared.DICT's ttl; SHMLRU_NOT_FOUND if none is stored. */
int shmlru_ttl(shmlru_t h, const char *key, size_t key_len, int64_t *ttl_ms);

/* Sets a new TTL (0 = never expires) on the live entry at key. */
int shmlru_expire(shmlru_t h, const char *key, size_t key_len, int64_t ttl_ms);

/* Pushes an item (SHMLRU_TYPE_BYTES or SHMLRU_TYPE_NUMBER) at the head (lpush)
 * or tail (rpush) of the list at key, creating it if there is no live entry.
 * *length (may be NULL) receives the list's new length. */
int shmlru_lpush(shmlru_t h, const char *key, size_t key_len, const void *item, size_t item_len,
                 int type, size_t *length);
int shmlru_rpush(shmlru_t h, const char *key, size_t key_len, const void *item, size_t item_len,
                 int type, size_t *length);

/* Removes the item at the head (lpop) or tail (rpop) of the list at key and
 * copies it into buf; *item_len and *type (may be NULL) describe it. An
 * emptied list is removed. On SHMLRU_BUFFER_TOO_SMALL, *item_len is the
 * size needed and the item stays in the list. */
int shmlru_lpop(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                size_t *item_len, int *type);
int shmlru_rpop(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                size_t *item_len, int *type);

/* *length receives the length of the list at key (0 if there is none). */
int shmlru_llen(shmlru_t h, const char *key, size_t key_len, size_t *length);

/* Copies up to max_keys keys of live entries (0 = all) into buf, each as a
 * 2-byte length in native byte order (read it with memcpy) followed by the
 * key's bytes. *used receives the bytes written (or needed, on
 * SHMLRU_BUFFER_TOO_SMALL) and *count (may be NULL) the number of keys. */
int shmlru_keys(shmlru_t h, size_t max_keys, void *buf, size_t buf_len, size_t *used,
                size_t *count);

/* Removes every entry. */
int shmlru_flush_all(shmlru_t h);

/* Removes up to max_count expired entries (0 = all); *removed (may be
 * NULL) receives how many. */
int shmlru_flush_expired(shmlru_t h, size_t max_count, size_t *removed);

/* *count receives the number of entries, expired ones not yet removed
 * included. */
int shmlru_len(shmlru_t h, size_t *count);

/* *bytes receives the region's size (ngx.shared.DICT's capacity). */
int shmlru_capacity(shmlru_t h, size_t *bytes);

/* *bytes receives the value storage not in use (ngx.shared.DICT's
 * free_space). */
int shmlru_free_space(shmlru_t h, size_t *bytes);

/* Fills *stats. */
int shmlru_stats_get(shmlru_t h, shmlru_stats *stats);

/* Fills *info with the layout and limits. */
int shmlru_info_get(shmlru_t h, shmlru_info *info);

/* Walks every structure of the region; *problems receives the number of
 * inconsistencies found (0 for a sound cache). Changes nothing. */
int shmlru_check(shmlru_t h, size_t *problems);

/* The release of shmlru this library was built from, "MAJOR.MINOR.PATCH":
 * the version that `shmctl version`, the Lua module's _VERSION and
 * `pkg-config --modversion shmlru` report. A static string, never NULL; do
 * not free it. It never enters the Go runtime, so it also answers in a
 * process forked after the library was loaded. */
const char *shmlru_version(void);

/*
 * Read-through: one loader per missing key among every process on the host.
 *
 * On a miss, shmlru_load_begin. With SHMLRU_LOAD_MINE the caller is the
 * key's loader: it reads the key once more (a load may have ended just
 * before), loads it, writes it with shmlru_load_store, and calls
 * shmlru_load_end whatever happens. With SHMLRU_LOAD_WAITING another
 * caller loads it: shmlru_load_wait until the state changes. None of these
 * calls sleeps longer than its timeout, so an event loop polls with
 * timeout_ms 0; each takes the load table's lock for a moment, which a
 * process stopped while holding it (SIGSTOP, a frozen cgroup) holds up
 * for as long as it stays stopped, as it holds up a shard whose lock it
 * holds. The load's outcome is kept for a waiter for as long as it
 * goes on waiting: in shmlru_load_wait, or polling it at least every
 * second.
 *
 *   SHMLRU_LOAD_DONE    read the key again; if still missing, begin again
 *   SHMLRU_LOAD_ABSENT  the loader found no value: not found
 *   SHMLRU_LOAD_FAILED  the loader failed: its message is in msg
 *   SHMLRU_LOAD_MINE    (from wait) the loader died or its lease ran out:
 *                       the caller took the load over and is the loader
 *
 * A loader's process that dies is noticed by its waiters (every 10 ms of
 * waiting, and on every poll) and one of them takes over. lease_ms bounds
 * how long a live loader keeps the load (0: until it ends it); a loader
 * taken over when its lease ran out can no longer write (SHMLRU_LOAD_LOST
 * from shmlru_load_store and shmlru_load_end). The rules
 * every language follows for what a load writes (TTL, stale window in
 * the flags, SHMLRU_TYPE_NONE for a remembered absence) are lru's; see
 * lru/load.go.
 */
enum {
	SHMLRU_LOAD_MINE      = 1,
	SHMLRU_LOAD_WAITING   = 2,
	SHMLRU_LOAD_DONE      = 3,
	SHMLRU_LOAD_ABSENT    = 4,
	SHMLRU_LOAD_FAILED    = 5,
	SHMLRU_LOAD_ABANDONED = 6, /* load_end only: gave up without an answer; a waiter loads */
	SHMLRU_LOAD_MSG_SIZE  = 88, /* bytes of a failed loader's message that reach its waiters */
	SHMLRU_STALE_FLAG_BIT = 31, /* user flags with this bit set: a value with a stale window
	                             * of (flags & ((1 << SHMLRU_RESURRECT_FLAG_BIT) - 1)) ms,
	                             * fresh until expires minus the window */
	SHMLRU_RESURRECT_FLAG_BIT = 29 /* user flags with this bit set: a value (or absence) a
	                                * failed load resurrected, SHMLRU_LOOK_RESURRECTED until its deadline */
};

/* A caller's place in one load; filled by shmlru_load_begin, opaque but
 * for state. */
typedef struct shmlru_load {
	uint64_t hash;
	uint32_t flight;
	uint32_t seq;
	int32_t  state; /* SHMLRU_LOAD_* */
	uint32_t reserved;
} shmlru_load;

/* Claims the load of key, or joins the one under way: load->state is
 * SHMLRU_LOAD_MINE or SHMLRU_LOAD_WAITING. */
int shmlru_load_begin(shmlru_t h, const char *key, size_t key_len, int64_t lease_ms,
                      shmlru_load *load);

/* Waits at most timeout_ms (0: only looks) on a SHMLRU_LOAD_WAITING load
 * and updates load->state (see above). For SHMLRU_LOAD_FAILED, msg (may be
 * NULL with msg_len 0) receives up to msg_len bytes of the loader's
 * message, not NUL-terminated, and *msg_used (may be NULL) its length.
 * lease_ms is the caller's lease should it take the load over. */
int shmlru_load_wait(shmlru_t h, shmlru_load *load, int64_t timeout_ms, int64_t lease_ms,
                     char *msg, size_t msg_len, size_t *msg_used);

/* Ends the caller's SHMLRU_LOAD_MINE load with an outcome: SHMLRU_LOAD_DONE
 * (the value is written), SHMLRU_LOAD_ABSENT, SHMLRU_LOAD_FAILED with a
 * message (the first 88 bytes reach the waiters) or SHMLRU_LOAD_ABANDONED.
 * Every waiter wakes. SHMLRU_LOAD_LOST if it was taken over meanwhile. */
int shmlru_load_end(shmlru_t h, shmlru_load *load, int outcome, const char *msg, size_t msg_len);

/* shmlru_write for the loader of a SHMLRU_LOAD_MINE load of key: it writes
 * only while the load is still the caller's, and returns SHMLRU_LOAD_LOST,
 * writing nothing, once another caller has taken it over (its lease ran
 * out), so that a late loader never replaces what the new one wrote. A
 * loader writes everything it loads this way (a remembered absence, a
 * resurrected value too). opts->mode must be SHMLRU_MODE_SET. */
int shmlru_load_store(shmlru_t h, const shmlru_load *load, const char *key, size_t key_len,
                      const void *value, size_t value_len, const shmlru_write_opts *opts,
                      shmlru_write_result *result);

/* *clock receives the change count of key's shard: it advances whenever an
 * entry of that shard is written, deleted, given a new TTL or flushed. A
 * copy of the key's value read after the count stays current for as long
 * as the count reads the same. Lock-free, and never enters Go. */
int shmlru_changes(shmlru_t h, const char *key, size_t key_len, uint64_t *clock);

/*
 * Per-process copies (resty.shmlru.mlcache's L1): each shard has
 * invalidation stripes, counts that every change a reader could see (a
 * write, an incr, a list push or pop, a delete, a new TTL, a flush) bumps
 * for its key's stripe, a
 * handful of keys sharing each; and a change ring of the stripes it
 * bumped. Lock-free; they enter Go only when the native path is off.
 *
 *   shmlru_l1_stamp(h, key, n, &stripe, &stamp);   before reading the value
 *   ... read the value (shmlru_get or any read), keep (value, stripe, stamp)
 *   if (shmlru_l1_valid(h, stripe, stamp) == 1)    the copy is current
 *
 * A copy taken after its stamp stays current while the stripe reads the
 * stamp: once a writer's call has returned, in any process, the stripe of
 * the key it changed no longer does (docs/protocol.md, "Invalidation
 * stripes"). Or, instead of checking on every use, a process may keep its
 * copies until it asks shmlru_l1_changes which stripes changed, and drop
 * those of the stripes it reports. Between such calls, shmlru_l1_current
 * says whether the shard of a copy's stripe changed at all since, so that
 * the copy can be used right away while it did not:
 *
 *   shmlru_l1_changes(h, cursors, ...)            drop what it reports
 *   shmlru_l1_stamp(h, key, n, &stripe, &stamp);  then read the value
 *   if (shmlru_l1_valid(h, stripe, stamp) == 1)   keep (value, stripe)
 *   ...
 *   if (shmlru_l1_current(h, cursors, shards, stripe) == 1)   use the copy
 *   else call shmlru_l1_changes first, and use the copy if it is still kept
 *
 * (docs/protocol.md, "Checking a shard instead of a stripe", says why the
 * copy is kept only if its stripe still reads the stamp. A process that
 * wrote the key itself finds its own change in the ring: it calls
 * shmlru_l1_changes before it keeps the copy, or the next call drops it.)
 */

/* *stripe receives key's stripe (below the cache's shards times its
 * stripes per shard) and *stamp the stripe's count now, read before
 * anything the caller reads after the call. */
int shmlru_l1_stamp(shmlru_t h, const char *key, size_t key_len, uint32_t *stripe, uint64_t *stamp);

/* 1 if stripe still reads stamp (a copy taken after it is current), 0 if
 * not; SHMLRU_BAD_ARGUMENT for a stripe out of range; another status on
 * error. */
int shmlru_l1_valid(shmlru_t h, uint32_t stripe, uint64_t stamp);

/* 1 if no change was made in the shard of stripe since cursors (as a
 * shmlru_l1_changes that reported all of the shard's changes left them;
 * ncursors must be shmlru_info's shards), 0 if one was;
 * SHMLRU_BAD_ARGUMENT for a stripe out of range or cursors that are not
 * one per shard; another status on error. Reads cursors only. */
int shmlru_l1_current(shmlru_t h, const uint64_t *cursors, size_t ncursors, uint32_t stripe);

/* Where the caller may read, itself and with no call, what
 * shmlru_l1_current reads: heads (nheads must be shmlru_info's shards)
 * receives a pointer to each shard's change-ring head, and *shift the
 * shift from a stripe to its shard. Then, for a stripe below the cache's
 * shards times its stripes per shard,
 *
 *   *heads[stripe >> shift] == cursors[stripe >> shift]
 *
 * says what shmlru_l1_current(h, cursors, shards, stripe) == 1 says. The
 * words lie in a read-only mapping of the library's own, the ring-head
 * watch, which no fault ends: were the region's file truncated under it,
 * its pages read 0 (never a head), and so do they once h is closed. So a
 * load through them never fails, made before or after close, and a load
 * that reads a head other than the cursor's sends the caller to
 * shmlru_l1_changes, which reports what happened. The pointers stay valid
 * for the life of the process. Load each word whole (an aligned 64-bit
 * load), and afresh at every check: through a volatile pointer, as
 * declared, where the compiler honours volatile (LuaJIT's does not: see
 * resty.shmlru.mlcache's watch_heads for what keeps its load). Returns
 * 1 once heads and *shift are set; 0 where the library has no watch for
 * h (its native path does not serve h, or no longer
 * does), where the caller calls shmlru_l1_current instead, which answers
 * or says why; SHMLRU_BAD_ARGUMENT for heads or shift NULL or not
 * writable, or nheads other than the shards; another status on error.
 * A fault in the watch is handled by the library's signal handler, as the
 * faults of its calls are: see the top of this file for a host's own. */
int shmlru_l1_heads(shmlru_t h, const volatile uint64_t **heads, size_t nheads, uint32_t *shift);

/* The stripes changed since cursors: out (out_len slots) receives up to
 * out_len stripe indexes, *n how many; a stripe may come more than once.
 * cursors holds one count per shard (ncursors must be shmlru_info's
 * shards); each moves past what was reported. Start every cursor at
 * UINT64_MAX, which means "from now on": it is set to the shard's present
 * position and reports nothing. *lapped is set to 1 when a shard changed
 * more than its ring holds since its cursor, or was flushed: what changed
 * there is not known, and the caller drops every copy. With *n == out_len
 * there may be more: call again. On SHMLRU_BAD_ARGUMENT no cursor moved;
 * on another error some may have, past changes not reported: the caller
 * drops every copy, as for a lap. */
int shmlru_l1_changes(shmlru_t h, uint64_t *cursors, size_t ncursors, uint32_t *out, size_t out_len, size_t *n,
                      int *lapped);

/*
 * Tracking: entries kept in step with an outside store (Redis) by one agent
 * process on the host, which applies the store's change messages to the
 * cache (lru/track.go; the agent is Go's, module near). Every process reads
 * and fills tracked keys; none of these calls is the agent's.
 *
 * A tracked entry carries, as its user flags, the generation it was filled
 * in. It may be served only while the cache is in step with the store and
 * its flags equal the current generation. A tracked read is one call,
 * shmlru_get_tracked, which reads both and the entry at one instant (no
 * lock, never enters Go on a hit, a miss or out of step):
 *
 *   rc = shmlru_get_tracked(h, key, key_len, buf, buf_len, &n, &meta);
 *   SHMLRU_OK           hit: the value, or, if meta.type == SHMLRU_TYPE_NONE,
 *                       a cached absence (the store has no value)
 *   SHMLRU_NOT_FOUND    nothing servable cached: fill it (below)
 *   SHMLRU_NOT_IN_STEP  read the store, cache nothing
 *
 * Do not build it from shmlru_get and shmlru_tracked_gen: two calls see
 * two instants. With the generation read after the get, the agent can
 * apply a change to the key and confirm again in between; read before, it
 * can drop every tracked entry in between. Either way a copy older than the
 * store's change passes for current.
 *
 * A fill: shmlru_fill_begin BEFORE reading the store, then
 * shmlru_fill_store with the guard it filled. The store is refused
 * (*stored 0, still SHMLRU_OK) if the key was invalidated or every tracked
 * entry was dropped since fill_begin: the value read may be older than the
 * store's change, and nothing would remove it. A refused fill's value may
 * still be returned to its caller: it was the store's when it was read.
 * Go's Tracker.Get, BeginFill and StoreFill are the same protocol.
 */

/* The tracked read: copies key's tracked entry into buf (buf may be NULL
 * if buf_len is 0) if the cache is in step with its store and the entry
 * was filled in the current generation, as shmlru_get does otherwise
 * (*value_len, meta; on SHMLRU_BUFFER_TOO_SMALL the length needed, and
 * nothing counted). SHMLRU_NOT_FOUND: no such entry (absent, expired, or
 * of an older generation): fill it. SHMLRU_NOT_IN_STEP: read the store and
 * do not fill. Whether the cache is in step, the generation and the entry
 * are read at one instant, as lru's Tracker.Get reads them under the
 * shard's lock. */
int shmlru_get_tracked(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                       size_t *value_len, shmlru_meta *meta);

/* What shmlru_fill_begin gives and shmlru_fill_store takes back: the
 * generation and the key's invalidation count as they were before the store was
 * read (lru.FillTicket; the name is older than Go's). Opaque: fill it
 * only with shmlru_fill_begin. */
typedef struct shmlru_guard {
	uint32_t gen;
	uint32_t slot;
	uint32_t count;
} shmlru_guard;

/* *gen receives the generation a tracked entry's flags must equal to be
 * served, or 0 if the cache is not in step with its store now (then read
 * the store, and do not fill). Lock-free, and never enters Go. For a
 * tracked read use shmlru_get_tracked (see above). */
int shmlru_tracked_gen(shmlru_t h, uint32_t *gen);

/* Starts a fill of key: call it before reading the store. On SHMLRU_OK
 * *guard is the fill's guard, for shmlru_fill_store. SHMLRU_NOT_IN_STEP:
 * the cache is not in step, so whatever the store says must not be
 * cached. On any status but SHMLRU_OK *guard is zeroed (a zero guard is
 * refused by shmlru_fill_store). */
int shmlru_fill_begin(shmlru_t h, const char *key, size_t key_len, shmlru_guard *guard);

/* Stores what the store said of key as a tracked entry: value (bytes,
 * SHMLRU_TYPE_BYTES) or, with absent non-zero, a cached absence
 * (SHMLRU_TYPE_NONE; value_len must be 0), for ttl_ms (0 = until
 * invalidated or evicted), with the generation of guard as its flags.
 * *stored (may be NULL) is 1 if it was stored, 0 if refused because the
 * key changed since shmlru_fill_begin issued guard (see above). A guard
 * shmlru_fill_begin did not fill: SHMLRU_BAD_ARGUMENT. */
int shmlru_fill_store(shmlru_t h, const char *key, size_t key_len, const void *value, size_t value_len,
                      int absent, int64_t ttl_ms, const shmlru_guard *guard, int *stored);

/*
 * The read-through's rules, for a caller that claims, waits on and ends
 * loads itself and runs its loader in its own language (resty.shmlru's
 * get_or_load does): what a key holds for a read-through, what a loader
 * writes and how its load ends are decided by these calls, which are
 * lru/load.go's (Go's Cache.Load takes the same steps), never by the
 * caller:
 *
 *   shmlru_load_look      hit (SHMLRU_LOOK_FRESH, _ABSENT), serve stale
 *                         while one caller refreshes (_SOFT_STALE), or
 *                         load (_MISS, _EXPIRED: a value, or an absence
 *                         of meta.type SHMLRU_TYPE_NONE, to resurrect)
 *   shmlru_load_begin     claim, or wait (above)
 *   shmlru_load_prepare   the loader's look again, and a tracked load's
 *                         guard; then run the loader
 *   shmlru_load_finish    write what it returned and end the load
 *
 * A load a waiter finds SHMLRU_LOAD_DONE is looked at again with
 * shmlru_load_look.
 */
enum {
	SHMLRU_DEFAULT_LEASE_MS = 30000, /* lease_ms a caller uses unless told otherwise */

	/* shmlru_look.state */
	SHMLRU_LOOK_MISS       = 0, /* nothing: load */
	SHMLRU_LOOK_FRESH      = 1, /* a value to serve */
	SHMLRU_LOOK_ABSENT     = 2, /* a remembered absence to serve */
	SHMLRU_LOOK_SOFT_STALE = 3, /* a value past its fresh time: serve it, and refresh it */
	SHMLRU_LOOK_EXPIRED    = 4, /* an expired value or absence: load; resurrect it should the loader fail */
	SHMLRU_LOOK_RESURRECTED = 5, /* a live value or absence (type SHMLRU_TYPE_NONE) a failed load
	                              * resurrected: serve it, as SHMLRU_SOURCE_RESURRECTED */

	/* shmlru_load_finish's outcome: how the loader ended */
	SHMLRU_LOADED_VALUE    = 1, /* it returned value: cache it */
	SHMLRU_LOADED_ABSENT   = 2, /* the key has no value */
	SHMLRU_LOADED_FAILED   = 3, /* it failed with msg (value: an expired one to resurrect, or NULL; type SHMLRU_TYPE_NONE: an expired absence to resurrect) */
	SHMLRU_LOADED_GAVE_UP  = 4, /* its caller went away: a waiter loads */
	SHMLRU_LOADED_UNCACHED = 5, /* it returned a value its caller keeps to itself */

	/* shmlru_load_answer.source, as lru.Source */
	SHMLRU_SOURCE_HIT         = 0,
	SHMLRU_SOURCE_LOADED      = 1,
	SHMLRU_SOURCE_WAITED      = 2,
	SHMLRU_SOURCE_STALE       = 3,
	SHMLRU_SOURCE_RESURRECTED = 4
};

/* How a read-through caches what its loader returns (lru.LoadOptions). */
typedef struct shmlru_load_opts {
	int64_t  ttl_ms;           /* a loaded value's TTL; 0: never expires */
	int64_t  neg_ttl_ms;       /* a remembered absence's TTL; 0: never expires;
	                            * negative: absences are not remembered */
	int64_t  stale_ttl_ms;     /* served stale this long after ttl_ms while one
	                            * caller refreshes it; needs ttl_ms; 0: none; at
	                            * most 2^29-1 (SHMLRU_RESURRECT_FLAG_BIT's bits) */
	int64_t  resurrect_ttl_ms; /* a failed load serves an expired value (or absence)
	                            * and keeps it this long, marked; 0: the failure
	                            * goes to every waiter */
	uint8_t  tracked;          /* 1: a tracked key (see below); excludes stale and resurrect */
	uint8_t  reserved[7];      /* 0 */
} shmlru_load_opts;

/* What shmlru_load_look (and _prepare) found. */
typedef struct shmlru_look {
	int64_t  fresh_ms; /* FRESH, ABSENT: Unix ms until which it is fresh (0: no expiry) */
	int32_t  state;    /* SHMLRU_LOOK_* */
	uint32_t reserved;
} shmlru_look;

/* What shmlru_load_finish answers the loader's caller with. */
typedef struct shmlru_load_answer {
	uint64_t version;  /* kept: the entry's version */
	int64_t  fresh_ms; /* kept: Unix ms until which the answer is fresh (0: no expiry) */
	int32_t  source;   /* SHMLRU_SOURCE_LOADED, or _RESURRECTED: the answer is the
	                    * value given with SHMLRU_LOADED_FAILED */
	uint8_t  kept;     /* 1: the answer is cached; the caller may keep a copy until fresh_ms */
	uint8_t  reserved[3];
} shmlru_load_answer;

/* SHMLRU_OK if opts are options a read-through takes; else the status
 * (SHMLRU_BAD_TTL, SHMLRU_BAD_OPTIONS, SHMLRU_BAD_ARGUMENT) and what is wrong
 * in errbuf (may be NULL with errbuf_len 0; NUL-terminated, at most
 * SHMLRU_ERRBUF_SIZE bytes used). */
int shmlru_load_check(const shmlru_load_opts *opts, char *errbuf, size_t errbuf_len);

/* Reads key as a read-through (tracked 1: a tracked key's, see below)
 * into buf, as shmlru_get (SHMLRU_BUFFER_TOO_SMALL: *value_len is the
 * room needed), and says what it found in *look; meta may be NULL. A miss
 * is SHMLRU_OK with SHMLRU_LOOK_MISS. A tracked look returns
 * SHMLRU_NOT_IN_STEP while the cache is not in step with its store: run the
 * loader, cache nothing. */
int shmlru_load_look(shmlru_t h, const char *key, size_t key_len, int tracked, void *buf,
                     size_t buf_len, size_t *value_len, shmlru_meta *meta, shmlru_look *look);

/* The first step of the loader of a SHMLRU_LOAD_MINE load: looks at key
 * again as shmlru_load_look. SHMLRU_LOOK_FRESH, _ABSENT or _RESURRECTED: a
 * load that ended just before wrote it; the load is ended, and that is the
 * answer (a waiter's, or for _RESURRECTED a resurrected one). Otherwise run the loader, then shmlru_load_finish with
 * *guard (a tracked load's fill guard, taken here before the loader reads
 * the store). SHMLRU_NOT_IN_STEP (a tracked load out of step): the load is
 * abandoned; run the loader, cache nothing. SHMLRU_BUFFER_TOO_SMALL: nothing
 * was done; retry with *value_len bytes of room. */
int shmlru_load_prepare(shmlru_t h, shmlru_load *load, const char *key, size_t key_len,
                        const shmlru_load_opts *opts, void *buf, size_t buf_len,
                        size_t *value_len, shmlru_meta *meta, shmlru_look *look,
                        shmlru_guard *guard);

/* The last step of the loader of a SHMLRU_LOAD_MINE load: writes what the
 * loader returned (outcome; value of type and user flags, or for
 * SHMLRU_LOADED_FAILED its message msg and an expired value to resurrect)
 * as opts say, and ends the load with the outcome its waiters act on.
 * flags may not have bit SHMLRU_STALE_FLAG_BIT, the mark of a stale
 * window (which opts give), nor SHMLRU_RESURRECT_FLAG_BIT, the mark of a
 * resurrected value (which SHMLRU_LOADED_FAILED sets). guard is shmlru_load_prepare's (may be NULL
 * for an untracked load).
 * load NULL writes a SHMLRU_LOADED_VALUE or _ABSENT outside any load, by
 * the same rules. A status other than SHMLRU_OK is the ending's (or the
 * arguments'); *answer says what the caller gets. */
int shmlru_load_finish(shmlru_t h, shmlru_load *load, const char *key, size_t key_len,
                       const shmlru_load_opts *opts, const shmlru_guard *guard, int outcome,
                       const void *value, size_t value_len, int type, uint32_t flags,
                       const char *msg, size_t msg_len, shmlru_load_answer *answer);

#ifdef __cplusplus
}
#endif

#endif /* SHMLRU_H */
