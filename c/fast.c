/*
 * The native read path: get, get_stale, ttl, llen, incr of a live number,
 * a set that overwrites an entry in place, the shard's change clock and
 * the tracking generation, served in C over the region
 * without entering Go. Everything else, and everything unusual, is left to
 * Go (SHMLRU_FAST_FALLBACK), which stays the one owner of waiting, dead-owner
 * takeover, repair, allocation and eviction: a shard lock still busy after
 * a short spin, a dirty mark, an index out of range, an entry stored as a
 * chain of pieces (rare: only when no free run was long enough for it), a
 * value larger than the caller's buffer, a write that needs the allocator
 * (a value of another size in units).
 *
 * It follows lru's protocol to the letter (lru/shard.go, storage.go,
 * queue.go, read.go, write.go, incr.go), so that a process killed anywhere
 * in it is recovered exactly as one killed in Go: every change but an LRU
 * move is bracketed by the dirty mark; an LRU move is made without it, and
 * a queue left half relinked is rebuilt by whoever takes the lock over. c/native_test.go holds the two
 * implementations together by running the same random operations through
 * both on twin regions and comparing everything.
 *
 * Every index read from the region is range-checked before use and every
 * walk is bounded, as in Go; a check that fails leaves the shard as it is
 * and the call to Go, which finds the same inconsistency and resets the
 * shard. A fault on the mapping (a truncated file) is turned by guard.c into
 * zero pages and the broken flag; a fault on the caller's memory returns
 * through the call's escape (struct shmlru_fast_call).
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fast.h"
#include "shmlru.h"
#include "xxh64.h"

SHMLRU_HIDDEN struct shmlru_fast shmlru_fast_handles[SHMLRU_FAST_HANDLES];
SHMLRU_HIDDEN __thread struct shmlru_fast_call *shmlru_fast_cur __attribute__((tls_model("initial-exec")));

/*
 * Test hooks, not part of the ABI: a test program calls shmlru__test_stop
 * with a point's number, and the fast path stops there with the shard
 * locked: it calls fn if one is given, or else prints "at NAME" on stdout
 * and sleeps, for the test to SIGKILL it. A function, not a variable the
 * program sets: the library's own references to its variables are bound
 * inside it, so a program's copy of one would not be the library's.
 */
enum { HOOK_TOUCH_UNLINKED = 1, HOOK_INCR_WRITTEN = 2, HOOK_OVERWRITE_COPIED = 3, HOOK_OVERWRITE_START = 4 };
static volatile int stop_at;
static void (*volatile stop_fn)(void);

void shmlru__test_stop(int point, void (*fn)(void))
{
	stop_fn = fn;
	stop_at = point;
}

static void hook(int point, const char *name)
{
	if (stop_at != point)
		return;
	if (stop_fn != NULL) {
		stop_fn();
		return;
	}
	char line[64];
	int n = snprintf(line, sizeof line, "at %s\n", name);
	if (write(1, line, (size_t)n) < 0) {
		/* nothing to do: the test sees no line and fails */
	}
	for (;;)
		pause();
}

#define BAD SHMLRU_FAST_FALLBACK /* an inconsistency: Go will find it too */

/* ---- entering and leaving ---- */

static inline int enter(uint64_t h, struct shmlru_fast_call *call, struct shmlru_fast **out)
{
	if (h == 0)
		return 0;
	struct shmlru_fast *f = &shmlru_fast_handles[(h - 1) % SHMLRU_FAST_HANDLES];
	/* Announce first, then check: close clears id first, then waits for
	 * inflight to drain (seq_cst on both sides, so one sees the other). */
	__atomic_add_fetch(&f->inflight, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&f->id, __ATOMIC_SEQ_CST) != h || __atomic_load_n(&f->broken, __ATOMIC_RELAXED)) {
		__atomic_sub_fetch(&f->inflight, 1, __ATOMIC_SEQ_CST);
		return 0;
	}
	call->f = f;
	call->locked = NULL;
	call->faulted = 0;
	*out = f;
	return 1;
}

