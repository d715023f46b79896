/*
 * The native path: get, get_stale, ttl and llen without any lock (a
 * seqlock reader), incr of a live number and a set that overwrites an entry
 * in place under the shard lock, the shard's change count and the tracking
 * generation, all served in C over the region without entering Go.
 * Everything else, and everything unusual, is left to Go
 * (SHMLRU_FAST_FALLBACK), which stays the one owner of dead-owner takeover,
 * repair, allocation and eviction.
 *
 * It follows lru's protocol to the letter, as docs/protocol.md writes it
 * down (its section "What the C path may do" lists what this file does and
 * what it leaves to Go; lru/buckets.go, snapshot.go, refs.go, counters.go,
 * storage.go, lruqueue.go, read.go, write.go and incr.go are the Go side), so
 * that a process killed anywhere in it is recovered exactly as one killed
 * in Go. c/native_test.go holds the two implementations together by running
 * the same random operations through both on twin regions and comparing
 * everything. The layout it reads is layout.h's, which native.go checks at
 * open against Go's (shmlru_fast_fingerprint).
 *
 * Every value read from the region is read once into a local, checked,
 * and only the local used, and every walk is bounded: a torn read (a writer
 * changing the shard under a lock-free reader) or a hostile file can make a
 * call give up, never read or write outside the mapping or the caller's
 * buffer. A check that fails under a sequence that did not move leaves the
 * shard as it is and the call to Go, which finds the same inconsistency and
 * resets the shard. A fault, on the mapping (a truncated file, a page the
 * file cannot give) or on the caller's memory, ends the call through its
 * escape (guard.c, struct shmlru_fast_call, escaped below); except in
 * shmlru_fast_l1_valid and _current, whose loads (peek_load) are guard.c's
 * shmlru_fast_load64, which returns "faulted" instead, where the
 * architecture has it.
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

/* The fingerprint of the layout this file was compiled against. A test
 * build (c/fingerprint_test.go) defines SHMLRU_TEST_FINGERPRINT to give the
 * library a C path that does not match its Go. */
#ifdef SHMLRU_TEST_FINGERPRINT
SHMLRU_HIDDEN const uint64_t shmlru_fast_fingerprint = SHMLRU_TEST_FINGERPRINT;
#else
SHMLRU_HIDDEN const uint64_t shmlru_fast_fingerprint = SHMLRU_L_FINGERPRINT;
#endif
SHMLRU_HIDDEN __thread struct shmlru_fast_call *shmlru_fast_cur __attribute__((tls_model("initial-exec")));

/*
 * Test hooks, not part of the ABI: a test program calls shmlru__test_stop
 * with a point's number, and the fast path stops there with the shard
 * locked: it calls fn if one is given, or else prints "at NAME" on stdout
 * and sleeps, for the test to SIGKILL it. A function, not a variable the
 * program sets: the library's own references to its variables are bound
 * inside it, so a program's copy of one would not be the library's.
 */
enum {
	HOOK_TOUCH_UNLINKED = 1,
	HOOK_INCR_WRITTEN = 2,
	HOOK_OVERWRITE_COPIED = 3,
	HOOK_OVERWRITE_START = 4,
	/* Between the checks of what was read from the region and its use,
	 * where a test changes the region's copy of what was checked. */
	HOOK_GET_CHECKED = 5,
	HOOK_LLEN_CHECKED = 6,
	HOOK_SET_CHECKED = 7,
};
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
	call->made = 0;
	*out = f;
	return 1;
}

/* guard sets call as the thread's fast call in progress, for guard.c,
 * once its escape is set. The signal fence keeps the compiler from moving
 * the store after the call's first access that may fault (a store to the
 * caller's output, a load of its key): to the compiler it is a store to a
 * thread-local that nothing in this thread reads, but the handler that
 * the fault runs on this thread does. */
