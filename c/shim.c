/*
 * The public entry points of libshmlru.so. Each checks that the process has
 * not forked since the library was loaded (the Go runtime does not survive
 * fork: a call into it from a forked child can hang) and then calls the Go
 * implementation (shmlru_go_*, see the Go files of this directory).
 *
 * Including shmlru.h here makes the compiler check every public prototype
 * against its definition below.
 */
#include <pthread.h>
#include <unistd.h>

#include "shmlru.h"
#include "_cgo_export.h"
/* The native read path (fast.c); fast.h includes region.h, whose static
 * assertions hold its C mirrors of the region's structs to layout.h. */
#include "fast.h"
/* SHMLRU_VERSION_STRING, generated from package version. */
#include "version.h"

/* FAST(call): return what the native path answered, unless it left the
 * call to Go. */
#define FAST(call) do { int rc_ = (call); if (rc_ != SHMLRU_FAST_FALLBACK) return rc_; } while (0)

/* Status messages, index -code, filled by the Go side's init (open.go). */
char *shmlru_messages[64];

/*
 * Fork without exec. Each open cache holds its region file open, and that
 * open file description holds the OFD lock that tells other processes the
 * attachment is alive. A child forked without exec shares the description,
 * so it would keep a dead parent "alive" (and a shard lock the parent died
 * holding taken) for as long as the child lives. So the child handler
 * closes the child's copies of the region files' descriptors; the region's
 * mapping, which references the description too, is not inherited at all
 * (MADV_DONTFORK, see mapFile in shm/region.go). The child cannot use either
 * anyway: every call in it returns SHMLRU_FORKED.
 *
 * region_fds is indexed by handle slot (handles.go, which checks the sizes
 * agree) and holds, + 1, the descriptors of the cache in that slot: its
 * region file's [0] and that of the native path's own attachment [1]
 * (native.go); 0 for none, so that the zeroed table is empty. Only the Go side's
 * open and close paths write it (shmlru_set_region_fd), and they run inside
 * shmlru_open and shmlru_close, between begin_open_close and end_open_close. A fork waits
 * until none is under way and holds new ones off until it is done (see
 * fork_prepare), so the table a child sees names exactly the region files
 * open: none opened but not yet entered (the child would keep it), none
 * closed but still entered (the host may have reused its number for a file
 * of its own, which the child would then close). Opens and closes still run
 * concurrently with one another.
 */
static int region_fds[4096][2];

#define N_REGION_FDS (sizeof region_fds / sizeof region_fds[0])

/* For handles.go, not part of the ABI. fd -1: none. */
__attribute__((visibility("hidden"))) void shmlru_set_region_fd(size_t slot, int which, int fd)
{
	if (slot < N_REGION_FDS && (which == 0 || which == 1))
		region_fds[slot][which] = fd + 1;
}

__attribute__((visibility("hidden"))) size_t shmlru_region_fd_slots(void) { return N_REGION_FDS; }

static volatile int forked;

/*
 * Opens and closes under way, and forks waiting for them to end. A fork is
 * given precedence: while one waits, no open or close starts, so a stream of
 * them cannot hold a fork off (as it did with a reader-preferring
 * pthread_rwlock). No lock is held across fork() itself, so the child has
 * nothing to unlock; it never uses these again (GUARD).
 */
static pthread_mutex_t fork_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fork_cv = PTHREAD_COND_INITIALIZER;
static int open_close_in_flight;
static int forks_waiting;

static void begin_open_close(void)
{
	pthread_mutex_lock(&fork_mu);
	while (forks_waiting > 0)
		pthread_cond_wait(&fork_cv, &fork_mu);
	open_close_in_flight++;
	pthread_mutex_unlock(&fork_mu);
}

static void end_open_close(void)
{
	pthread_mutex_lock(&fork_mu);
	if (--open_close_in_flight == 0 && forks_waiting > 0)
		pthread_cond_broadcast(&fork_cv);
	pthread_mutex_unlock(&fork_mu);
}

static void fork_prepare(void)
{
	if (forked)
		return; /* a child forking again: nothing of ours is open in it */
	pthread_mutex_lock(&fork_mu);
	forks_waiting++;
	while (open_close_in_flight > 0)
		pthread_cond_wait(&fork_cv, &fork_mu);
	pthread_mutex_unlock(&fork_mu);
}

