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

#include "shmlru.h"
#include "_cgo_export.h"

/* Status messages, index -code, filled by the Go side's init (open.go). */
char *shmlru_messages[64];

static volatile int forked;

static void mark_forked(void) { forked = 1; }

__attribute__((constructor)) static void shmlru_init(void)
{
	pthread_atfork(NULL, NULL, mark_forked);
}

#define GUARD() do { if (forked) return SHMLRU_FORKED; } while (0)
#define K(key) ((char *)(key))
#define P(ptr) ((void *)(ptr))

int shmlru_abi_version(void) { return SHMLRU_ABI_VERSION; }

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
	return shmlru_go_open(K(path), path_len, P(opts), out, errbuf, errbuf_len);
}

int shmlru_close(shmlru_t h) { GUARD(); return shmlru_go_close(h); }

int shmlru_get(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
               size_t *value_len, shmlru_meta *meta)
{
	GUARD();
	return shmlru_go_get(h, K(key), key_len, buf, buf_len, value_len, meta);
}

int shmlru_get_stale(shmlru_t h, const char *key, size_t key_len, void *buf, size_t buf_len,
                     size_t *value_len, shmlru_meta *meta)
{
	GUARD();
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
	return shmlru_go_incr(h, K(key), key_len, delta, result, has_init, init, init_ttl_ms, forcible);
}

int shmlru_ttl(shmlru_t h, const char *key, size_t key_len, int64_t *ttl_ms)
{
	GUARD();
	return shmlru_go_ttl(h, K(key), key_len, ttl_ms);
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