static inline void guard(struct shmlru_fast_call *call)
{
	shmlru_fast_cur = call;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* unguard ends it, after every access of the call (the fence again). */
static inline void unguard(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	shmlru_fast_cur = NULL;
}

static inline void leave(struct shmlru_fast *f)
{
	unguard();
	__atomic_sub_fetch(&f->inflight, 1, __ATOMIC_SEQ_CST);
}

static long fallbacks; /* calls left to Go, for shmlru__test_fallbacks */

/* finish ends a call that entered, with its status. */
static inline int finish(struct shmlru_fast *f, int rc)
{
	if (rc == SHMLRU_FAST_FALLBACK)
		__atomic_fetch_add(&fallbacks, 1, __ATOMIC_RELAXED);
	leave(f);
	return rc;
}

/* A test hook, not part of the ABI: how many native calls were left to Go
 * so far (only the slow path counts). */
long shmlru__test_fallbacks(void) { return __atomic_load_n(&fallbacks, __ATOMIC_RELAXED); }

/* cpu_relax tells the CPU that this thread is spinning. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* mono_ns is this process's CLOCK_MONOTONIC in nanoseconds (the Go
 * runtime's nanotime). */
static inline int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* dirty: a change to the shard is under way, or was cut short. */
static inline int dirty(struct shmlru_l_shard_header *sh) { return (__atomic_load_n(&sh->seq, __ATOMIC_SEQ_CST) & 1) != 0; }

/* ---- the shard lock (shm/mutex.go) ---- */

/*
 * lock takes the shard lock as shm's Lock does for a live owner: a few
 * spins, then sleeps on the futex word with the waiters bit set, so that a
 * contended write waits here rather than in Go. It gives the call to Go
 * (returns 0, the lock not taken) where Go's rule needs Go: an orphan, a
 * word naming this attachment's own token, or one owner holding the lock
 * for shm.OwnerCheckInterval, who may be dead (only Go asks the kernel and
 * takes over). It also returns 0, with the lock held, over a dirty mark
 * under a free lock, which Go resets.
 */
static int lock(struct shmlru_fast *f, struct shmlru_l_shard_header *sh)
{
	uint32_t zero;
	for (int i = 0; i < SHMLRU_FAST_SPINS; i++) {
		zero = 0;
		if (__atomic_load_n(&sh->lock, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&sh->lock, &zero, f->token, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			goto held;
		cpu_relax();
	}
	uint32_t waiting_on = 0;
	int64_t since = 0;
	int slept = 0;
	for (;;) {
		uint32_t v = __atomic_load_n(&sh->lock, __ATOMIC_SEQ_CST);
		if (v == 0) {
			/* Having slept, others may sleep beside us: keep the
			 * waiters bit, so that our unlock wakes one of them. */
			uint32_t mine = f->token | (slept ? SHMLRU_L_SHM_WAITERS_BIT : 0);
			zero = 0;
			if (__atomic_compare_exchange_n(&sh->lock, &zero, mine, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
				goto held;
			continue;
		}
		uint32_t owner = v & ~SHMLRU_L_SHM_WAITERS_BIT;
		if (owner == SHMLRU_L_SHM_ORPHAN_TOKEN || owner == f->token)
			return 0;
		int64_t now = mono_ns();
		if (owner != waiting_on) {
			waiting_on = owner;
			since = now;
		} else if (now - since >= (int64_t)SHMLRU_L_SHM_OWNER_CHECK_INTERVAL) {
			return 0;
		}
		if ((v & SHMLRU_L_SHM_WAITERS_BIT) == 0 &&
		    !__atomic_compare_exchange_n(&sh->lock, &v, v | SHMLRU_L_SHM_WAITERS_BIT, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			continue;
		int64_t left = (int64_t)SHMLRU_L_SHM_OWNER_CHECK_INTERVAL - (now - since);
		struct timespec ts = {.tv_sec = left / 1000000000, .tv_nsec = left % 1000000000};
		syscall(SYS_futex, &sh->lock, FUTEX_WAIT, v | SHMLRU_L_SHM_WAITERS_BIT, &ts, NULL, 0);
		slept = 1;
	}
held:
	shmlru_fast_cur->locked = sh;
	/* A dirty mark under a free lock: no owner to take over from, and Go
	 * resets such a shard on its next acquire. */
	return !dirty(sh);
}

/* orphan releases the lock as the orphan token, as lru's ReleaseOrphan
 * does: the next acquire takes the lock over and repairs the shard as it
 * finds it (resets it over a dirty mark, rebuilds a queue left half
 * relinked), and no observer reads a half-made change in the meantime. */
static void orphan(struct shmlru_l_shard_header *sh)
{
	__atomic_exchange_n(&sh->lock, SHMLRU_L_SHM_ORPHAN_TOKEN, __ATOMIC_SEQ_CST);
	syscall(SYS_futex, &sh->lock, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

/* unlock releases the lock; over a dirty mark (a change cut short by a
 * fault on the caller's memory, or a mark that lock found under a free
 * lock) it leaves an orphan instead. */
static inline void unlock(struct shmlru_l_shard_header *sh)
{
	shmlru_fast_cur->locked = NULL;
	if (dirty(sh)) {
		orphan(sh);
		return;
	}
	if (__atomic_exchange_n(&sh->lock, 0, __ATOMIC_SEQ_CST) & SHMLRU_L_SHM_WAITERS_BIT)
		syscall(SYS_futex, &sh->lock, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* mutating and clean are lru's: the change sequence made odd before a
 * change and even after, each with a read-modify-write (a full barrier),
 * under the lock. clean also records that the call's change is made, so
 * that a fault after it never hands the call to Go (escaped). */
static inline void mutating(struct shmlru_l_shard_header *sh)
{
	if ((__atomic_load_n(&sh->seq, __ATOMIC_RELAXED) & 1) == 0) {
		__atomic_fetch_add(&sh->seq, 1, __ATOMIC_SEQ_CST);
		/* Where the increment is a load-exclusive/store-release loop
		 * (arm64 without LSE), the change's stores could otherwise be
		 * seen before the odd sequence: an acquire load after the
		 * release keeps them after it (lru's mutating does the same). */
		(void)__atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
	}
}

static inline void clean(struct shmlru_l_shard_header *sh)
{
	if ((__atomic_load_n(&sh->seq, __ATOMIC_RELAXED) & 1) != 0)
		__atomic_fetch_add(&sh->seq, 1, __ATOMIC_SEQ_CST);
	shmlru_fast_cur->made = 1;
}

/* unlock_if_held releases a lock that lock() took and then declined. */
static inline void unlock_if_held(struct shmlru_l_shard_header *sh)
{
	if (shmlru_fast_cur->locked == sh)
		unlock(sh);
}

/*
 * escaped is where a fault inside the call lands: guard.c jumps to the
 * call's escape from the faulting instruction, whatever the call was doing.
 *   - On the caller's memory: SHMLRU_BAD_ARGUMENT. A lock still held is
 *     released; if a change was under way its dirty mark stays, and unlock
 *     leaves an orphan: the next acquire resets the shard, and no observer
 *     reads the half-made change.
 *   - On a page of the mapping (faulted: the file truncated, or a page it
 *     cannot give, such as a hole a full tmpfs cannot fill or a memory
 *     error): guard.c has marked the handle broken, and no page was
 *     replaced, so every other call, in this thread or another, reads and
 *     writes the file as before, and one that touches a page that faults
 *     escapes on its own. A lock the call held is left as an orphan, since
 *     the call may have stopped anywhere (in a change, in an LRU move,
 *     before either): Go's next acquire takes it over and resets, rebuilds
 *     or keeps the shard as it finds it. The call goes to Go, which answers
 *     from its own mapping (SHMLRU_CORRUPT if the page is gone there too),
 *     unless its change was made (clean): Go would make it a second time,
 *     so the call answers SHMLRU_CORRUPT itself.
 * The lock is forgotten before it is touched: a fault on the lock's own
 * page lands here again, with nothing held.
 */
static int escaped(struct shmlru_fast *f)
{
	struct shmlru_fast_call *call = shmlru_fast_cur;
	struct shmlru_l_shard_header *sh = call->locked;
	if (!call->faulted) {
		if (sh != NULL)
			unlock(sh);
		return finish(f, SHMLRU_BAD_ARGUMENT);
	}
	call->locked = NULL;
	if (sh != NULL)
		orphan(sh);
	return finish(f, call->made ? SHMLRU_CORRUPT : SHMLRU_FAST_FALLBACK);
}

/* ---- layout (internal/format, lru/storage.go, lru/lruqueue.go) ---- */

/* shard_at: fast.h. */

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
 * Go finds corrupt). For the writers, under the lock; readers use seek. */
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

/* expired_at: a deadline x (0 = never) has come, reading the clock only
 * for an entry with a deadline, at most once per call (*now 0 until read). */
static inline int expired_at(int64_t x, int64_t *now)
{
	if (x == 0)
		return 0;
	if (*now == 0)
		*now = now_ms();
	return x <= *now;
}

static inline int expired(const struct shmlru_l_entry *e, int64_t *now) { return expired_at(shmlru_l_expires(e), now); }

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

/* ---- the reference bitmap and the read counters (lru/refs.go, counters.go) ---- */

static inline uint64_t *ref_word(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u)
{
	return (uint64_t *)((unsigned char *)sh + f->refs_off) + u / 64;
}

/* mark_ref is lru's markRef: set u's bit, with an atomic OR, only if clear. */
static inline void mark_ref(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u)
{
	uint64_t *w = ref_word(f, sh, u), bit = (uint64_t)1 << (u % 64);
	if ((__atomic_load_n(w, __ATOMIC_RELAXED) & bit) == 0)
		__atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
}

/* take_ref is lru's takeRef (under the lock): clear u's bit if set. */
static inline void take_ref(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t u)
{
	uint64_t *w = ref_word(f, sh, u), bit = (uint64_t)1 << (u % 64);
	if ((__atomic_load_n(w, __ATOMIC_RELAXED) & bit) != 0)
		__atomic_fetch_and(w, ~bit, __ATOMIC_RELAXED);
}

/* count_hit and count_miss are lru's countHit and countMiss, in this
 * attachment's row (threads of a process share it: atomic adds). */
static inline void count_hit(const struct shmlru_fast *f, uint32_t si)
{
	__atomic_fetch_add(&f->reads[si % f->lanes].hits, 1, __ATOMIC_RELAXED);
}

static inline void count_miss(const struct shmlru_fast *f, uint32_t si)
{
	__atomic_fetch_add(&f->reads[si % f->lanes].misses, 1, __ATOMIC_RELAXED);
}

/* ---- invalidation stripes and change rings (lru/stripes.go) ---- */

/* stripe_in is lru's stripeIn (format.StripeOf within the shard): the
 * hash's bits from SHMLRU_L_STRIPE_SHIFT up, which neither the shard nor
 * the bucket uses. */
static inline uint32_t stripe_in(const struct shmlru_fast *f, uint64_t hash)
{
	return (uint32_t)(hash >> SHMLRU_L_STRIPE_SHIFT) & (f->stripes - 1);
}

/* stripe_at is the count of stripe g, an index over every shard's stripes
 * (format.StripeOf's): shard g >> stripe_bits, its stripe g & (stripes -
 * 1). The caller has checked g < shards * stripes. */
static inline uint64_t *stripe_at(const struct shmlru_fast *f, uint64_t g)
{
	unsigned char *shard = f->data + SHMLRU_L_CACHE_HEADER_SIZE + (g >> f->stripe_bits) * f->stride;
	return (uint64_t *)(shard + f->stripes_off) + (g & (f->stripes - 1));
}

static inline uint32_t *ring_of(const struct shmlru_fast *f, uint32_t si)
{
	return (uint32_t *)((unsigned char *)shard_at(f, si) + f->ring_off);
}

/* count_change is lru's countChange, under the lock and inside the odd
 * sequence: the shard's change count advances and is the new version; the
 * key's stripe is bumped (a release add: ordered after the odd sequence,
 * see docs/protocol.md, "Invalidation stripes") and appended to the
 * shard's change ring, its slot stored before the head is published. */
static inline uint64_t count_change(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, uint32_t si, uint64_t hash)
{
	uint64_t v = ++sh->change_count;
	uint32_t st = stripe_in(f, hash);
	__atomic_fetch_add(stripe_at(f, (uint64_t)si * f->stripes + st), 1, __ATOMIC_RELEASE);
	uint64_t head = __atomic_load_n(&sh->ring_head, __ATOMIC_RELAXED);
	__atomic_store_n(&ring_of(f, si)[head % f->ring], st, __ATOMIC_RELAXED);
	__atomic_store_n(&sh->ring_head, head + 1, __ATOMIC_RELEASE);
	return v;
}

/* ---- reading without the lock (lru/snapshot.go) ---- */

/* A snapshot is what seek copied of an entry, each field loaded once. */
struct snapshot {
	uint32_t u;
	uint32_t vlen;
	uint32_t flags;
	uint64_t info;
	uint64_t version;
	const unsigned char *value; /* in the mapping: vlen bytes, checked to lie in the heap */
};

enum { SEEK_FOUND, SEEK_ABSENT, SEEK_GIVE_UP };

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* seek is lru's seek: key's entry, found without the lock. Every field is
 * loaded once (LOAD) into a local and checked before use, so a writer
 * changing the shard meanwhile can make it give up, never read outside
 * the heap or loop. */
static int seek(const struct shmlru_fast *f, struct shmlru_l_shard_header *sh, const char *key, size_t klen, uint64_t hash,
                struct snapshot *sn)
{
	const uint64_t heap_bytes = (uint64_t)f->nunits * SHMLRU_L_UNIT_SIZE;
	const unsigned char *heap = unit(f, sh, 0);
	uint32_t u = LOAD(buckets_of(f, sh)[shmlru_bucket_of(hash, f->nbuckets)]);
	for (uint32_t n = 0; u != 0; n++) {
		uint64_t off = (uint64_t)u * SHMLRU_L_UNIT_SIZE + SHMLRU_L_ENTRY_HEADER_SIZE;
		if (n > f->max_entries || off > heap_bytes)
			return SEEK_GIVE_UP;
		struct shmlru_l_entry *e = ent(f, sh, u);
		uint64_t info = LOAD(e->info);
		uint32_t next = LOAD(e->hnext);
		if (shmlru_l_info_klen(info) == klen) {
			uint32_t flags = 0;
			if (shmlru_l_info_ext(info)) {
				if (off + SHMLRU_L_ENTRY_EXT_SIZE > heap_bytes)
					return SEEK_GIVE_UP;
				struct shmlru_l_entry_ext *x = (struct shmlru_l_entry_ext *)(heap + off);
				if (LOAD(x->more) != 0)
					return SEEK_GIVE_UP; /* in pieces: Go walks them */
				flags = LOAD(x->flags);
				off += SHMLRU_L_ENTRY_EXT_SIZE;
			}
			uint32_t vlen = LOAD(e->vlen);
			if (shmlru_l_info_typ(info) >= SHMLRU_L_NUM_TYPES || vlen > f->max_value ||
			    off + klen + vlen > heap_bytes)
				return SEEK_GIVE_UP;
			if (memcmp(heap + off, key, klen) == 0) {
				sn->u = u;
				sn->vlen = vlen;
				sn->flags = flags;
				sn->info = info;
				sn->version = LOAD(e->version);
				sn->value = heap + off + klen;
				return SEEK_FOUND;
			}
		}
		u = next;
	}
	return SEEK_ABSENT;
}

/* put_meta fills the caller's meta (may be NULL) from a checked snapshot. */
static inline void put_meta(shmlru_meta *meta, const struct snapshot *sn, int stale)
{
	if (meta == NULL)
		return;
	meta->version = sn->version;
	meta->expires_ms = shmlru_l_info_expires(sn->info);
	meta->flags = sn->flags;
	meta->type = (uint8_t)shmlru_l_info_typ(sn->info);
	meta->stale = (uint8_t)stale;
}

/* seq_begin loads the shard's change sequence for a read, waiting a little
 * while it is odd; an odd result means a change is still under way (or
 * was cut short), and the read tries again or goes to Go. */
static inline uint64_t seq_begin(struct shmlru_l_shard_header *sh)
{
	uint64_t q = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
	for (int i = 0; (q & 1) != 0 && i < SHMLRU_FAST_SPINS; i++) {
		cpu_relax();
		q = __atomic_load_n(&sh->seq, __ATOMIC_ACQUIRE);
	}
	return q;
}

/* moved is lru's moved: the sequence is no longer q, so what the read
 * copied since seq_begin may be torn. The fence keeps the copy's loads
 * before the sequence's (the seqlock reader's read barrier). */
static inline int moved(struct shmlru_l_shard_header *sh, uint64_t q)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&sh->seq, __ATOMIC_RELAXED) != q;
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
 * shard. It declares call, f, hash, si and sh, and returns from the operation
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
	guard(&call);                                                   \
	uint64_t hash = shmlru_xxh64(key, klen);                        \
	uint32_t si = shmlru_shard_of(hash, f->shards, f->shard_shift); \
	struct shmlru_l_shard_header *sh = shard_at(f, si)

#define LOCK()                                                          \
	do {                                                            \
		if (!lock(f, sh)) {                                     \
			unlock_if_held(sh);                             \
			return finish(f, SHMLRU_FAST_FALLBACK);         \
		}                                                       \
	} while (0)

/* ---- operations ---- */

/* lru's Read (not Peek) without the lock (lru's readUnlocked). stale_ok is
 * get_stale. The value is copied into the caller's buffer, then the
 * sequence checked: a torn copy is never reported, only written over by
 * the next try (or by Go's answer). */
SHMLRU_HIDDEN int shmlru_fast_get(uint64_t h, const char *key, size_t klen, void *buf, size_t buf_len, size_t *value_len, shmlru_meta *meta, int stale_ok)
{
	BEGIN(h, key, klen, value_len != NULL && (buf != NULL || buf_len == 0));
	int64_t now = 0;
	for (uint32_t try = 0; try < SHMLRU_L_UNLOCKED_TRIES; try++) {
		uint64_t q = seq_begin(sh);
		if (q & 1)
			continue;
		struct snapshot sn;
		int r = seek(f, sh, key, klen, hash, &sn);
		int rc = SHMLRU_OK, stale = 0;
		if (r == SEEK_GIVE_UP) {
			if (moved(sh, q))
				continue;
			return finish(f, BAD); /* corrupt: Go finds it too */
		}
		if (r == SEEK_FOUND && expired_at(shmlru_l_info_expires(sn.info), &now)) {
			if (!stale_ok)
				r = SEEK_ABSENT;
			stale = 1;
		}
		if (r == SEEK_ABSENT) {
			rc = SHMLRU_NOT_FOUND;
		} else {
			uint32_t typ = shmlru_l_info_typ(sn.info);
			/* A list is read with the list functions; a value that
			 * does not fit is measured by Go, which changes nothing
			 * then. */
			if (typ == SHMLRU_L_TYPE_LIST || sn.vlen > buf_len)
				return finish(f, SHMLRU_FAST_FALLBACK);
			hook(HOOK_GET_CHECKED, "get-checked");
			if (sn.vlen > 0)
				memcpy(buf, sn.value, sn.vlen);
		}
		if (moved(sh, q))
			continue;
		if (rc != SHMLRU_OK) {
			count_miss(f, si);
			return finish(f, rc);
		}
		*value_len = sn.vlen;
		put_meta(meta, &sn, stale);
		count_hit(f, si);
		mark_ref(f, sh, sn.u);
		return finish(f, SHMLRU_OK);
	}
	return finish(f, SHMLRU_FAST_FALLBACK); /* a writer kept the shard busy: Go waits on the lock */
}

/* lru's Binding.Changes: the shard's change count, read without the lock (see
 * lru's ShardHeader.ChangeCount: writers advance it under the lock, and a reader
 * that reads the same count twice knows no change came in between). */
SHMLRU_HIDDEN int shmlru_fast_changes(uint64_t h, const char *key, size_t klen, uint64_t *clock)
{
	BEGIN(h, key, klen, clock != NULL);
	*clock = __atomic_load_n(&sh->change_count, __ATOMIC_ACQUIRE);
	return finish(f, SHMLRU_OK);
}


/* ---- per-process copies: stripes and change rings (lru/stripes.go) ---- */

/* lru's Binding.Stripe: key's stripe, as an index into the whole stripe
 * table, and its count, read with an acquire load so that a read of the
 * key's value made after this call is ordered after it. */
SHMLRU_HIDDEN int shmlru_fast_l1_stamp(uint64_t h, const char *key, size_t klen, uint32_t *stripe, uint64_t *stamp)
{
	BEGIN(h, key, klen, stripe != NULL && stamp != NULL);
	(void)sh; /* the stripe, not the shard, is read */
	uint64_t g = (uint64_t)si * f->stripes + stripe_in(f, hash);
	uint64_t c = __atomic_load_n(stripe_at(f, g), __ATOMIC_ACQUIRE);
	*stripe = (uint32_t)g;
	*stamp = c;
	return finish(f, SHMLRU_OK);
}

/* peek_handle is h's native view for a call that counts nothing in the
 * handle's inflight (shmlru_fast_l1_valid and _current: see the first for
 * why close is safe all the same), or NULL when the native path does not
 * serve h. */
static inline struct shmlru_fast *peek_handle(uint64_t h)
{
	if (h == 0)
		return NULL;
	struct shmlru_fast *f = &shmlru_fast_handles[(h - 1) % SHMLRU_FAST_HANDLES];
	if (__atomic_load_n(&f->id, __ATOMIC_ACQUIRE) != h || __atomic_load_n(&f->broken, __ATOMIC_RELAXED))
		return NULL;
	return f;
}

/* peek_load is an acquire load of the word at p for such a call: 1 and
 * *v, or 0 if it faulted. The load is guard.c's shmlru_fast_load64 where
 * the architecture has it, which a fault does not end; elsewhere it is
 * made under an escape of its own (this frame is live for the whole load,
 * so the jump lands in a frame still there), whose call names no handle,
 * so that guard.c marks nothing and a fault means what it means after the
 * recoverable load: cursors are the caller's memory even where they lie
 * in the mapping. A fault on a word of f's mapping (mapped) marks the
 * handle broken, as guard.c marks it for a fault in a call, but only
 * while the id is still h: with the id cleared, close unmapped it, and
 * nothing is broken (marking the slot could mark the next handle that
 * takes it; a mark left there by a close racing this one only sends that
 * handle's calls to Go). */
static inline int peek_load(struct shmlru_fast *f, uint64_t h, const uint64_t *p, int mapped, uint64_t *v)
{
#ifdef SHMLRU_FAST_LOAD
	struct shmlru_fast_load l = shmlru_fast_load64(p);
	if (!l.faulted) {
		*v = l.value;
		return 1;
	}
#else
	struct shmlru_fast_call call;
	call.f = NULL;
	call.locked = NULL;
	call.faulted = 0;
	call.made = 0;
	if (sigsetjmp(call.escape, 0) == 0) {
		guard(&call);
		*v = __atomic_load_n(p, __ATOMIC_ACQUIRE);
		unguard();
		return 1;
	}
	shmlru_fast_cur = NULL;
#endif
	if (mapped && __atomic_load_n(&f->id, __ATOMIC_ACQUIRE) == h)
		__atomic_store_n(&f->broken, 1, __ATOMIC_SEQ_CST);
	return 0;
}

/* lru's Binding.StripeStamp, compared: the L1 hit's whole extra cost in
 * the stripe's way of keeping a copy, so no key, no hash, one load, and no
 * count of the call in the handle's inflight: its two read-modify-writes
 * would cost more than the rest of the call together. Nor an escape set at
 * every call, where the architecture has guard.c's recoverable load
 * (peek_load). Close is safe all the same. Close clears the handle's id
 * before it unmaps; the call loads the id before and after its load of
 * the stripe, and answers only if both are the handle's. Had close
 * unmapped the stripe's page before that load, the load faults, and the
 * call goes to Go, which answers SHMLRU_CLOSED. A load through the old
 * translation that did not fault finished before munmap returned (its TLB
 * invalidation completes only then: an interrupt on x86, a broadcast TLBI
 * and barrier on arm64), so it read the stripe before close: an answer
 * from before it. A load from a mapping that took the page's place went
 * through a page-table entry published after close cleared the id, so the
 * second, acquire, load of the id sees it cleared (multi-copy atomicity
 * orders the walk before it on arm64 too). The stripe lies in the
 * handle's mapping (range-checked), so a fault there while the id is the
 * handle's means the page is gone from the file, or the file cannot give
 * it: the handle is broken, and Go answers. *valid receives the answer (1
 * or 0), as the status could not tell 1 from SHMLRU_FAST_FALLBACK. A
 * stripe out of range is the caller's error (SHMLRU_BAD_ARGUMENT); Go
 * answers the same. */
SHMLRU_HIDDEN int shmlru_fast_l1_valid(uint64_t h, uint32_t stripe, uint64_t stamp, int *valid)
{
	struct shmlru_fast *f = peek_handle(h);
	if (f == NULL)
		return SHMLRU_FAST_FALLBACK;
	if ((uint64_t)stripe >= (uint64_t)f->shards * f->stripes)
		return SHMLRU_BAD_ARGUMENT;
	uint64_t c;
	if (!peek_load(f, h, stripe_at(f, stripe), 1, &c) || __atomic_load_n(&f->id, __ATOMIC_ACQUIRE) != h)
		return SHMLRU_FAST_FALLBACK;
	*valid = c == stamp;
	return SHMLRU_OK;
}

/* lru's Binding.Unchanged: whether the shard of stripe had no change since
 * the caller's cursors (shmlru_l1_changes'), so the L1 hit's whole extra
 * cost in resty.shmlru.mlcache's "always" mode: the shard's cursor, and one
 * acquire load of the shard's ring head, a word only its writers change.
 * Made as shmlru_fast_l1_valid is (no count in the handle's inflight; the
 * id loaded before and after the head, for close), and answering
 * *current for the same reason. A stripe out of range, or cursors not one
 * per shard, is the caller's error, and so is a fault on cursors
 * (SHMLRU_BAD_ARGUMENT). */
SHMLRU_HIDDEN int shmlru_fast_l1_current(uint64_t h, const uint64_t *cursors, size_t ncursors, uint32_t stripe,
                                         int *current)
{
	struct shmlru_fast *f = peek_handle(h);
	if (f == NULL)
		return SHMLRU_FAST_FALLBACK;
	if (cursors == NULL || ncursors != f->shards || (uint64_t)stripe >= (uint64_t)f->shards * f->stripes)
		return SHMLRU_BAD_ARGUMENT;
	uint32_t si = stripe >> f->stripe_bits;
	uint64_t cursor, head;
	if (!peek_load(f, h, &cursors[si], 0, &cursor))
		return SHMLRU_BAD_ARGUMENT;
	if (!peek_load(f, h, &shard_at(f, si)->ring_head, 1, &head) || __atomic_load_n(&f->id, __ATOMIC_ACQUIRE) != h)
		return SHMLRU_FAST_FALLBACK;
	*current = head == cursor;
	return SHMLRU_OK;
}

/* shmlru_l1_heads: where to read each shard's ring head without a call,
 * in h's ring-head watch (watch.c, made at the first call), and the shift
 * from a stripe to its shard. Entered as a call (close waits for it, and
 * so for a watch being made), and with the escape set,
 * so that heads or shift pointing where nothing can be written is the
 * caller's error (SHMLRU_BAD_ARGUMENT). 0 where the native path does not
 * serve h or h has no watch: the caller asks shmlru_l1_current, which
 * says why, or answers. Not a status, so not SHMLRU_FAST_FALLBACK: Go has
 * no watch to give. */
SHMLRU_HIDDEN int shmlru_fast_l1_heads(uint64_t h, const volatile uint64_t **heads, size_t nheads, uint32_t *shift)
{
	struct shmlru_fast_call call;
	struct shmlru_fast *f;
	if (!enter(h, &call, &f))
		return 0;
	if (heads == NULL || shift == NULL || nheads != f->shards)
		return finish(f, SHMLRU_BAD_ARGUMENT);
	size_t watch_len;
	unsigned char *watch = shmlru_fast_watch(f, h, &watch_len);
	if (watch == NULL)
		return finish(f, 0);
	if (sigsetjmp(call.escape, 0)) {
		/* heads in the handle's own mapping, on a page that faulted:
		 * the handle is broken now, and has no watch to give */
		int rc = escaped(f);
		return rc == SHMLRU_FAST_FALLBACK ? 0 : rc;
	}
	guard(&call);
	size_t pg = watch_len / f->shards;
	for (uint32_t i = 0; i < f->shards; i++)
		heads[i] = (const volatile uint64_t *)(watch + (size_t)i * pg + (shmlru_fast_head_off(f, i) & (pg - 1)));
	*shift = f->stripe_bits;
	leave(f); /* not finish: 1 is an answer here, not a fallback */
	return 1;
}

/* lru's Binding.StripeChanges, without the lock: each shard's ring is
 * read as an entry is, between two loads of the shard's change sequence
 * (every append is made inside a change's odd sequence), so what is kept
 * is a consistent copy of the head and the slots. The copy goes to the
 * caller's out and cursors only once the shard's sequence held. A shard a
 * writer keeps busy, or whose page faults, sends the rest of the call to
 * Go, which takes the locks: *done and *done_lapped (shim.c's) say what
 * the shards before it gave, and Go goes on from the cursors as left,
 * after them in out. */
SHMLRU_HIDDEN int shmlru_fast_l1_changes(uint64_t h, uint64_t *cursors, size_t ncursors, uint32_t *out, size_t out_len,
                                         size_t *n, int *lapped, size_t *done, int *done_lapped)
{
	struct shmlru_fast_call call;
	struct shmlru_fast *f;
	if (cursors == NULL || n == NULL || lapped == NULL || (out == NULL && out_len != 0) || !enter(h, &call, &f))
		return SHMLRU_FAST_FALLBACK;
	if (ncursors != f->shards)
		return finish(f, SHMLRU_FAST_FALLBACK); /* Go refuses it, with its message */
	if (sigsetjmp(call.escape, 0))
		return escaped(f);
	guard(&call);
	/* The outputs first, every cursor and out written: a pointer that
	 * faults does so before a cursor moves. *n and *lapped plainly, the
	 * rest with an atomic add of 0, which the compiler keeps (it
	 * may drop a plain store of the value just loaded, and a read-only
	 * page would then fault only at the store of a later shard's
	 * cursor); out one slot a page and its last, as Go's probeOut. No
	 * call reports more than the cache's stripes (the rings hold no
	 * more), so out_len is taken down to that: its size cannot
	 * overflow. */
	*n = 0;
	*lapped = 0;
	for (size_t i = 0; i < ncursors; i++)
		__atomic_fetch_add(&cursors[i], 0, __ATOMIC_RELAXED);
	if (out_len > (size_t)f->shards * f->stripes)
		out_len = (size_t)f->shards * f->stripes;
	for (size_t i = 0; i < out_len; i += 1024)
		__atomic_fetch_add(&out[i], 0, __ATOMIC_RELAXED);
	if (out_len > 0)
		__atomic_fetch_add(&out[out_len - 1], 0, __ATOMIC_RELAXED);
	size_t k = 0;
	int lap = 0;
	for (uint32_t si = 0; si < f->shards; si++) {
		struct shmlru_l_shard_header *sh = shard_at(f, si);
		const uint32_t *ring = ring_of(f, si);
		const uint64_t base = (uint64_t)si * f->stripes, cur0 = cursors[si];
		uint32_t try;
		for (try = 0; try < SHMLRU_L_UNLOCKED_TRIES; try++) {
			uint64_t q = seq_begin(sh);
			if (q & 1)
				continue;
			uint64_t head = LOAD(sh->ring_head), cur = cur0;
			if (head == 0) {
				/* No head reads 0 (lru's startCounts): Go says
				 * the region is corrupt. */
				try = SHMLRU_L_UNLOCKED_TRIES;
				break;
			}
			size_t kk = k;
			int lp = 0;
			if (cur == UINT64_MAX) {
				cur = head; /* from now on */
			} else if (head - cur > f->ring) {
				cur = head; /* overrun, or flushed */
				lp = 1;
			} else {
				for (; cur != head && kk < out_len; cur++)
					out[kk++] = (uint32_t)(base + (LOAD(ring[cur % f->ring]) & (f->stripes - 1)));
			}
			if (moved(sh, q))
				continue;
			k = kk;
			lap |= lp;
			cursors[si] = cur;
			/* What the shards so far gave, as each cursor moves: a
			 * fault on a later shard's page sends the rest to Go
			 * through the escape, which must not lose it. */
			*done = k;
			*done_lapped = lap;
			break;
		}
		if (try == SHMLRU_L_UNLOCKED_TRIES)
			return finish(f, SHMLRU_FAST_FALLBACK);
	}
	*n = k;
	*lapped = lap;
	return finish(f, SHMLRU_OK);
}

/* ---- tracked reads (lru/track.go) ---- */

/* track_now is lru's TrackClock: the host's CLOCK_MONOTONIC (that of the
 * initial time namespace), one instant in every process whatever its time
 * namespace. */
static inline int64_t track_now(const struct shmlru_fast *f) { return mono_ns() - f->mono_offset; }

/* in_step_gen is lru's track.gen: the generation if the cache is in step,
 * else 0. No lock: the agent writes both words with atomics. Loaded in
 * lru's order, the in-step instant first (InvalidateAll clears it before it
 * advances the generation); both loads are acquire loads, so that a load
 * the caller makes after them (the shard's sequence, in get_tracked) is
 * made after them too. */
static inline uint32_t in_step_gen(const struct shmlru_fast *f)
{
	struct shmlru_l_track_table *t = (struct shmlru_l_track_table *)(f->data + f->track_off);
	int64_t until = __atomic_load_n(&t->in_step, __ATOMIC_ACQUIRE);
	if (until == 0 || track_now(f) >= until)
		return 0;
	return __atomic_load_n(&t->gen, __ATOMIC_ACQUIRE);
}

/* lru's track.gen, for shmlru_tracked_gen. A fault, on gen (the caller's)
 * or on the mapping, returns through the escape. */
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
	guard(&call);
	*gen = in_step_gen(f);
	return finish(f, SHMLRU_OK);
}

/* A test hook point of shmlru_fast_get_tracked (see hook): the entry is
 * copied, the in-step check and the sequence's second load are still to
 * come. Numbered apart from the hooks above. */
enum { HOOK_TRACKED_COPIED = 16 };

/*
 * lru's Tracker.Get (Read with Tracked, Absent and Fit) without the lock: a
 * seqlock read like get's, with whether the cache is in step and the
 * generation read inside the same window, between the two loads of the
 * shard's sequence. When both loads return the same even value, no change
 * to the shard began or ended between them: the entry copied is the
 * shard's at every instant of the window, the instant the track table was
 * read included. So the answer is the one Go's locked read gives at that
 * instant, and an invalidation (a delete, which moves the sequence) that
 * lands between the copy and the in-step check sends the read round again
 * rather than letting the copy pass as current. Not in step is answered at
 * once (whatever the shard holds, the answer at that instant is not in
 * step), counting nothing, as Go does. A value larger than buf, a list, an
 * entry in pieces, a busy or inconsistent shard: Go's.
 */
SHMLRU_HIDDEN int shmlru_fast_get_tracked(uint64_t h, const char *key, size_t klen, void *buf, size_t buf_len, size_t *value_len,
                                          shmlru_meta *meta)
{
	BEGIN(h, key, klen, value_len != NULL && (buf != NULL || buf_len == 0));
	if (f->track_off == 0)
		return finish(f, SHMLRU_FAST_FALLBACK);
	int64_t now = 0;
	for (uint32_t try = 0; try < SHMLRU_L_UNLOCKED_TRIES; try++) {
		uint64_t q = seq_begin(sh);
		if (q & 1)
			continue;
		struct snapshot sn;
		int r = seek(f, sh, key, klen, hash, &sn);
		if (r == SEEK_GIVE_UP) {
			if (moved(sh, q))
				continue;
			return finish(f, BAD); /* corrupt: Go finds it too */
		}
		if (r == SEEK_FOUND && expired_at(shmlru_l_info_expires(sn.info), &now))
			r = SEEK_ABSENT;
		if (r == SEEK_FOUND) {
			uint32_t typ = shmlru_l_info_typ(sn.info);
			if (typ == SHMLRU_L_TYPE_LIST || sn.vlen > buf_len)
				return finish(f, SHMLRU_FAST_FALLBACK);
			if (sn.vlen > 0)
				memcpy(buf, sn.value, sn.vlen);
		}
		hook(HOOK_TRACKED_COPIED, "tracked-copied");
		uint32_t gen = in_step_gen(f);
		if (gen == 0)
			return finish(f, SHMLRU_NOT_IN_STEP);
		if (moved(sh, q))
			continue;
		if (r != SEEK_FOUND || sn.flags != gen) {
			/* Absent, expired, or a copy from before the last
			 * InvalidateAll (or no fill's at all). */
			count_miss(f, si);
			return finish(f, SHMLRU_NOT_FOUND);
		}
		*value_len = sn.vlen;
		put_meta(meta, &sn, 0);
		count_hit(f, si);
		mark_ref(f, sh, sn.u);
		return finish(f, SHMLRU_OK);
	}
	return finish(f, SHMLRU_FAST_FALLBACK); /* a writer kept the shard busy: Go waits on the lock */
}

/*
 * lru's read-through look (lru/load.go's look) on the native reads: the
 * entry as shmlru_get_stale reads it (tracked: shmlru_get_tracked),
 * classified as look classifies it, so that a read-through's hit stays
 * native. The classification is a copy of Go's, held to it by
 * ffi/readthrough_diff_test.go (the same scenarios through Go's Load and
 * through this call, against pinned records). What the reads leave to Go
 * is Go's.
 */
SHMLRU_HIDDEN int shmlru_fast_load_look(uint64_t h, const char *key, size_t klen, int tracked, void *buf,
                                        size_t buf_len, size_t *value_len, shmlru_meta *meta,
                                        shmlru_look *look)
{
	if (value_len == NULL || look == NULL || (tracked != 0 && tracked != 1))
		return SHMLRU_FAST_FALLBACK;
	{
		/* The outputs are written once first, under the fault guard: a
		 * bad pointer is SHMLRU_BAD_ARGUMENT, with nothing read. */
		struct shmlru_fast_call call;
		struct shmlru_fast *f;
		if (!enter(h, &call, &f))
			return SHMLRU_FAST_FALLBACK;
		if (sigsetjmp(call.escape, 0))
			return escaped(f);
		guard(&call);
		/* Stores, not memset: a sanitizer's memset checks the range
		 * itself, outside this guard. */
		look->fresh_ms = 0;
		look->state = SHMLRU_LOOK_MISS;
		look->reserved = 0;
		if (meta != NULL) {
			/* Every byte: *meta is copied whole below, outside
			 * the guard. */
			meta->version = 0;
			meta->expires_ms = 0;
			meta->flags = 0;
			meta->type = 0;
			meta->stale = 0;
			meta->reserved[0] = 0;
			meta->reserved[1] = 0;
		}
		*value_len = 0;
		finish(f, SHMLRU_OK);
	}
	shmlru_meta m;
	memset(&m, 0, sizeof m);
	int rc = tracked ? shmlru_fast_get_tracked(h, key, klen, buf, buf_len, value_len, &m)
	                 : shmlru_fast_get(h, key, klen, buf, buf_len, value_len, &m, 1);
	if (rc != SHMLRU_OK && rc != SHMLRU_NOT_FOUND)
		return rc; /* SHMLRU_FAST_FALLBACK, or an error Go's look returns too */
	shmlru_look l;
	memset(&l, 0, sizeof l);
	l.state = SHMLRU_LOOK_MISS;
	/* lru's resurrected: a tracked entry's flags are its generation */
	const int resurrected = !tracked && rc == SHMLRU_OK && (m.flags & (UINT32_C(1) << SHMLRU_RESURRECT_FLAG_BIT));
	if (rc == SHMLRU_NOT_FOUND) {
		memset(&m, 0, sizeof m);
		*value_len = 0;
	} else if (m.stale) {
		/* a value or an absence (lru's look): resurrectable */
		l.state = SHMLRU_LOOK_EXPIRED;
		if (m.type == SHMLRU_TYPE_NONE)
			*value_len = 0;
	} else if (m.type == SHMLRU_TYPE_NONE) {
		l.state = resurrected ? SHMLRU_LOOK_RESURRECTED : SHMLRU_LOOK_ABSENT;
		l.fresh_ms = m.expires_ms;
		*value_len = 0;
	} else {
		const uint32_t bit = UINT32_C(1) << SHMLRU_STALE_FLAG_BIT;
		const uint32_t window = (UINT32_C(1) << SHMLRU_RESURRECT_FLAG_BIT) - 1;
		l.state = resurrected ? SHMLRU_LOOK_RESURRECTED : SHMLRU_LOOK_FRESH;
		l.fresh_ms = m.expires_ms;
		if ((m.flags & bit) && m.expires_ms != 0) {
			l.fresh_ms = m.expires_ms - (int64_t)(m.flags & window);
			if (now_ms() >= l.fresh_ms)
				l.state = SHMLRU_LOOK_SOFT_STALE;
		}
	}
	if (meta != NULL)
		*meta = m;
	*look = l;
	return SHMLRU_OK;
}

/* lru's TTL, without the lock: no mark, no counters. An entry that has
 * expired but is still stored has its (negative) time left, by lru's
 * ttlLeft: expires - now, and -1 at its deadline's millisecond, which must
 * not read as 0, "never". */
SHMLRU_HIDDEN int shmlru_fast_ttl(uint64_t h, const char *key, size_t klen, int64_t *ttl_ms)
{
	BEGIN(h, key, klen, ttl_ms != NULL);
	for (uint32_t try = 0; try < SHMLRU_L_UNLOCKED_TRIES; try++) {
		uint64_t q = seq_begin(sh);
		if (q & 1)
			continue;
		struct snapshot sn;
		int r = seek(f, sh, key, klen, hash, &sn);
		if (moved(sh, q))
			continue;
		if (r == SEEK_GIVE_UP)
			return finish(f, BAD);
		if (r == SEEK_ABSENT)
			return finish(f, SHMLRU_NOT_FOUND);
		int64_t x = shmlru_l_info_expires(sn.info), left = 0;
		if (x != 0) {
			left = x - now_ms();
			if (left == 0)
				left = -1;
		}
		*ttl_ms = left;
		return finish(f, SHMLRU_OK);
	}
	return finish(f, SHMLRU_FAST_FALLBACK);
}

/* list_count counts the items of a list value of n bytes at v (lru's
 * listLen), or returns -1 if it is malformed. */
static int64_t list_count(const unsigned char *v, size_t n)
{
	int64_t count = 0;
	while (n > 0) {
		uint32_t l;
		if (n < 5)
			return -1;
		unsigned char t = v[0];
		memcpy(&l, v + 1, sizeof l);
		if ((t != SHMLRU_L_TYPE_BYTES && t != SHMLRU_L_TYPE_NUMBER) || l > n - 5 || (t == SHMLRU_L_TYPE_NUMBER && l != 8))
			return -1;
		v += 5 + (size_t)l;
		n -= 5 + (size_t)l;
		count++;
	}
	return count;
}

/* lru's LLen (a get of the list, counted and marked as Get does), without
 * the lock: the items are counted where they lie, then the sequence
 * checked. */
SHMLRU_HIDDEN int shmlru_fast_llen(uint64_t h, const char *key, size_t klen, size_t *length)
{
	BEGIN(h, key, klen, length != NULL);
	int64_t now = 0;
	for (uint32_t try = 0; try < SHMLRU_L_UNLOCKED_TRIES; try++) {
		uint64_t q = seq_begin(sh);
		if (q & 1)
			continue;
		struct snapshot sn;
		int r = seek(f, sh, key, klen, hash, &sn);
		int64_t count = 0;
		uint32_t typ = shmlru_l_info_typ(sn.info);
		if (r == SEEK_FOUND && (expired_at(shmlru_l_info_expires(sn.info), &now) || typ == SHMLRU_L_TYPE_NONE))
			r = SEEK_ABSENT; /* to the caller, there is no value */
		if (r == SEEK_FOUND && typ == SHMLRU_L_TYPE_LIST) {
			hook(HOOK_LLEN_CHECKED, "llen-checked");
			count = list_count(sn.value, sn.vlen);
		}
		if (moved(sh, q))
			continue;
		if (r == SEEK_GIVE_UP || count < 0)
			return finish(f, BAD); /* corrupt or malformed: Go says so */
		if (r == SEEK_ABSENT) {
			*length = 0;
			count_miss(f, si);
			return finish(f, SHMLRU_OK);
		}
		if (typ == SHMLRU_L_TYPE_LIST)
			*length = (size_t)count;
		count_hit(f, si);
		mark_ref(f, sh, sn.u);
		return finish(f, typ == SHMLRU_L_TYPE_LIST ? SHMLRU_OK : SHMLRU_NOT_LIST);
	}
	return finish(f, SHMLRU_FAST_FALLBACK);
}

/* entry_snap reads the header of entry u (checked valid by find) under
 * the lock, each field once, for a write: a writer that ignores the lock
 * can change the header meanwhile, and a length checked in one read and
 * used from another could then run past the entry. */
struct entry_snap {
	uint32_t vlen;
	uint64_t info;
};

static inline struct entry_snap entry_snap(const struct shmlru_l_entry *e)
{
	struct entry_snap x = {LOAD(e->vlen), LOAD(e->info)};
	return x;
}

/* lru's incr of a live number, in place: the rate limiter's hot path.
 * Anything else (no entry, an expired one, init, a number stored in
 * pieces) is Go's. */
SHMLRU_HIDDEN int shmlru_fast_incr(uint64_t h, const char *key, size_t klen, double delta, double *result, int *forcible)
{
	BEGIN(h, key, klen, result != NULL);
	/* The outputs first: a pointer that faults does so before anything
	 * changes (SHMLRU_BAD_ARGUMENT, nothing done), never after. */
	*result = 0;
	if (forcible != NULL)
		*forcible = 0;
	LOCK();
	int rc = SHMLRU_FAST_FALLBACK;
	int64_t now = 0;
	unsigned char *p = NULL;
	uint32_t i = find(f, sh, key, klen, hash, &p);
	if (i == BAD_INDEX || i == 0)
		goto out;
	struct shmlru_l_entry *e = ent(f, sh, i);
	struct entry_snap x = entry_snap(e);
	if (expired_at(shmlru_l_info_expires(x.info), &now))
		goto out;
	if (shmlru_l_info_typ(x.info) != SHMLRU_L_TYPE_NUMBER) {
		rc = SHMLRU_NOT_NUMBER;
		goto out;
	}
	/* The number's 8 bytes, where this one snapshot of the header puts
	 * them, checked to lie in the heap: find checked the lengths it read,
	 * which a process ignoring the lock may have changed since. */
	int ext = shmlru_l_info_ext(x.info);
	uint64_t start = (uint64_t)i * SHMLRU_L_UNIT_SIZE;
	if (x.vlen != 8 || shmlru_l_info_klen(x.info) != klen ||
	    start + shmlru_l_units_for(klen, x.vlen, ext) * SHMLRU_L_UNIT_SIZE > (uint64_t)f->nunits * SHMLRU_L_UNIT_SIZE ||
	    !touch_ok(f, sh, i, e))
		goto out;
	/* After a key of any length: not aligned, so copied. */
	unsigned char *v = unit(f, sh, i) + SHMLRU_L_ENTRY_HEADER_SIZE + (ext ? SHMLRU_L_ENTRY_EXT_SIZE : 0) + klen;
	double n;
	memcpy(&n, v, sizeof n);
	n += delta;
	mutating(sh);
	memcpy(v, &n, sizeof n);
	hook(HOOK_INCR_WRITTEN, "incr-written");
	e->version = count_change(f, sh, si, hash);
	sh->stats.sets++;
	clean(sh);
	touch(f, sh, i, e); /* touch_ok was checked before the change */
	take_ref(f, sh, i);
	/* From here on the change is made: whatever the caller's memory does,
	 * it is never handed to Go to be made again. */
	rc = SHMLRU_OK;
	unlock(sh);
	*result = n;
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
	 * escape BEGIN set, each field once. */
	int64_t ttl = 0;
	uint32_t flags = 0;
	uint8_t typ = SHMLRU_L_TYPE_BYTES;
	if (o != NULL) {
		shmlru_write_opts co;
		memcpy(&co, o, sizeof co);
		if (co.mode != SHMLRU_MODE_SET || co.no_evict != 0 || co.ttl_ms < 0 || co.ttl_ms > SHMLRU_FAST_MAX_TTL_MS ||
		    co.reserved != 0)
			return finish(f, SHMLRU_FAST_FALLBACK);
		ttl = co.ttl_ms;
		flags = co.flags;
		typ = co.type;
	}
	if (vlen > f->max_value ||
	    !(typ == SHMLRU_L_TYPE_BYTES || (typ == SHMLRU_L_TYPE_NUMBER && vlen == 8) ||
	      (typ == SHMLRU_L_TYPE_BOOL && vlen == 1 && ((const unsigned char *)value)[0] <= 1)))
		return finish(f, SHMLRU_FAST_FALLBACK);
	probe(value, vlen);
	/* The output first: a pointer that faults does so before anything
	 * changes (SHMLRU_BAD_ARGUMENT, nothing done), never after. */
	if (res != NULL)
		memset(res, 0, sizeof *res);
	LOCK();
	int rc = SHMLRU_FAST_FALLBACK;
	unsigned char *p = NULL;
	uint32_t i = find(f, sh, key, klen, hash, &p);
	if (i == BAD_INDEX || i == 0)
		goto out;
	struct shmlru_l_entry *e = ent(f, sh, i);
	struct entry_snap x = entry_snap(e);
	int ext = shmlru_l_info_ext(x.info);
	/* The new value goes where the old one lay: its units are the old
	 * value's, computed from this one snapshot of the header (the key's
	 * length too), and the snapshot's entry must lie in the heap. */
	uint64_t start = (uint64_t)i * SHMLRU_L_UNIT_SIZE, units = shmlru_l_units_for(klen, x.vlen, ext);
	if ((flags != 0 && !ext) || shmlru_l_info_klen(x.info) != klen || x.vlen > f->max_value ||
	    units != shmlru_l_units_for(klen, vlen, ext) || start + units * SHMLRU_L_UNIT_SIZE > (uint64_t)f->nunits * SHMLRU_L_UNIT_SIZE ||
	    !touch_ok(f, sh, i, e))
		goto out;
	if (ext && ext_of(f, sh, i)->more != 0)
		goto out; /* in pieces since find looked: Go's */
	hook(HOOK_SET_CHECKED, "set-checked");
	p = unit(f, sh, i) + SHMLRU_L_ENTRY_HEADER_SIZE + (ext ? SHMLRU_L_ENTRY_EXT_SIZE : 0);
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
	mutating(sh);
	hook(HOOK_OVERWRITE_START, "overwrite-start");
	/* The entry is contiguous and the value takes the units the old one
	 * did: one copy, in the entry's own units. */
	if (vlen > 0)
		memcpy(p + klen, value, vlen);
	hook(HOOK_OVERWRITE_COPIED, "overwrite-copied");
	e->version = count_change(f, sh, si, hash);
	int64_t old = shmlru_l_info_expires(x.info);
	if (old == 0 && expires != 0)
		sh->ttls++;
	else if (old != 0 && expires == 0)
		sh->ttls--;
	e->info = shmlru_l_pack_info(expires, (uint32_t)klen, typ, ext);
	e->vlen = (uint32_t)vlen;
	if (ext)
		ext_of(f, sh, i)->flags = flags;
	touch(f, sh, i, e); /* touch_ok was checked before the change */
	take_ref(f, sh, i);
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