static void fork_parent(void)
{
	if (forked)
		return;
	pthread_mutex_lock(&fork_mu);
	if (--forks_waiting == 0)
		pthread_cond_broadcast(&fork_cv);
	pthread_mutex_unlock(&fork_mu);
}

/* Only async-signal-safe calls here: close() and mmap(). The ring-head
 * watch first, before the child can map anything where it was (watch.c). */
static void fork_child(void)
{
	if (!forked) {
		shmlru_fast_watch_forked();
		for (size_t i = 0; i < N_REGION_FDS; i++) {
			for (int k = 0; k < 2; k++) {
				if (region_fds[i][k] > 0)
					close(region_fds[i][k] - 1);
				region_fds[i][k] = 0;
			}
		}
	}
	forked = 1;
}

__attribute__((constructor)) static void shmlru_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

#define GUARD() do { if (forked) return SHMLRU_FORKED; } while (0)
#define K(key) ((char *)(key))
#define P(ptr) ((void *)(ptr))

int shmlru_abi_version(void) { return SHMLRU_ABI_VERSION; }

const char *shmlru_version(void) { return SHMLRU_VERSION_STRING; }

const char *shmlru_strerror(int status)
{
	if (forked)
		return "shmlru: this process was forked after the library was loaded; load it in the process that uses it";
	return shmlru_go_strerror(status);
}

int shmlru_open(const char *path, size_t path_len, const shmlru_options *opts,
                shmlru_t *out, char *errbuf, size_t errbuf_len)
{
	GUARD();
	begin_open_close();
	int rc = shmlru_go_open(K(path), path_len, P(opts), out, errbuf, errbuf_len);
	end_open_close();
	return rc;
}

int shmlru_close(shmlru_t h)
{
	GUARD();
	begin_open_close();
	int rc = shmlru_go_close(h);
	end_open_close();
	return rc;
}

int shmlru_get(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
               size_t *value_len, shmlru_meta *meta)
{
	GUARD();
	FAST(shmlru_fast_get(h, key, key_len, buf, buf_len, value_len, meta, 0));
	return shmlru_go_get(h, K(key), key_len, buf, buf_len, value_len, meta);
}

int shmlru_get_stale(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                     size_t *value_len, shmlru_meta *meta)
{
	GUARD();
	FAST(shmlru_fast_get(h, key, key_len, buf, buf_len, value_len, meta, 1));
	return shmlru_go_get_stale(h, K(key), key_len, buf, buf_len, value_len, meta);
}

int shmlru_peek(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                size_t *value_len, shmlru_meta *meta)
{
	GUARD();
	return shmlru_go_peek(h, K(key), key_len, buf, buf_len, value_len, meta);
}

int shmlru_write(shmlru_t h, const char *key, size_t key_len, const void *value, size_t value_len,
                 const shmlru_write_opts *opts, shmlru_write_result *result)
{
	GUARD();
	FAST(shmlru_fast_set(h, key, key_len, value, value_len, opts, result));
	return shmlru_go_write(h, K(key), key_len, P(value), value_len, P(opts), result);
}

int shmlru_delete(shmlru_t h, const char *key, size_t key_len, int *deleted)
{
	GUARD();
	return shmlru_go_delete(h, K(key), key_len, deleted);
}

int shmlru_incr(shmlru_t h, const char *key, size_t key_len, double delta, double *result,
                int has_init, double init, int64_t init_ttl_ms, int *forcible)
{
	GUARD();
	/* Go checks init_ttl whether or not it is used: an init_ttl it would
	 * refuse goes to Go, to be refused. */
	if (init_ttl_ms >= 0 && init_ttl_ms <= SHMLRU_FAST_MAX_TTL_MS)
		FAST(shmlru_fast_incr(h, key, key_len, delta, result, forcible));
	return shmlru_go_incr(h, K(key), key_len, delta, result, has_init, init, init_ttl_ms, forcible);
}

int shmlru_ttl(shmlru_t h, const char *key, size_t key_len, int64_t *ttl_ms)
{
	GUARD();
	FAST(shmlru_fast_ttl(h, key, key_len, ttl_ms));
	return shmlru_go_ttl(h, K(key), key_len, ttl_ms);
}

int shmlru_load_begin(shmlru_t h, const char *key, size_t key_len, int64_t lease_ms, shmlru_load *load)
{
	GUARD();
	return shmlru_go_load_begin(h, K(key), key_len, lease_ms, load);
}