static inline void leave(struct shmlru_fast *f)
{
	shmlru_fast_cur = NULL;
	__atomic_sub_fetch(&f->inflight, 1, __ATOMIC_SEQ_CST);
}

/* A result this call computed over a page of the mapping that is gone is
 * not to be trusted: Go answers instead (with SHMLRU_CORRUPT). Only this
 * call's own fault counts: another thread's, on a page this call never
 * read, leaves this call's result (and a change it made) as valid as it
 * is, and handing such a call to Go would make its change twice. */
static inline int finish(struct shmlru_fast *f, int rc)
{
	struct shmlru_fast_call *call = shmlru_fast_cur;
	if (call != NULL && call->faulted)
		rc = SHMLRU_FAST_FALLBACK;
	leave(f);
	return rc;
}

/* ---- the shard lock (shm/mutex.go) ---- */

static inline int lock(struct shmlru_fast *f, struct shmlru_l_shard_header *sh)
{
	for (int i = 0; i < SHMLRU_FAST_SPINS; i++) {
		uint32_t zero = 0;
		if (__atomic_load_n(&sh->lock, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&sh->lock, &zero, f->token, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
			shmlru_fast_cur->locked = sh;
			/* A dirty mark under a free lock: no owner to take over
			 * from, and Go resets such a shard on its next acquire. */
			if (__atomic_load_n(&sh->dirty, __ATOMIC_SEQ_CST) == 0)
				return 1;
			return 0;
		}
		__builtin_ia32_pause();
	}
	return 0;
}

/* unlock releases the lock. Over a dirty mark (a change cut short by a
 * fault) it leaves the orphan token instead, as lru's ReleaseOrphan does:
 * the next acquire takes the lock over and resets the shard, and no
 * observer reads the half-made change in the meantime. */
static inline void unlock(struct shmlru_l_shard_header *sh)
{
	shmlru_fast_cur->locked = NULL;
	if (__atomic_load_n(&sh->dirty, __ATOMIC_SEQ_CST) != 0) {
		__atomic_exchange_n(&sh->lock, SHMLRU_L_SHM_ORPHAN_TOKEN, __ATOMIC_SEQ_CST);
		syscall(SYS_futex, &sh->lock, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
		return;
	}
	if (__atomic_exchange_n(&sh->lock, 0, __ATOMIC_SEQ_CST) & SHMLRU_L_SHM_WAITERS_BIT)
		syscall(SYS_futex, &sh->lock, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* clean clears the dirty mark after a change, unless the change ran over a
 * page that is gone: then the mark stays, and unlock leaves an orphan. */
static inline void clean(struct shmlru_l_shard_header *sh)
{
	if (!shmlru_fast_cur->faulted)
		__atomic_store_n(&sh->dirty, 0, __ATOMIC_SEQ_CST);
}

/* unlock_if_held releases a lock that lock() took and then declined. */
static inline void unlock_if_held(struct shmlru_l_shard_header *sh)
{
	if (shmlru_fast_cur->locked == sh)
		unlock(sh);
}

/* escaped is where a fault on the caller's memory lands (guard.c jumps to
 * the call's escape). A lock still held is released; if a change was
 * under way its dirty mark stays, and unlock leaves an orphan: the next
 * acquire resets the shard, and no observer reads the half-made change. */
static int escaped(struct shmlru_fast *f)
{
	struct shmlru_l_shard_header *sh = shmlru_fast_cur->locked;
	if (sh != NULL)
		unlock(sh);
	return finish(f, SHMLRU_BAD_ARGUMENT);
}

/* ---- layout (lru/layout.go, lru/storage.go, lru/queue.go) ---- */

static inline struct shmlru_l_shard_header *shard_of(const struct shmlru_fast *f, uint64_t hash)
{
	uint32_t i = shmlru_shard_of(hash, f->shards, f->shard_shift);
	return (struct shmlru_l_shard_header *)(f->data + SHMLRU_L_CACHE_HEADER_SIZE + (uint64_t)i * f->stride);
}

static inline uint32_t *buckets_of(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh)
{
	return (uint32_t *)((unsigned char *)sh + f->buckets_off);
}

/* unit returns the address of heap unit u of shard sh; an entry index is
 * the unit its header starts at. */
static inline unsigned char *unit(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u)
{
	return (unsigned char *)sh + f->heap_off + (uint64_t)u * SHMLRU_L_UNIT_SIZE;
}

static inline struct shmlru_l_entry *ent(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u)
{
	return (struct shmlru_l_entry *)unit(f, sh, u);
}

static inline struct shmlru_l_entry_ext *ext_of(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u)
{
	return (struct shmlru_l_entry_ext *)unit(f, sh, u + SHMLRU_L_ENTRY_HEADER_SIZE / SHMLRU_L_UNIT_SIZE);
}

/* valid: an entry header can start at unit u (lru's ent: it lies in the
 * heap, and u is not the unused unit 0). */
static inline int valid(const struct shmlru_fast *f, uint32_t u)
{
	return u != 0 && (uint64_t)u + SHMLRU_L_ENTRY_HEADER_SIZE / SHMLRU_L_UNIT_SIZE <= f->nunits;
}

/* entry_ok is lru's checkEntry. */
static inline int entry_ok(const struct shmlru_fast *f, const struct shmlru_l_entry *e)
{
	uint32_t klen = shmlru_l_klen(e);
	return klen != 0 && klen <= f->max_key && e->vlen <= f->max_value && shmlru_l_typ(e) < SHMLRU_L_NUM_TYPES;
}

/* flat is lru's flat: the payload (key, then value) of the valid entry at
 * u, checked to lie in the heap, or NULL if the entry is a chain of pieces
 * or its lengths are out of range. The C path never walks a chain: chains
 * are rare (a write finds no free run long enough), and Go serves them. */
static unsigned char *flat(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u, const struct shmlru_l_entry *e)
{
	if (!entry_ok(f, e))
		return NULL;
	uint64_t off = SHMLRU_L_ENTRY_HEADER_SIZE;
	if (shmlru_l_has_ext(e)) {
		if ((uint64_t)u + (SHMLRU_L_ENTRY_HEADER_SIZE + SHMLRU_L_ENTRY_EXT_SIZE) / SHMLRU_L_UNIT_SIZE > f->nunits ||
		    ext_of(f, sh, u)->more != 0)
			return NULL;
		off += SHMLRU_L_ENTRY_EXT_SIZE;
	}
	if ((uint64_t)u * SHMLRU_L_UNIT_SIZE + off + shmlru_l_klen(e) + e->vlen > (uint64_t)f->nunits * SHMLRU_L_UNIT_SIZE)
		return NULL;
	return unit(f, sh, u) + off;
}

/* flags_of is lru's flagsOf, for an entry flat accepted. */
static inline uint32_t flags_of(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u, const struct shmlru_l_entry *e)
{
	return shmlru_l_has_ext(e) ? ext_of(f, sh, u)->flags : 0;
}

/* find returns key's entry in its bucket chain and its payload (*payload),
 * 0 if absent, or BAD_INDEX when it cannot decide here: a chain that is
 * not whole, or an entry with a key of the same length that is stored in
 * pieces (whose key Go compares) or whose lengths are out of range (which
 * Go finds corrupt). */
#define BAD_INDEX UINT32_MAX

static uint32_t find(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, const char *key, size_t klen, uint64_t hash,
                     unsigned char **payload)
{
	uint32_t u = buckets_of(f, sh)[shmlru_bucket_of(hash, f->nbuckets)];
	for (uint32_t n = 0; u != 0; n++) {
		if (n >= f->nunits || !valid(f, u))
			return BAD_INDEX;
		struct shmlru_l_entry *e = ent(f, sh, u);
		if (shmlru_l_klen(e) == klen) {
			unsigned char *p = flat(f, sh, u, e);
			if (p == NULL)
				return BAD_INDEX;
			if (memcmp(p, key, klen) == 0) {
				*payload = p;
				return u;
			}
		}
		u = e->hnext;
	}
	return 0;
}

/* now_ms is lru's clock: the wall clock in Unix milliseconds. */
static inline int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* expired: lru's expiredAt, reading the clock only for an entry with a
 * deadline, at most once per call (*now 0 until read). */
static inline int expired(const struct shmlru_l_entry *e, int64_t *now)
{
	int64_t x = shmlru_l_expires(e);
	if (x == 0)
		return 0;
	if (*now == 0)
		*now = now_ms();
	return x <= *now;
}

/* touch_ok: touch can move entry u, every index it will follow in range.
 * A change that ends with a touch checks this before it begins, so that it
 * never stops halfway (and never leaves to Go a change already made). */
static inline int touch_ok(const struct shmlru_fast *f, const struct shmlru_l_shard_header *sh, uint32_t u, const struct shmlru_l_entry *e)
{
	if (sh->head == u)
		return 1;
	return valid(f, sh->head) && valid(f, e->prev) && (e->next != 0 ? valid(f, e->next) : sh->tail == u);
}

/* touch is lru's touch: the one change made without the dirty mark. Every
 * index it will follow is checked before it changes anything. */
static int touch(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u, struct shmlru_l_entry *e)
{
	uint32_t head = sh->head;
	if (head == u)
		return 0;
	uint32_t p = e->prev, n = e->next;
	if (!touch_ok(f, sh, u, e))
		return BAD;
	ent(f, sh, p)->next = n;
	if (n != 0)
		ent(f, sh, n)->prev = p;
	else
		sh->tail = p;
	hook(HOOK_TOUCH_UNLINKED, "touch-unlinked");
	e->prev = 0;
	e->next = head;
	ent(f, sh, head)->prev = u;
	sh->head = u;
	return 0;
}

/* probe reads one byte of every page of the caller's b, and its last, so
 * that memory which would fault faults before the shard is locked. */
static inline void probe(const void *b, size_t n)
{
	const volatile unsigned char *p = b;
	for (size_t i = 0; i < n; i += 4096)
		(void)p[i];
	if (n > 0)
		(void)p[n - 1];
}

/* key_fits: the key is one the cache accepts (anything else is refused
 * by Go, with its status). */
static inline int key_fits(const struct shmlru_fast *f, const char *key, size_t klen)
{
	return key != NULL && klen != 0 && klen <= f->max_key;
}

/*
 * BEGIN(h, key, klen, ok): how every operation starts, written once, and a
 * macro because sigsetjmp must be called in the operation's own frame. It
 * takes the handle (ok: the operation's own arguments allow the native path
 * to try, checked first), checks that the key can be looked up here, sets
 * the escape for a fault on the caller's memory, and hashes the key to its
 * shard. It declares call, f, hash and sh, and returns from the operation
 * when the call goes to Go. LOCK() then takes sh's lock, or returns.
 */
#define BEGIN(h, key, klen, ok)                                         \
	struct shmlru_fast_call call;                                   \
	struct shmlru_fast *f;                                          \
	if (!(ok) || !enter(h, &call, &f))                              \
		return SHMLRU_FAST_FALLBACK;                            \
	if (!key_fits(f, key, klen))                                    \
		return finish(f, SHMLRU_FAST_FALLBACK);                 \
	if (sigsetjmp(call.escape, 0))                                  \
		return escaped(f);                                      \
	shmlru_fast_cur = &call;                                        \
	uint64_t hash = shmlru_xxh64(key, klen);                        \
	struct shmlru_l_shard_header *sh = shard_of(f, hash)

#define LOCK()                                                          \
	do {                                                            \
		if (!lock(f, sh)) {                                     \
			unlock_if_held(sh);                             \
			return finish(f, SHMLRU_FAST_FALLBACK);         \
		}                                                       \
	} while (0)

/* ---- operations ---- */

/* lru's Read (not Peek). stale_ok is get_stale. */
SHMLRU_HIDDEN int shmlru_fast_get(uint64_t h, const char *key, size_t klen, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta, int stale_ok)
{
	BEGIN(h, key, klen, value_len != NULL && (buf != NULL || buf_len == 0));
	LOCK();
	int rc;
	int64_t now = 0;
	int stale = 0;
	unsigned char *p = NULL;
	uint32_t i = find(f, sh, key, klen, hash, &p);
	struct shmlru_l_entry *e = NULL;
	if (i == BAD_INDEX) {
		rc = BAD;
		goto out;
	}
	if (i != 0) {
		e = ent(f, sh, i);
		if (expired(e, &now)) {
			if (!stale_ok)
				i = 0;
			stale = 1;
		}
	}
	if (i == 0) {
		sh->stats.misses++;
		rc = SHMLRU_NOT_FOUND;
		goto out;
	}
	if (shmlru_l_typ(e) == SHMLRU_L_TYPE_LIST || e->vlen > buf_len) {
		/* A list is read with the list functions; a value that does not
		 * fit is measured by Go, which changes nothing then. */
		rc = SHMLRU_FAST_FALLBACK;
		goto out;
	}
	/* lru's order: count, move, copy; everything that could stop it
	 * halfway (the LRU links; find checked the payload) is checked first,
	 * so that none of it is done twice. */
	if (!touch_ok(f, sh, i, e)) {
		rc = BAD;
		goto out;
	}
	sh->stats.hits++;
	touch(f, sh, i, e);
	/* The entry is contiguous: its value is one copy. */
	if (e->vlen > 0)
		memcpy(buf, p + klen, e->vlen);
	*value_len = e->vlen;
	if (meta != NULL) {
		meta->version = e->version;
		meta->expires_ms = shmlru_l_expires(e);
		meta->flags = flags_of(f, sh, i, e);
		meta->type = (uint8_t)shmlru_l_typ(e);
		meta->stale = (uint8_t)stale;
	}
	rc = SHMLRU_OK;
out:
	unlock(sh);
	return finish(f, rc);
}

/* lru's Changes: the shard's change clock, read without the lock (see
 * lru's shardHeader.clock: writers advance it under the lock, and a reader
 * that reads the same clock twice knows no change came in between). */
SHMLRU_HIDDEN int shmlru_fast_changes(uint64_t h, const char *key, size_t klen, uint64_t *clock)
{
	BEGIN(h, key, klen, clock != NULL);
	*clock = __atomic_load_n(&sh->clock, __ATOMIC_ACQUIRE);
	return finish(f, SHMLRU_OK);
}

/* mono_ns is lru's TrackClock (the Go runtime's nanotime): CLOCK_MONOTONIC
 * in nanoseconds, the same clock in every process of the host. */
static inline int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* lru's track.gen: the generation if the cache is in step, else 0. No
 * lock: the agent writes both words with atomics. Loaded in lru's order,
 * the in-step instant first (InvalidateAll clears it before it advances
 * the generation). A fault on gen (the caller's) returns through the
 * escape; one on the mapping marks the call faulted, and Go answers. */
SHMLRU_HIDDEN int shmlru_fast_tracked_gen(uint64_t h, uint32_t *gen)
{
	struct shmlru_fast_call call;
	struct shmlru_fast *f;
	if (gen == NULL || !enter(h, &call, &f))
		return SHMLRU_FAST_FALLBACK;
	if (f->track_off == 0)
		return finish(f, SHMLRU_FAST_FALLBACK);
	if (sigsetjmp(call.escape, 0))
		return escaped(f);
	shmlru_fast_cur = &call;
	struct shmlru_l_track_table *t = (struct shmlru_l_track_table *)(f->data + f->track_off);
	int64_t until = __atomic_load_n(&t->in_step, __ATOMIC_ACQUIRE);
	uint32_t g = 0;
	if (until != 0 && mono_ns() < until)
		g = __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
	*gen = g;
	return finish(f, SHMLRU_OK);
}

/* lru's TTL: no LRU move, no counters. */
SHMLRU_HIDDEN int shmlru_fast_ttl(uint64_t h, const char *key, size_t klen, int64_t *ttl_ms)
{
	BEGIN(h, key, klen, ttl_ms != NULL);
	LOCK();
	int rc = SHMLRU_NOT_FOUND;
	int64_t now = 0;
	unsigned char *p;
	uint32_t i = find(f, sh, key, klen, hash, &p);
	if (i == BAD_INDEX) {
		rc = BAD;
	} else if (i != 0) {
		struct shmlru_l_entry *e = ent(f, sh, i);
		if (!expired(e, &now)) {
			int64_t x = shmlru_l_expires(e);
			*ttl_ms = x == 0 ? 0 : x - now;
			rc = SHMLRU_OK;
		}
	}
	unlock(sh);
	return finish(f, rc);
}

/* lru's LLen: a get of the list (a hit moves it, as Get does), counted. */
SHMLRU_HIDDEN int shmlru_fast_llen(uint64_t h, const char *key, size_t klen, size_t *length)
{
	BEGIN(h, key, klen, length != NULL);
	LOCK();
	int rc;
	int64_t now = 0;
	unsigned char *p = NULL;
	uint32_t i = find(f, sh, key, klen, hash, &p);
	struct shmlru_l_entry *e = NULL;
	if (i == BAD_INDEX) {
		rc = BAD;
		goto out;
	}
	if (i != 0 && expired(e = ent(f, sh, i), &now))
		i = 0;
	if (i == 0) {
		sh->stats.misses++;
		*length = 0;
		rc = SHMLRU_OK;
		goto out;
	}
	/* Count the items where they lie: the entry is contiguous. */
	size_t count = 0;
	if (shmlru_l_typ(e) == SHMLRU_L_TYPE_LIST) {
		const unsigned char *v = p + klen;
		size_t left = e->vlen;
		while (left > 0) {
			uint32_t l;
			if (left < 5)
				break;
			memcpy(&l, v + 1, sizeof l);
			if ((v[0] != SHMLRU_L_TYPE_BYTES && v[0] != SHMLRU_L_TYPE_NUMBER) || l > left - 5 ||
			    (v[0] == SHMLRU_L_TYPE_NUMBER && l != 8))
				break;
			v += 5 + l;
			left -= 5 + (size_t)l;
			count++;
		}
		if (left != 0) {
			rc = SHMLRU_FAST_FALLBACK; /* malformed: Go says so */
			goto out;
		}
	}
	if ((rc = touch(f, sh, i, e)) != 0)
		goto out;
	sh->stats.hits++;
	if (shmlru_l_typ(e) != SHMLRU_L_TYPE_LIST) {
		rc = SHMLRU_NOT_LIST;
		goto out;
	}
	*length = count;
	rc = SHMLRU_OK;
out:
	unlock(sh);
	return finish(f, rc);
}

/* lru's incr of a live number, in place: the rate limiter's hot path.
 * Anything else (no entry, an expired one, init, a number stored in
 * pieces) is Go's. */
SHMLRU_HIDDEN int shmlru_fast_incr(uint64_t h, const char *key, size_t klen, double delta, double *result, int *forcible)
{
	BEGIN(h, key, klen, result != NULL);
	LOCK();
	int rc = SHMLRU_FAST_FALLBACK;
	int64_t now = 0;
	unsigned char *p = NULL;
	uint32_t i = find(f, sh, key, klen, hash, &p);
	if (i == BAD_INDEX || i == 0)
		goto out;
	struct shmlru_l_entry *e = ent(f, sh, i);
	if (expired(e, &now))
		goto out;
	if (shmlru_l_typ(e) != SHMLRU_L_TYPE_NUMBER) {
		rc = SHMLRU_NOT_NUMBER;
		goto out;
	}
	if (e->vlen != 8 || !touch_ok(f, sh, i, e))
		goto out;
	/* After a key of any length: not aligned, so copied. */
	unsigned char *v = p + klen;
	double x;
	memcpy(&x, v, sizeof x);
	x += delta;
	__atomic_store_n(&sh->dirty, 1, __ATOMIC_SEQ_CST);
	memcpy(v, &x, sizeof x);
	hook(HOOK_INCR_WRITTEN, "incr-written");
	e->version = ++sh->clock;
	sh->stats.sets++;
	clean(sh);
	touch(f, sh, i, e); /* touch_ok was checked before the change */
	/* From here on the change is made: whatever the caller's memory does,
	 * it is never handed to Go to be made again. */
	rc = SHMLRU_OK;
	unlock(sh);
	*result = x;
	if (forcible != NULL)
		*forcible = 0;
	return finish(f, rc);
out:
	unlock(sh);
	return finish(f, rc);
}

/* lru's write of a contiguous entry whose new value takes exactly the
 * units the old one did (lru's rewrite without its freeing of a tail: the
 * allocator is Go's alone), for a plain set: mode SET, evicting allowed, a
 * bytes, number or boolean value that is well formed, flags only on an
 * entry that has the extension to hold them. Anything else is Go's. */
SHMLRU_HIDDEN int shmlru_fast_set(uint64_t h, const char *key, size_t klen, const void *value, size_t vlen, const shmlru_write_opts *o, shmlru_write_result *res)
{
	BEGIN(h, key, klen, value != NULL || vlen == 0);
	/* The options and the value are the caller's memory: read under the
	 * escape BEGIN set. */
	int64_t ttl = 0;
	uint32_t flags = 0;
	uint8_t typ = SHMLRU_L_TYPE_BYTES;
	if (o != NULL) {
		if (o->mode != SHMLRU_MODE_SET || o->no_evict != 0 || o->ttl_ms < 0 || o->ttl_ms > SHMLRU_FAST_MAX_TTL_MS ||
		    o->reserved != 0)
			return finish(f, SHMLRU_FAST_FALLBACK);
		ttl = o->ttl_ms;
		flags = o->flags;
		typ = o->type;
	}
	if (vlen > f->max_value ||
	    !(typ == SHMLRU_L_TYPE_BYTES || (typ == SHMLRU_L_TYPE_NUMBER && vlen == 8) ||
	      (typ == SHMLRU_L_TYPE_BOOL && vlen == 1 && ((const unsigned char *)value)[0] <= 1)))
		return finish(f, SHMLRU_FAST_FALLBACK);
	probe(value, vlen);
	LOCK();
	int rc = SHMLRU_FAST_FALLBACK;
	unsigned char *p = NULL;
	uint32_t i = find(f, sh, key, klen, hash, &p);
	if (i == BAD_INDEX || i == 0)
		goto out;
	struct shmlru_l_entry *e = ent(f, sh, i);
	int ext = shmlru_l_has_ext(e);
	if ((flags != 0 && !ext) || shmlru_l_units_for(klen, e->vlen, ext) != shmlru_l_units_for(klen, vlen, ext) ||
	    !touch_ok(f, sh, i, e))
		goto out;
	int64_t expires = 0;
	if (ttl != 0) {
		/* lru's deadline: one past the latest an entry can hold
		 * (SHMLRU_L_INFO_EXPIRES_MASK) is refused, by Go
		 * (SHMLRU_BAD_TTL). With ttl at most SHMLRU_FAST_MAX_TTL_MS
		 * that cannot happen before the year 2235; the check keeps
		 * the two paths from ever disagreeing. */
		int64_t now = now_ms();
		if (ttl > (int64_t)SHMLRU_L_INFO_EXPIRES_MASK - now)
			goto out;
		expires = now + ttl;
	}
	__atomic_store_n(&sh->dirty, 1, __ATOMIC_SEQ_CST);
	hook(HOOK_OVERWRITE_START, "overwrite-start");
	/* The entry is contiguous and the value takes the units the old one
	 * did: one copy, in the entry's own units. */
	if (vlen > 0)
		memcpy(p + klen, value, vlen);
	hook(HOOK_OVERWRITE_COPIED, "overwrite-copied");
	e->version = ++sh->clock;
	int64_t old = shmlru_l_expires(e);
	if (old == 0 && expires != 0)
		sh->ttls++;
	else if (old != 0 && expires == 0)
		sh->ttls--;
	e->info = shmlru_l_pack_info(expires, (uint32_t)klen, typ, ext);
	e->vlen = (uint32_t)vlen;
	if (ext)
		ext_of(f, sh, i)->flags = flags;
	touch(f, sh, i, e); /* touch_ok was checked before the change */
	sh->stats.sets++;
	clean(sh);
	uint64_t version = e->version;
	unlock(sh);
	/* The change is made: never handed to Go to be made again. */
	if (res != NULL) {
		res->version = version;
		res->forcible = 0;
	}
	return finish(f, SHMLRU_OK);
out:
	unlock(sh);
	return finish(f, rc);
}