int shmlru_load_wait(shmlru_t h, shmlru_load *load, int64_t timeout_ms, int64_t lease_ms,
                     char *msg, size_t msg_len, size_t *msg_used)
{
	GUARD();
	return shmlru_go_load_wait(h, load, timeout_ms, lease_ms, msg, msg_len, msg_used);
}

int shmlru_load_end(shmlru_t h, shmlru_load *load, int outcome, const char *msg, size_t msg_len)
{
	GUARD();
	return shmlru_go_load_end(h, load, outcome, K(msg), msg_len);
}

int shmlru_load_store(shmlru_t h, const shmlru_load *load, const char *key, size_t key_len,
                      const void *value, size_t value_len, const shmlru_write_opts *opts,
                      shmlru_write_result *result)
{
	GUARD();
	return shmlru_go_load_store(h, P(load), K(key), key_len, P(value), value_len, P(opts), result);
}

int shmlru_changes(shmlru_t h, const char *key, size_t key_len, uint64_t *clock)
{
	GUARD();
	FAST(shmlru_fast_changes(h, key, key_len, clock));
	return shmlru_go_changes(h, K(key), key_len, clock);
}

int shmlru_l1_stamp(shmlru_t h, const char *key, size_t key_len, uint32_t *stripe, uint64_t *stamp)
{
	GUARD();
	FAST(shmlru_fast_l1_stamp(h, key, key_len, stripe, stamp));
	return shmlru_go_l1_stamp(h, K(key), key_len, stripe, stamp);
}

int shmlru_l1_valid(shmlru_t h, uint32_t stripe, uint64_t stamp)
{
	GUARD();
	int valid = 0;
	int rc = shmlru_fast_l1_valid(h, stripe, stamp, &valid);
	if (rc == SHMLRU_OK)
		return valid;
	if (rc != SHMLRU_FAST_FALLBACK)
		return rc;
	return shmlru_go_l1_valid(h, stripe, stamp);
}

int shmlru_l1_current(shmlru_t h, const uint64_t *cursors, size_t ncursors, uint32_t stripe)
{
	GUARD();
	int current = 0;
	int rc = shmlru_fast_l1_current(h, cursors, ncursors, stripe, &current);
	if (rc == SHMLRU_OK)
		return current;
	if (rc != SHMLRU_FAST_FALLBACK)
		return rc;
	return shmlru_go_l1_current(h, (uint64_t *)cursors, ncursors, stripe);
}

int shmlru_l1_heads(shmlru_t h, const volatile uint64_t **heads, size_t nheads, uint32_t *shift)
{
	GUARD();
	return shmlru_fast_l1_heads(h, heads, nheads, shift);
}

int shmlru_l1_changes(shmlru_t h, uint64_t *cursors, size_t ncursors, uint32_t *out, size_t out_len, size_t *n,
                      int *lapped)
{
	GUARD();
	size_t done = 0;
	int done_lapped = 0;
	FAST(shmlru_fast_l1_changes(h, cursors, ncursors, out, out_len, n, lapped, &done, &done_lapped));
	/* The native path may have read some shards before one that a
	 * writer kept busy: Go goes on from the cursors as it left them,
	 * after what it wrote to out (done > 0 only once out, n and lapped
	 * were found writable). */
	int rc = shmlru_go_l1_changes(h, cursors, ncursors, done > 0 ? out + done : out, out_len - done, n, lapped);
	if (rc == SHMLRU_OK && (done > 0 || done_lapped)) {
		*n += done;
		*lapped |= done_lapped;
	}
	return rc;
}

int shmlru_tracked_gen(shmlru_t h, uint32_t *gen)
{
	GUARD();
	FAST(shmlru_fast_tracked_gen(h, gen));
	return shmlru_go_tracked_gen(h, gen);
}

int shmlru_get_tracked(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                       size_t *value_len, shmlru_meta *meta)
{
	GUARD();
	FAST(shmlru_fast_get_tracked(h, key, key_len, buf, buf_len, value_len, meta));
	return shmlru_go_get_tracked(h, K(key), key_len, buf, buf_len, value_len, meta);
}

int shmlru_fill_begin(shmlru_t h, const char *key, size_t key_len, shmlru_guard *guard)
{
	GUARD();
	return shmlru_go_fill_begin(h, K(key), key_len, guard);
}

int shmlru_fill_store(shmlru_t h, const char *key, size_t key_len, const void *value, size_t value_len,
                      int absent, int64_t ttl_ms, const shmlru_guard *guard, int *stored)
{
	GUARD();
	return shmlru_go_fill_store(h, K(key), key_len, P(value), value_len, absent, ttl_ms, P(guard), stored);
}

int shmlru_load_check(const shmlru_load_opts *opts, char *errbuf, size_t errbuf_len)
{
	GUARD();
	return shmlru_go_load_check(P(opts), errbuf, errbuf_len);
}

int shmlru_load_look(shmlru_t h, const char *key, size_t key_len, int tracked, void *buf,
                     size_t buf_len, size_t *value_len, shmlru_meta *meta, shmlru_look *look)
{
	GUARD();
	FAST(shmlru_fast_load_look(h, key, key_len, tracked, buf, buf_len, value_len, meta, look));
	return shmlru_go_load_look(h, K(key), key_len, tracked, buf, buf_len, value_len, meta, look);
}

int shmlru_load_prepare(shmlru_t h, shmlru_load *load, const char *key, size_t key_len,
                        const shmlru_load_opts *opts, void *buf, size_t buf_len,
                        size_t *value_len, shmlru_meta *meta, shmlru_look *look,
                        shmlru_guard *guard)
{
	GUARD();
	return shmlru_go_load_prepare(h, load, K(key), key_len, P(opts), buf, buf_len, value_len,
	                              meta, look, guard);
}

int shmlru_load_finish(shmlru_t h, shmlru_load *load, const char *key, size_t key_len,
                       const shmlru_load_opts *opts, const shmlru_guard *guard, int outcome,
                       const void *value, size_t value_len, int type, uint32_t flags,
                       const char *msg, size_t msg_len, shmlru_load_answer *answer)
{
	GUARD();
	return shmlru_go_load_finish(h, load, K(key), key_len, P(opts), P(guard), outcome, P(value),
	                             value_len, type, flags, K(msg), msg_len, answer);
}

int shmlru_expire(shmlru_t h, const char *key, size_t key_len, int64_t ttl_ms)
{
	GUARD();
	return shmlru_go_expire(h, K(key), key_len, ttl_ms);
}

int shmlru_lpush(shmlru_t h, const char *key, size_t key_len, const void *item, size_t item_len,
                 int type, size_t *length)
{
	GUARD();
	return shmlru_go_lpush(h, K(key), key_len, P(item), item_len, type, length);
}

int shmlru_rpush(shmlru_t h, const char *key, size_t key_len, const void *item, size_t item_len,
                 int type, size_t *length)
{
	GUARD();
	return shmlru_go_rpush(h, K(key), key_len, P(item), item_len, type, length);
}

int shmlru_lpop(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                size_t *item_len, int *type)
{
	GUARD();
	return shmlru_go_lpop(h, K(key), key_len, buf, buf_len, item_len, type);
}

int shmlru_rpop(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                size_t *item_len, int *type)
{
	GUARD();
	return shmlru_go_rpop(h, K(key), key_len, buf, buf_len, item_len, type);
}

int shmlru_llen(shmlru_t h, const char *key, size_t key_len, size_t *length)
{
	GUARD();
	FAST(shmlru_fast_llen(h, key, key_len, length));
	return shmlru_go_llen(h, K(key), key_len, length);
}

int shmlru_keys(shmlru_t h, size_t max_keys, void *buf, size_t buf_len, size_t *used,
                size_t *count)
{
	GUARD();
	return shmlru_go_keys(h, max_keys, buf, buf_len, used, count);
}

int shmlru_flush_all(shmlru_t h) { GUARD(); return shmlru_go_flush_all(h); }

int shmlru_flush_expired(shmlru_t h, size_t max_count, size_t *removed)
{
	GUARD();
	return shmlru_go_flush_expired(h, max_count, removed);
}

int shmlru_len(shmlru_t h, size_t *count) { GUARD(); return shmlru_go_len(h, count); }

int shmlru_capacity(shmlru_t h, size_t *bytes) { GUARD(); return shmlru_go_capacity(h, bytes); }

int shmlru_free_space(shmlru_t h, size_t *bytes) { GUARD(); return shmlru_go_free_space(h, bytes); }

int shmlru_stats_get(shmlru_t h, shmlru_stats *stats) { GUARD(); return shmlru_go_stats_get(h, stats); }

int shmlru_info_get(shmlru_t h, shmlru_info *info) { GUARD(); return shmlru_go_info_get(h, info); }

int shmlru_check(shmlru_t h, size_t *problems) { GUARD(); return shmlru_go_check(h, problems); }
