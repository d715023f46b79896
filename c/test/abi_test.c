/*
 * The C ABI test: exercises every function of shmlru.h against
 * libshmlru.so, bad arguments included (NULL pointers, zero lengths, closed
 * and invalid handles), each of which must return its specific status.
 * Built and run by `make test-c`, under AddressSanitizer.
 *
 * Usage: abi_test [region-path]
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shmlru.h"

static int failures, checks;

#define CHECK(cond) do { checks++; if (!(cond)) { failures++; \
	fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)

/* EXPECT runs a call and compares its status. */
#define EXPECT(call, want) do { int rc_ = (call); checks++; if (rc_ != (want)) { failures++; \
	fprintf(stderr, "%s:%d: %s = %d (%s), want %d (%s)\n", __FILE__, __LINE__, #call, \
	        rc_, shmlru_strerror(rc_), (want), shmlru_strerror(want)); } } while (0)

#define KEY(s) (s), strlen(s)

static char path[256];

static shmlru_t open_cache(const char *p, uint64_t size)
{
	shmlru_options o;
	memset(&o, 0, sizeof o);
	o.size = size;
	shmlru_t h = 0;
	char err[SHMLRU_ERRBUF_SIZE];
	int rc = shmlru_open(KEY(p), &o, &h, err, sizeof err);
	if (rc != SHMLRU_OK) {
		fprintf(stderr, "open %s: %s (%s)\n", p, shmlru_strerror(rc), err);
		exit(2);
	}
	return h;
}

static void test_strerror(void)
{
	for (int c = SHMLRU_OK; c >= SHMLRU_BUSY; c--) {
		const char *m = shmlru_strerror(c);
		CHECK(m != NULL && strlen(m) > 0 && strcmp(m, "unknown status code") != 0);
	}
	CHECK(strcmp(shmlru_strerror(12345), "unknown status code") == 0);
	CHECK(strcmp(shmlru_strerror(1), "unknown status code") == 0);
	CHECK(shmlru_abi_version() == SHMLRU_ABI_VERSION);
}

static void test_open_errors(void)
{
	shmlru_t h = 0;
	char err[SHMLRU_ERRBUF_SIZE];
	shmlru_options o;

	EXPECT(shmlru_open(NULL, 5, NULL, &h, err, sizeof err), SHMLRU_BAD_ARGUMENT);
	CHECK(strlen(err) > 0);
	EXPECT(shmlru_open(path, 0, NULL, &h, err, sizeof err), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_open(KEY(path), NULL, NULL, err, sizeof err), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_open(KEY(path), NULL, &h, NULL, 10), SHMLRU_BAD_ARGUMENT);

	memset(&o, 0, sizeof o);
	o.reserved[0] = 1;
	EXPECT(shmlru_open(KEY(path), &o, &h, err, sizeof err), SHMLRU_BAD_OPTIONS);
	memset(&o, 0, sizeof o);
	o.size = 4 << 20;
	o.shards = 3; /* not a power of two */
	EXPECT(shmlru_open(KEY(path), &o, &h, err, sizeof err), SHMLRU_BAD_OPTIONS);
	CHECK(strstr(err, "Shards") != NULL || strstr(err, "shards") != NULL);
	memset(&o, 0, sizeof o);
	o.mode = 01000000;
	EXPECT(shmlru_open(KEY(path), &o, &h, err, sizeof err), SHMLRU_BAD_OPTIONS);
	/* block_size is gone since layout 3: a program that still sets it
	 * learns so, rather than having it ignored. */
	memset(&o, 0, sizeof o);
	o.size = 4 << 20;
	o.reserved_block_size = 128;
	EXPECT(shmlru_open(KEY(path), &o, &h, err, sizeof err), SHMLRU_BAD_OPTIONS);
	CHECK(strstr(err, "block_size") != NULL && strstr(err, "layout 3") != NULL);
	CHECK(access(path, F_OK) != 0); /* refused before anything was created */

	/* A directory, a missing region, a foreign file. */
	EXPECT(shmlru_open(KEY("/tmp"), NULL, &h, err, sizeof err), SHMLRU_NOT_REGION);
	CHECK(strstr(err, "/tmp") != NULL);
	memset(&o, 0, sizeof o);
	o.no_create = 1;
	char missing[300];
	snprintf(missing, sizeof missing, "%s-missing", path);
	EXPECT(shmlru_open(KEY(missing), &o, &h, err, sizeof err), SHMLRU_NOT_EXIST);
	CHECK(access(missing, F_OK) != 0);
	char foreign[300];
	snprintf(foreign, sizeof foreign, "%s-foreign", path);
	int fd = open(foreign, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(fd >= 0);
	char junk[8192];
	memset(junk, 'x', sizeof junk);
	CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
	close(fd);
	EXPECT(shmlru_open(KEY(foreign), NULL, &h, err, sizeof err), SHMLRU_NOT_REGION);
	unlink(foreign);

	/* A symbolic link at the path is never followed; a mode that lets the
	 * group read without writing is refused before anything is created. */
	char link[300], target[300];
	snprintf(link, sizeof link, "%s-link", path);
	snprintf(target, sizeof target, "%s-target", path);
	CHECK(symlink(target, link) == 0);
	EXPECT(shmlru_open(KEY(link), NULL, &h, err, sizeof err), SHMLRU_UNTRUSTED);
	CHECK(strstr(err, "symbolic link") != NULL);
	CHECK(access(target, F_OK) != 0);
	unlink(link);
	memset(&o, 0, sizeof o);
	o.mode = 0640;
	EXPECT(shmlru_open(KEY(path), &o, &h, err, sizeof err), SHMLRU_BAD_OPTIONS);
	CHECK(strstr(err, "read-only") != NULL);
	CHECK(access(path, F_OK) != 0);

	/* A truncated error buffer is still NUL-terminated. */
	char small[8];
	memset(small, 'z', sizeof small);
	EXPECT(shmlru_open(KEY("/tmp"), NULL, &h, small, sizeof small), SHMLRU_NOT_REGION);
	CHECK(memchr(small, 0, sizeof small) != NULL);

	/* An existing region with another geometry, insisted on. */
	shmlru_t a = open_cache(path, 4 << 20);
	memset(&o, 0, sizeof o);
	o.size = 8 << 20;
	o.exact = 1;
	EXPECT(shmlru_open(KEY(path), &o, &h, err, sizeof err), SHMLRU_INCOMPATIBLE);
	EXPECT(shmlru_close(a), SHMLRU_OK);
}

static void test_handles(void)
{
	char buf[16];
	size_t n;
	EXPECT(shmlru_get(0, KEY("k"), buf, sizeof buf, &n, NULL), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_get(0xdeadbeefULL, KEY("k"), buf, sizeof buf, &n, NULL), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_close(0), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_close(987654321ULL), SHMLRU_BAD_HANDLE);

	shmlru_t h = open_cache(path, 4 << 20);
	EXPECT(shmlru_write(h, KEY("k"), "v", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_close(h), SHMLRU_OK);
	EXPECT(shmlru_close(h), SHMLRU_CLOSED);
	EXPECT(shmlru_get(h, KEY("k"), buf, sizeof buf, &n, NULL), SHMLRU_CLOSED);
	EXPECT(shmlru_write(h, KEY("k"), "v", 1, NULL, NULL), SHMLRU_CLOSED);
	EXPECT(shmlru_flush_all(h), SHMLRU_CLOSED);
	EXPECT(shmlru_len(h, &n), SHMLRU_CLOSED);

	/* A new handle in the same slot does not revive the closed one. */
	shmlru_t h2 = open_cache(path, 4 << 20);
	CHECK(h2 != h);
	EXPECT(shmlru_get(h, KEY("k"), buf, sizeof buf, &n, NULL), SHMLRU_CLOSED);
	EXPECT(shmlru_get(h2, KEY("k"), buf, sizeof buf, &n, NULL), SHMLRU_OK);
	EXPECT(shmlru_close(h2), SHMLRU_OK);
}

static void test_get_set(shmlru_t h)
{
	char buf[64];
	size_t n = 0;
	shmlru_meta m;
	shmlru_write_opts o;
	shmlru_write_result r;

	EXPECT(shmlru_get(h, KEY("nope"), buf, sizeof buf, &n, &m), SHMLRU_NOT_FOUND);

	memset(&o, 0, sizeof o);
	o.flags = 42;
	EXPECT(shmlru_write(h, KEY("s"), "hello", 5, &o, &r), SHMLRU_OK);
	CHECK(r.version != 0 && r.forcible == 0);
	memset(&m, 0xff, sizeof m);
	EXPECT(shmlru_get(h, KEY("s"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
	CHECK(m.type == SHMLRU_TYPE_BYTES && m.flags == 42 && m.version == r.version && m.expires_ms == 0 && m.stale == 0);

	/* Too small: the size needed comes back; grow and retry. */
	EXPECT(shmlru_get(h, KEY("s"), buf, 2, &n, &m), SHMLRU_BUFFER_TOO_SMALL);
	CHECK(n == 5);
	EXPECT(shmlru_get(h, KEY("s"), NULL, 0, &n, NULL), SHMLRU_BUFFER_TOO_SMALL);
	CHECK(n == 5);

	/* Numbers and booleans keep their type. */
	double d = 3.25;
	memset(&o, 0, sizeof o);
	o.type = SHMLRU_TYPE_NUMBER;
	EXPECT(shmlru_write(h, KEY("n"), &d, sizeof d, &o, NULL), SHMLRU_OK);
	EXPECT(shmlru_get(h, KEY("n"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	double got;
	memcpy(&got, buf, sizeof got);
	CHECK(n == 8 && m.type == SHMLRU_TYPE_NUMBER && got == 3.25);
	EXPECT(shmlru_write(h, KEY("n"), "abc", 3, &o, NULL), SHMLRU_BAD_VALUE);
	o.type = SHMLRU_TYPE_BOOL;
	EXPECT(shmlru_write(h, KEY("b"), "\1", 1, &o, NULL), SHMLRU_OK);
	EXPECT(shmlru_get(h, KEY("b"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	CHECK(n == 1 && buf[0] == 1 && m.type == SHMLRU_TYPE_BOOL);
	EXPECT(shmlru_write(h, KEY("b"), "\2", 1, &o, NULL), SHMLRU_BAD_VALUE);
	o.type = SHMLRU_TYPE_LIST;
	EXPECT(shmlru_write(h, KEY("b"), "", 0, &o, NULL), SHMLRU_BAD_VALUE);
	o.type = 9;
	EXPECT(shmlru_write(h, KEY("b"), "x", 1, &o, NULL), SHMLRU_BAD_VALUE);

	/* The empty value is a value. */
	EXPECT(shmlru_write(h, KEY("empty"), NULL, 0, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_get(h, KEY("empty"), NULL, 0, &n, &m), SHMLRU_OK);
	CHECK(n == 0);

	/* Bad arguments. */
	EXPECT(shmlru_get(h, NULL, 3, buf, sizeof buf, &n, &m), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_get(h, "k", 0, buf, sizeof buf, &n, &m), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_get(h, NULL, 0, buf, sizeof buf, &n, &m), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_get(h, KEY("s"), buf, sizeof buf, NULL, &m), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_get(h, KEY("s"), NULL, 10, &n, &m), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_write(h, NULL, 1, "v", 1, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_write(h, "k", 0, "v", 1, NULL, NULL), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_write(h, KEY("k"), NULL, 1, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	memset(&o, 0, sizeof o);
	o.ttl_ms = -1;
	EXPECT(shmlru_write(h, KEY("k"), "v", 1, &o, NULL), SHMLRU_BAD_TTL);
	memset(&o, 0, sizeof o);
	o.mode = 7;
	EXPECT(shmlru_write(h, KEY("k"), "v", 1, &o, NULL), SHMLRU_BAD_ARGUMENT);
	memset(&o, 0, sizeof o);
	o.reserved = 1;
	EXPECT(shmlru_write(h, KEY("k"), "v", 1, &o, NULL), SHMLRU_BAD_ARGUMENT);

	shmlru_info info;
	EXPECT(shmlru_info_get(h, &info), SHMLRU_OK);
	EXPECT(shmlru_info_get(h, NULL), SHMLRU_BAD_ARGUMENT);
	/* The storage is in 16-byte units, and the shards' heaps fit the region. */
	CHECK(info.unit_size == 16);
	CHECK(info.heap_bytes_per_shard > 0 && info.heap_bytes_per_shard % info.unit_size == 0);
	CHECK(info.shards * info.heap_bytes_per_shard < info.size);
	CHECK(info.max_value < info.heap_bytes_per_shard);
	size_t big = info.max_value + 1;
	char *v = calloc(1, big > info.max_key + 1 ? big : info.max_key + 1);
	EXPECT(shmlru_write(h, v, info.max_key + 1, "v", 1, NULL, NULL), SHMLRU_KEY_TOO_LARGE);
	EXPECT(shmlru_get(h, v, info.max_key + 1, buf, sizeof buf, &n, &m), SHMLRU_KEY_TOO_LARGE);
	EXPECT(shmlru_write(h, v, SHMLRU_MAX_KEY_SIZE + 1, "v", 1, NULL, NULL), SHMLRU_KEY_TOO_LARGE);
	EXPECT(shmlru_write(h, KEY("big"), v, big, NULL, NULL), SHMLRU_VALUE_TOO_LARGE);
	EXPECT(shmlru_write(h, KEY("big"), v, (size_t)-1, NULL, NULL), SHMLRU_VALUE_TOO_LARGE);
	/* The largest value fits, and reads back through a grown buffer. */
	memset(v, 'q', big - 1);
	EXPECT(shmlru_write(h, KEY("big"), v, big - 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_get(h, KEY("big"), buf, sizeof buf, &n, &m), SHMLRU_BUFFER_TOO_SMALL);
	CHECK(n == big - 1);
	char *grown = malloc(n);
	size_t n2 = 0;
	EXPECT(shmlru_get(h, KEY("big"), grown, n, &n2, &m), SHMLRU_OK);
	CHECK(n2 == big - 1 && memcmp(grown, v, n2) == 0);
	free(grown);
	free(v);
	/* A rejected call changed nothing. */
	EXPECT(shmlru_get(h, KEY("s"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	CHECK(n == 5 && memcmp(buf, "hello", 5) == 0);
}

static void test_modes(shmlru_t h)
{
	shmlru_write_opts o;
	shmlru_write_result r;
	shmlru_meta m;
	char buf[16];
	size_t n;
	int deleted = -1;

	memset(&o, 0, sizeof o);
	o.mode = SHMLRU_MODE_ADD;
	EXPECT(shmlru_write(h, KEY("m"), "1", 1, &o, NULL), SHMLRU_OK);
	EXPECT(shmlru_write(h, KEY("m"), "2", 1, &o, NULL), SHMLRU_EXISTS);
	o.mode = SHMLRU_MODE_REPLACE;
	EXPECT(shmlru_write(h, KEY("absent"), "2", 1, &o, NULL), SHMLRU_NOT_FOUND);
	EXPECT(shmlru_write(h, KEY("m"), "3", 1, &o, &r), SHMLRU_OK);
	EXPECT(shmlru_get(h, KEY("m"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	CHECK(n == 1 && buf[0] == '3' && m.version == r.version);

	o.mode = SHMLRU_MODE_CAS;
	o.version = m.version;
	EXPECT(shmlru_write(h, KEY("m"), "4", 1, &o, &r), SHMLRU_OK);
	EXPECT(shmlru_write(h, KEY("m"), "5", 1, &o, NULL), SHMLRU_VERSION_MISMATCH);
	o.version = r.version;
	EXPECT(shmlru_write(h, KEY("absent"), "5", 1, &o, NULL), SHMLRU_NOT_FOUND);

	EXPECT(shmlru_delete(h, KEY("m"), &deleted), SHMLRU_OK);
	CHECK(deleted == 1);
	EXPECT(shmlru_delete(h, KEY("m"), &deleted), SHMLRU_OK);
	CHECK(deleted == 0);
	EXPECT(shmlru_delete(h, KEY("m"), NULL), SHMLRU_OK);
	EXPECT(shmlru_delete(h, "m", 0, NULL), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_delete(h, NULL, 1, NULL), SHMLRU_BAD_ARGUMENT);
}

static void test_incr_ttl(shmlru_t h)
{
	double v = 0;
	int forcible = -1;
	EXPECT(shmlru_incr(h, KEY("cnt"), 1, &v, 0, 0, 0, NULL), SHMLRU_NOT_FOUND);
	EXPECT(shmlru_incr(h, KEY("cnt"), 2, &v, 1, 10, 0, &forcible), SHMLRU_OK);
	CHECK(v == 12 && forcible == 0);
	EXPECT(shmlru_incr(h, KEY("cnt"), -0.5, &v, 0, 0, 0, NULL), SHMLRU_OK);
	CHECK(v == 11.5);
	EXPECT(shmlru_write(h, KEY("str"), "x", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_incr(h, KEY("str"), 1, &v, 1, 0, 0, NULL), SHMLRU_NOT_NUMBER);
	EXPECT(shmlru_incr(h, KEY("cnt"), 1, NULL, 0, 0, 0, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_incr(h, KEY("cnt"), 1, &v, 1, 0, -5, NULL), SHMLRU_BAD_TTL);
	EXPECT(shmlru_incr(h, "", 0, 1, &v, 0, 0, 0, NULL), SHMLRU_EMPTY_KEY);

	int64_t ttl = -1;
	EXPECT(shmlru_ttl(h, KEY("cnt"), &ttl), SHMLRU_OK);
	CHECK(ttl == 0);
	EXPECT(shmlru_ttl(h, KEY("absent"), &ttl), SHMLRU_NOT_FOUND);
	EXPECT(shmlru_ttl(h, KEY("cnt"), NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_expire(h, KEY("cnt"), 60000), SHMLRU_OK);
	EXPECT(shmlru_ttl(h, KEY("cnt"), &ttl), SHMLRU_OK);
	CHECK(ttl > 59000 && ttl <= 60000);
	EXPECT(shmlru_expire(h, KEY("absent"), 1000), SHMLRU_NOT_FOUND);
	EXPECT(shmlru_expire(h, KEY("cnt"), -1), SHMLRU_BAD_TTL);
	EXPECT(shmlru_ttl(h, KEY("cnt"), &ttl), SHMLRU_OK);
	CHECK(ttl > 59000 && ttl <= 60000); /* the refused expire changed nothing */

	/* Expiry: a 1 ms TTL; wait for the clock to pass it. */
	shmlru_write_opts o;
	memset(&o, 0, sizeof o);
	o.ttl_ms = 1;
	o.flags = 7;
	EXPECT(shmlru_write(h, KEY("short"), "gone", 4, &o, NULL), SHMLRU_OK);
	char buf[16];
	size_t n;
	shmlru_meta m;
	int rc, spins = 0;
	while ((rc = shmlru_get(h, KEY("short"), buf, sizeof buf, &n, &m)) == SHMLRU_OK && spins++ < 1000)
		usleep(1000);
	CHECK(rc == SHMLRU_NOT_FOUND);
	EXPECT(shmlru_get_stale(h, KEY("short"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	CHECK(n == 4 && memcmp(buf, "gone", 4) == 0 && m.stale == 1 && m.flags == 7);
	EXPECT(shmlru_peek(h, KEY("short"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	CHECK(m.stale == 1);
	/* Expired and still stored: the time left is negative, never 0. */
	EXPECT(shmlru_ttl(h, KEY("short"), &ttl), SHMLRU_OK);
	CHECK(ttl < 0);
	size_t removed = 0;
	EXPECT(shmlru_flush_expired(h, 0, &removed), SHMLRU_OK);
	CHECK(removed >= 1);
	EXPECT(shmlru_get_stale(h, KEY("short"), buf, sizeof buf, &n, &m), SHMLRU_NOT_FOUND);
	EXPECT(shmlru_ttl(h, KEY("short"), &ttl), SHMLRU_NOT_FOUND);
}

static void test_lists(shmlru_t h)
{
	size_t len = 0, n = 0;
	int type = -1;
	char buf[64];
	double d = 7;

	EXPECT(shmlru_llen(h, KEY("list"), &len), SHMLRU_OK);
	CHECK(len == 0);
	EXPECT(shmlru_rpush(h, KEY("list"), "b", 1, SHMLRU_TYPE_BYTES, &len), SHMLRU_OK);
	CHECK(len == 1);
	EXPECT(shmlru_lpush(h, KEY("list"), "a", 1, SHMLRU_TYPE_BYTES, &len), SHMLRU_OK);
	EXPECT(shmlru_rpush(h, KEY("list"), &d, sizeof d, SHMLRU_TYPE_NUMBER, &len), SHMLRU_OK);
	EXPECT(shmlru_rpush(h, KEY("list"), "a long item", 11, SHMLRU_TYPE_BYTES, NULL), SHMLRU_OK);
	EXPECT(shmlru_llen(h, KEY("list"), &len), SHMLRU_OK);
	CHECK(len == 4);
	EXPECT(shmlru_rpush(h, KEY("list"), "x", 1, SHMLRU_TYPE_BOOL, NULL), SHMLRU_BAD_VALUE);
	EXPECT(shmlru_rpush(h, KEY("list"), "x", 1, SHMLRU_TYPE_NUMBER, NULL), SHMLRU_BAD_VALUE);
	EXPECT(shmlru_rpush(h, KEY("list"), NULL, 1, SHMLRU_TYPE_BYTES, NULL), SHMLRU_BAD_ARGUMENT);

	/* A pop into a buffer too small leaves the item where it was. */
	EXPECT(shmlru_rpop(h, KEY("list"), buf, 3, &n, &type), SHMLRU_BUFFER_TOO_SMALL);
	CHECK(n == 11);
	EXPECT(shmlru_llen(h, KEY("list"), &len), SHMLRU_OK);
	CHECK(len == 4);
	EXPECT(shmlru_rpop(h, KEY("list"), buf, sizeof buf, &n, &type), SHMLRU_OK);
	CHECK(n == 11 && memcmp(buf, "a long item", 11) == 0 && type == SHMLRU_TYPE_BYTES);
	EXPECT(shmlru_rpop(h, KEY("list"), buf, sizeof buf, &n, &type), SHMLRU_OK);
	double got;
	memcpy(&got, buf, 8);
	CHECK(n == 8 && type == SHMLRU_TYPE_NUMBER && got == 7);
	EXPECT(shmlru_lpop(h, KEY("list"), buf, sizeof buf, &n, NULL), SHMLRU_OK);
	CHECK(n == 1 && buf[0] == 'a');
	EXPECT(shmlru_lpop(h, KEY("list"), buf, sizeof buf, &n, &type), SHMLRU_OK);
	CHECK(n == 1 && buf[0] == 'b');
	EXPECT(shmlru_lpop(h, KEY("list"), buf, sizeof buf, &n, &type), SHMLRU_NOT_FOUND);
	EXPECT(shmlru_lpop(h, KEY("list"), buf, sizeof buf, NULL, &type), SHMLRU_BAD_ARGUMENT);

	EXPECT(shmlru_write(h, KEY("notlist"), "x", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_lpush(h, KEY("notlist"), "x", 1, SHMLRU_TYPE_BYTES, NULL), SHMLRU_NOT_LIST);
	EXPECT(shmlru_rpop(h, KEY("notlist"), buf, sizeof buf, &n, &type), SHMLRU_NOT_LIST);
	EXPECT(shmlru_llen(h, KEY("notlist"), &len), SHMLRU_NOT_LIST);
	EXPECT(shmlru_llen(h, KEY("notlist"), NULL), SHMLRU_BAD_ARGUMENT);

	/* A list reads as a list. */
	EXPECT(shmlru_rpush(h, KEY("l2"), "z", 1, SHMLRU_TYPE_BYTES, NULL), SHMLRU_OK);
	shmlru_meta m;
	EXPECT(shmlru_get(h, KEY("l2"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	CHECK(m.type == SHMLRU_TYPE_LIST);
}

static void test_admin(shmlru_t h)
{
	EXPECT(shmlru_flush_all(h), SHMLRU_OK);
	size_t count = 99, used = 0, bytes = 0;
	EXPECT(shmlru_len(h, &count), SHMLRU_OK);
	CHECK(count == 0);
	EXPECT(shmlru_len(h, NULL), SHMLRU_BAD_ARGUMENT);

	EXPECT(shmlru_write(h, KEY("k1"), "1", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_write(h, KEY("key2"), "2", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_keys(h, 0, NULL, 0, &used, &count), SHMLRU_BUFFER_TOO_SMALL);
	CHECK(used == 2 + 2 + 2 + 4 && count == 2);
	char buf[64];
	EXPECT(shmlru_keys(h, 0, buf, sizeof buf, &used, &count), SHMLRU_OK);
	int seen = 0;
	for (size_t off = 0; off < used;) {
		uint16_t l;
		memcpy(&l, buf + off, 2);
		off += 2;
		if ((l == 2 && memcmp(buf + off, "k1", 2) == 0) || (l == 4 && memcmp(buf + off, "key2", 4) == 0))
			seen++;
		off += l;
	}
	CHECK(seen == 2);
	EXPECT(shmlru_keys(h, 1, buf, sizeof buf, &used, &count), SHMLRU_OK);
	CHECK(count == 1);
	EXPECT(shmlru_keys(h, 0, buf, sizeof buf, NULL, &count), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_keys(h, 0, NULL, 5, &used, &count), SHMLRU_BAD_ARGUMENT);

	EXPECT(shmlru_capacity(h, &bytes), SHMLRU_OK);
	CHECK(bytes == 4 << 20);
	EXPECT(shmlru_capacity(h, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_free_space(h, &bytes), SHMLRU_OK);
	CHECK(bytes > 0 && bytes < 4 << 20);
	EXPECT(shmlru_free_space(h, NULL), SHMLRU_BAD_ARGUMENT);

	shmlru_stats st;
	EXPECT(shmlru_stats_get(h, &st), SHMLRU_OK);
	CHECK(st.entries == 2 && st.hits > 0 && st.misses > 0 && st.sets > 0 && st.capacity == 4 << 20);
	CHECK(st.used_bytes > 0 && st.free_bytes == bytes);
	EXPECT(shmlru_stats_get(h, NULL), SHMLRU_BAD_ARGUMENT);

	size_t problems = 99;
	EXPECT(shmlru_check(h, &problems), SHMLRU_OK);
	CHECK(problems == 0);
	EXPECT(shmlru_check(h, NULL), SHMLRU_BAD_ARGUMENT);
	size_t removed = 9;
	EXPECT(shmlru_flush_expired(h, 10, &removed), SHMLRU_OK);
	CHECK(removed == 0);
	EXPECT(shmlru_flush_expired(h, 0, NULL), SHMLRU_OK);
}

static void test_no_evict(shmlru_t h)
{
	/* Fill the cache; safe writes then fail rather than evict. */
	shmlru_info info;
	EXPECT(shmlru_info_get(h, &info), SHMLRU_OK);
	char *v = calloc(1, info.max_value);
	shmlru_write_opts o;
	memset(&o, 0, sizeof o);
	o.no_evict = 1;
	int rc = SHMLRU_OK, i;
	char key[32];
	for (i = 0; i < 10000 && rc == SHMLRU_OK; i++) {
		snprintf(key, sizeof key, "fill%d", i);
		rc = shmlru_write(h, KEY(key), v, info.max_value / 2, &o, NULL);
	}
	CHECK(rc == SHMLRU_NO_MEMORY);
	/* A plain set evicts instead, and says so. */
	shmlru_write_result r;
	o.no_evict = 0;
	int forced = 0;
	for (int j = 0; j < 100 && !forced; j++) {
		snprintf(key, sizeof key, "evict%d", j);
		EXPECT(shmlru_write(h, KEY(key), v, info.max_value / 2, &o, &r), SHMLRU_OK);
		forced = r.forcible;
	}
	CHECK(forced);
	free(v);
	shmlru_stats st;
	EXPECT(shmlru_stats_get(h, &st), SHMLRU_OK);
	CHECK(st.evictions > 0);
}

struct worker { shmlru_t h; int id; int errors; };

static void *hammer(void *arg)
{
	struct worker *w = arg;
	char key[32], val[64], buf[64];
	size_t n;
	for (int i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "t%d-%d", w->id, i % 100);
		int len = snprintf(val, sizeof val, "value %d", i);
		if (shmlru_write(w->h, key, strlen(key), val, (size_t)len, NULL, NULL) != SHMLRU_OK)
			w->errors++;
		if (shmlru_get(w->h, key, strlen(key), buf, sizeof buf, &n, NULL) != SHMLRU_OK ||
		    n != (size_t)len || memcmp(buf, val, n) != 0)
			w->errors++;
		double r;
		if (shmlru_incr(w->h, KEY("threads"), 1, &r, 1, 0, 0, NULL) != SHMLRU_OK)
			w->errors++;
	}
	return NULL;
}

/* A caller's pointer that does not cover its
 * length faults inside the library. That is SHMLRU_BAD_ARGUMENT, and the
 * entry keeps its old value and version: nothing torn, no shard reset.
 * Before, a fault mid-write was re-raised after the lock was released over
 * a half-copied value (SHMLRU_INTERNAL, and every reader saw the torn
 * value), and a pointer below 4096 reset the shard as corrupt. */
static void test_bad_pointers(shmlru_t h)
{
	long page = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	memset(m, 'n', page);
	munmap(m + page, page); /* the value's second half is not mapped */

	char old[1500];
	memset(old, 'o', sizeof old);
	EXPECT(shmlru_write(h, KEY("bp"), old, sizeof old, NULL, NULL), SHMLRU_OK);
	shmlru_meta before, after;
	char buf[2048];
	size_t n = 0;
	EXPECT(shmlru_get(h, KEY("bp"), buf, sizeof buf, &n, &before), SHMLRU_OK);
	shmlru_stats st0, st1;
	EXPECT(shmlru_stats_get(h, &st0), SHMLRU_OK);

	/* value_len longer than the buffer: the tail faults */
	EXPECT(shmlru_write(h, KEY("bp"), m + page - 700, sizeof old, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	/* NULL-like and wild value pointers */
	EXPECT(shmlru_write(h, KEY("bp"), (const void *)16, sizeof old, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_write(h, KEY("bp"), m + page, 10, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	/* keys and output buffers */
	EXPECT(shmlru_write(h, (const char *)16, 4, "v", 1, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_get(h, m + page - 2, 5, buf, sizeof buf, &n, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_get(h, KEY("bp"), (void *)16, sizeof buf, &n, NULL), SHMLRU_BAD_ARGUMENT);
	double v;
	EXPECT(shmlru_incr(h, (const char *)16, 3, 1, &v, 1, 0, 0, NULL), SHMLRU_BAD_ARGUMENT);

	/* The native path too: options, the result's forcible flag. */
	EXPECT(shmlru_write(h, KEY("bp"), old, sizeof old, (const shmlru_write_opts *)16, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_write(h, KEY("num"), "\0\0\0\0\0\0\0\0", 8, NULL, NULL), SHMLRU_OK);
	{
		shmlru_write_opts no;
		memset(&no, 0, sizeof no);
		no.type = SHMLRU_TYPE_NUMBER;
		EXPECT(shmlru_write(h, KEY("num"), "\0\0\0\0\0\0\0\0", 8, &no, NULL), SHMLRU_OK);
	}
	EXPECT(shmlru_incr(h, KEY("num"), 1, &v, 0, 0, 0, (int *)16), SHMLRU_BAD_ARGUMENT);
	/* Go refuses an init_ttl it would not use; so must the native path. */
	EXPECT(shmlru_incr(h, KEY("num"), 1, &v, 0, 0, -1, NULL), SHMLRU_BAD_TTL);
	EXPECT(shmlru_incr(h, KEY("num"), 0, &v, 0, 0, 0, NULL), SHMLRU_OK);
	CHECK(v == 0); /* the incr whose forcible pointer was bad changed nothing */

	memset(buf, 0, sizeof buf);
	EXPECT(shmlru_get(h, KEY("bp"), buf, sizeof buf, &n, &after), SHMLRU_OK);
	CHECK(n == sizeof old && memcmp(buf, old, sizeof old) == 0);
	CHECK(after.version == before.version);
	EXPECT(shmlru_stats_get(h, &st1), SHMLRU_OK);
	CHECK(st1.resets == st0.resets);
	munmap(m, page);
}

/* shmlru_stats_get (and the other readers) in one thread
 * while another closes the handle: a status, never a crash of the host. */
static void *stats_loop(void *arg)
{
	shmlru_t h = *(shmlru_t *)arg;
	shmlru_stats st;
	shmlru_info info;
	size_t n;
	for (;;) {
		int rc = shmlru_stats_get(h, &st);
		shmlru_info_get(h, &info);
		shmlru_capacity(h, &n);
		shmlru_len(h, &n);
		if (rc != SHMLRU_OK) {
			return (void *)(intptr_t)rc;
		}
	}
}

static void test_stats_while_closing(void)
{
	char p[300];
	snprintf(p, sizeof p, "%s-closing", path);
	for (int round = 0; round < 20; round++) {
		shmlru_t h = open_cache(p, 1 << 20);
		pthread_t t[2];
		for (int i = 0; i < 2; i++)
			CHECK(pthread_create(&t[i], NULL, stats_loop, &h) == 0);
		usleep(500);
		EXPECT(shmlru_close(h), SHMLRU_OK);
		for (int i = 0; i < 2; i++) {
			void *rc;
			pthread_join(t[i], &rc);
			CHECK((intptr_t)rc == SHMLRU_CLOSED);
		}
	}
	unlink(p);
}

/* l1_valid_loop calls shmlru_l1_valid (or, given cursors,
 * shmlru_l1_current, or given heads too, loads the head from the
 * ring-head watch) on a handle until it answers neither 1 nor 0, and a
 * thousand times more: it returns the first other answer, or 99 if an
 * answer of 1 or 0 came after it. */
struct valid_arg {
	shmlru_t h;
	uint32_t stripe;
	uint64_t stamp;
	int calls; /* atomics */
	const uint64_t *cursors;
	size_t ncursors;
	const volatile uint64_t *heads[64]; /* heads[0] NULL: not the ring-head watch */
	uint32_t shift;
};

static void *l1_valid_loop(void *p)
{
	struct valid_arg *a = p;
	int first = 0;
	for (int more = 0; more < 1000;) {
		int rc;
		if (a->heads[0] != NULL) {
			/* the watch's answer; a 0 read is the watch closed */
			uint32_t si = a->stripe >> a->shift;
			uint64_t v = *a->heads[si];
			rc = v == a->cursors[si] ? 1 : v == 0 ? SHMLRU_CLOSED : 0;
		} else {
			rc = a->cursors ? shmlru_l1_current(a->h, a->cursors, a->ncursors, a->stripe)
			                : shmlru_l1_valid(a->h, a->stripe, a->stamp);
		}
		__atomic_fetch_add(&a->calls, 1, __ATOMIC_RELAXED);
		if (rc == 1 || rc == 0) {
			if (first != 0)
				return (void *)(intptr_t)99;
			continue;
		}
		if (first == 0)
			first = rc;
		more++;
	}
	return (void *)(intptr_t)first;
}

/* shmlru_l1_valid and shmlru_l1_current count no call in flight: a
 * handle closed (its mapping gone, and another region opened, perhaps
 * where it was) while threads call them gives them SHMLRU_CLOSED from then
 * on, never an answer of 1 or 0 after it, and no fault. Nor does a load
 * from the ring-head watch (shmlru_l1_heads) fault: it reads 0 from then
 * on, never the cursor. */
static void test_l1_valid_while_closing(void)
{
	char p[300], q[300];
	snprintf(p, sizeof p, "%s-l1closing", path);
	snprintf(q, sizeof q, "%s-l1other", path);
	for (int round = 0; round < 80; round++) {
		shmlru_t h = open_cache(p, 1 << 20);
		struct valid_arg a = { h, 0, 0, 0, NULL, 0, { NULL }, 0 };
		EXPECT(shmlru_l1_stamp(h, KEY("l1c"), &a.stripe, &a.stamp), SHMLRU_OK);
		uint64_t cur[64];
		size_t n;
		int lapped;
		memset(cur, 0xff, sizeof cur);
		if (round % 3) {
			/* one cursor a shard, at the present changes */
			for (a.ncursors = 1; a.ncursors <= 64; a.ncursors++)
				if (shmlru_l1_changes(h, cur, a.ncursors, NULL, 0, &n, &lapped) == SHMLRU_OK)
					break;
			CHECK(a.ncursors <= 64);
			EXPECT(shmlru_l1_current(h, cur, a.ncursors, a.stripe), 1);
			a.cursors = cur;
			if (round % 3 == 2)
				EXPECT(shmlru_l1_heads(h, a.heads, a.ncursors, &a.shift), 1);
		}
		pthread_t t[2];
		for (int i = 0; i < 2; i++)
			CHECK(pthread_create(&t[i], NULL, l1_valid_loop, &a) == 0);
		while (__atomic_load_n(&a.calls, __ATOMIC_RELAXED) < 100 * (round / 2 % 4 + 1))
			sched_yield();
		EXPECT(shmlru_close(h), SHMLRU_OK);
		shmlru_t h2 = open_cache(q, 1 << 20);
		for (int i = 0; i < 2; i++) {
			void *rc;
			pthread_join(t[i], &rc);
			EXPECT((int)(intptr_t)rc, SHMLRU_CLOSED);
		}
		EXPECT(shmlru_close(h2), SHMLRU_OK);
	}
	unlink(p);
	unlink(q);
}

/* l1_valid_all calls shmlru_l1_valid ten thousand times and returns its
 * first answer other than SHMLRU_CORRUPT, or SHMLRU_CORRUPT. */
static void *l1_valid_all(void *p)
{
	struct valid_arg *a = p;
	for (int i = 0; i < 10000; i++) {
		int rc = shmlru_l1_valid(a->h, a->stripe, a->stamp);
		if (rc != SHMLRU_CORRUPT)
			return (void *)(intptr_t)rc;
	}
	return (void *)(intptr_t)SHMLRU_CORRUPT;
}

/* shmlru_l1_valid on a region whose file was truncated to nothing under
 * its open handle, from several threads at once: its load of the stripe
 * faults (on x86-64 and arm64 the fault returns from guard.c's
 * recoverable load, here with this program's sanitizer handler in the
 * chain too), and every call is answered SHMLRU_CORRUPT (Go's answer: its
 * mapping faults as well); the process lives. */
static void test_l1_valid_truncated(void)
{
	char p[300];
	snprintf(p, sizeof p, "%s-l1truncated", path);
	shmlru_t h = open_cache(p, 1 << 20);
	struct valid_arg a = { h, 0, 0, 0, NULL, 0, { NULL }, 0 };
	EXPECT(shmlru_l1_stamp(h, KEY("l1t"), &a.stripe, &a.stamp), SHMLRU_OK);
	EXPECT(shmlru_l1_valid(h, a.stripe, a.stamp), 1);
	CHECK(truncate(p, 0) == 0);
	enum { T = 4 };
	pthread_t t[T];
	for (int i = 0; i < T; i++)
		CHECK(pthread_create(&t[i], NULL, l1_valid_all, &a) == 0);
	for (int i = 0; i < T; i++) {
		void *rc;
		pthread_join(t[i], &rc);
		EXPECT((int)(intptr_t)rc, SHMLRU_CORRUPT);
	}
	EXPECT(shmlru_close(h), SHMLRU_OK);
	unlink(p);
}

static void test_threads(shmlru_t h)
{
	enum { T = 4 };
	pthread_t t[T];
	struct worker w[T];
	for (int i = 0; i < T; i++) {
		w[i] = (struct worker){ h, i, 0 };
		CHECK(pthread_create(&t[i], NULL, hammer, &w[i]) == 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(t[i], NULL);
		CHECK(w[i].errors == 0);
	}
	char buf[16];
	size_t n;
	EXPECT(shmlru_get(h, KEY("threads"), buf, sizeof buf, &n, NULL), SHMLRU_OK);
	double d;
	memcpy(&d, buf, 8);
	CHECK(d == T * 20000);
}

static void test_fork(shmlru_t h)
{
	pid_t pid = fork();
	if (pid == 0) {
		char buf[16];
		size_t n;
		int rc = shmlru_get(h, KEY("k1"), buf, sizeof buf, &n, NULL);
		int rc2 = shmlru_open(KEY(path), NULL, &h, NULL, 0);
		const char *msg = shmlru_strerror(SHMLRU_NOT_FOUND);
		_exit(rc == SHMLRU_FORKED && rc2 == SHMLRU_FORKED && strstr(msg, "forked") ? 0 : 1);
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The parent is unaffected. */
	char buf[16];
	size_t n;
	EXPECT(shmlru_get(h, KEY("k1"), buf, sizeof buf, &n, NULL), SHMLRU_OK);
}

/* Read-through between two handles (two attachments, as two processes
 * would be), the change count, cached absences and bad arguments. */
static void test_loads(shmlru_t h)
{
	shmlru_t h2 = open_cache(path, 4 << 20);
	shmlru_load a, b;
	char msg[SHMLRU_LOAD_MSG_SIZE];
	size_t used = 0;
	EXPECT(shmlru_load_begin(h, KEY("lk"), 30000, &a), SHMLRU_OK);
	CHECK(a.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_begin(h2, KEY("lk"), 30000, &b), SHMLRU_OK);
	CHECK(b.state == SHMLRU_LOAD_WAITING);
	EXPECT(shmlru_load_wait(h2, &b, 0, 30000, msg, sizeof msg, &used), SHMLRU_OK);
	CHECK(b.state == SHMLRU_LOAD_WAITING); /* a poll: the loader lives */

	uint64_t c0 = 0, c1 = 0;
	EXPECT(shmlru_changes(h2, KEY("lk"), &c0), SHMLRU_OK);
	EXPECT(shmlru_write(h, KEY("lk"), "v", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_changes(h2, KEY("lk"), &c1), SHMLRU_OK);
	CHECK(c1 != c0);
	EXPECT(shmlru_load_end(h, &a, SHMLRU_LOAD_DONE, NULL, 0), SHMLRU_OK);
	EXPECT(shmlru_load_wait(h2, &b, 10000, 30000, msg, sizeof msg, &used), SHMLRU_OK);
	CHECK(b.state == SHMLRU_LOAD_DONE);
	/* The ticket is no longer a loader's. */
	EXPECT(shmlru_load_end(h, &a, SHMLRU_LOAD_DONE, NULL, 0), SHMLRU_BAD_ARGUMENT);

	/* A failure reaches the waiter, with its message. */
	EXPECT(shmlru_load_begin(h, KEY("lf"), 0, &a), SHMLRU_OK);
	EXPECT(shmlru_load_begin(h2, KEY("lf"), 0, &b), SHMLRU_OK);
	CHECK(a.state == SHMLRU_LOAD_MINE && b.state == SHMLRU_LOAD_WAITING);
	EXPECT(shmlru_load_end(h, &a, SHMLRU_LOAD_FAILED, KEY("db down")), SHMLRU_OK);
	EXPECT(shmlru_load_wait(h2, &b, 10000, 0, msg, sizeof msg, &used), SHMLRU_OK);
	CHECK(b.state == SHMLRU_LOAD_FAILED && used == 7 && memcmp(msg, "db down", 7) == 0);

	/* A loader whose lease ran out is taken over: from then on its
	 * load_store writes nothing (SHMLRU_LOAD_LOST), so the new loader's
	 * value stands. */
	EXPECT(shmlru_load_begin(h, KEY("ll"), 1, &a), SHMLRU_OK);
	EXPECT(shmlru_load_begin(h2, KEY("ll"), 0, &b), SHMLRU_OK);
	CHECK(a.state == SHMLRU_LOAD_MINE);
	if (b.state == SHMLRU_LOAD_WAITING)
		EXPECT(shmlru_load_wait(h2, &b, 10000, 0, msg, sizeof msg, &used), SHMLRU_OK);
	CHECK(b.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_store(h2, &b, KEY("ll"), "new", 3, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_load_store(h, &a, KEY("ll"), "late", 4, NULL, NULL), SHMLRU_LOAD_LOST);
	EXPECT(shmlru_load_end(h, &a, SHMLRU_LOAD_DONE, NULL, 0), SHMLRU_LOAD_LOST);
	{
		char v[8];
		size_t vn = 0;
		EXPECT(shmlru_get(h, KEY("ll"), v, sizeof v, &vn, NULL), SHMLRU_OK);
		CHECK(vn == 3 && memcmp(v, "new", 3) == 0);
	}
	shmlru_write_opts o;
	memset(&o, 0, sizeof o);
	o.mode = SHMLRU_MODE_ADD;
	EXPECT(shmlru_load_store(h2, &b, KEY("ll"), "x", 1, &o, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_store(h2, &b, KEY("other"), "x", 1, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_store(h2, NULL, KEY("ll"), "x", 1, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_end(h2, &b, SHMLRU_LOAD_DONE, NULL, 0), SHMLRU_OK);
	EXPECT(shmlru_load_store(h2, &b, KEY("ll"), "x", 1, NULL, NULL), SHMLRU_BAD_ARGUMENT); /* ended */

	/* A cached absence: written with an empty value, read as SHMLRU_TYPE_NONE. */
	memset(&o, 0, sizeof o);
	o.type = SHMLRU_TYPE_NONE;
	EXPECT(shmlru_write(h, KEY("neg"), "", 0, &o, NULL), SHMLRU_OK);
	EXPECT(shmlru_write(h, KEY("neg"), "x", 1, &o, NULL), SHMLRU_BAD_VALUE);
	char buf[8];
	size_t n = 99;
	shmlru_meta m;
	EXPECT(shmlru_get(h2, KEY("neg"), buf, sizeof buf, &n, &m), SHMLRU_OK);
	CHECK(n == 0 && m.type == SHMLRU_TYPE_NONE);

	/* Bad arguments change nothing. */
	EXPECT(shmlru_load_begin(h, KEY("x"), -1, &a), SHMLRU_BAD_TTL);
	EXPECT(shmlru_load_begin(h, KEY("x"), 0, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_begin(h, "", 0, 0, &a), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_load_wait(h, NULL, 0, 0, NULL, 0, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_changes(h, KEY("x"), NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_begin(h, KEY("x"), 0, &a), SHMLRU_OK);
	CHECK(a.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_wait(h, &a, 0, 0, NULL, 0, NULL), SHMLRU_BAD_ARGUMENT); /* mine, not waiting */
	EXPECT(shmlru_load_end(h, &a, 99, NULL, 0), SHMLRU_BAD_OPTIONS);
	EXPECT(shmlru_load_end(h, &a, SHMLRU_LOAD_ABANDONED, NULL, 0), SHMLRU_OK);
	EXPECT(shmlru_load_begin(0, KEY("x"), 0, &a), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_close(h2), SHMLRU_OK);
	EXPECT(shmlru_load_begin(h2, KEY("x"), 0, &a), SHMLRU_CLOSED);
}

/* Tracked reads and fills with no agent on the host (a C program cannot be one; the
 * in-step protocol is tested with a Go agent by c/track_test.go): not in
 * step, so nothing may be filled; and bad arguments. */
static void test_tracked(shmlru_t h)
{
	uint32_t gen = 99;
	EXPECT(shmlru_tracked_gen(h, &gen), SHMLRU_OK);
	CHECK(gen == 0);
	shmlru_guard g;
	memset(&g, 0xff, sizeof g);
	EXPECT(shmlru_fill_begin(h, KEY("tk"), &g), SHMLRU_NOT_IN_STEP);
	CHECK(g.gen == 0 && g.slot == 0 && g.count == 0); /* zeroed: fill_store refuses it */
	int stored = 7;
	EXPECT(shmlru_fill_store(h, KEY("tk"), "v", 1, 0, 0, &g, &stored), SHMLRU_BAD_ARGUMENT);
	CHECK(stored == 7);
	char buf[8];
	size_t n;
	EXPECT(shmlru_get(h, KEY("tk"), buf, sizeof buf, &n, NULL), SHMLRU_NOT_FOUND);
	EXPECT(shmlru_get_tracked(h, KEY("tk"), buf, sizeof buf, &n, NULL), SHMLRU_NOT_IN_STEP);
	EXPECT(shmlru_write(h, KEY("tk"), "v", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_get_tracked(h, KEY("tk"), buf, sizeof buf, &n, NULL), SHMLRU_NOT_IN_STEP);
	EXPECT(shmlru_delete(h, KEY("tk"), NULL), SHMLRU_OK);

	/* Guards fill_begin never issues: generation 0, the stale-window bit
	 * (never in a generation), a guard word past the table. */
	shmlru_guard bad = { 1u << 31, 0, 0 };
	EXPECT(shmlru_fill_store(h, KEY("tk"), "v", 1, 0, 0, &bad, NULL), SHMLRU_BAD_ARGUMENT);
	bad.gen = 1;
	bad.slot = 0xffffffffu;
	EXPECT(shmlru_fill_store(h, KEY("tk"), "v", 1, 0, 0, &bad, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_get(h, KEY("tk"), buf, sizeof buf, &n, NULL), SHMLRU_NOT_FOUND);

	/* The arguments themselves. */
	EXPECT(shmlru_tracked_gen(h, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_tracked_gen(h, (uint32_t *)16), SHMLRU_BAD_ARGUMENT); /* the native path's escape */
	EXPECT(shmlru_get_tracked(h, KEY("tk"), buf, sizeof buf, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_get_tracked(h, KEY("tk"), NULL, 8, &n, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_get_tracked(h, "", 0, buf, sizeof buf, &n, NULL), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_get_tracked(h, (const char *)16, 4, buf, sizeof buf, &n, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_fill_begin(h, KEY("tk"), NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_fill_begin(h, "", 0, &g), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_fill_begin(h, (const char *)16, 4, &g), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_fill_store(h, KEY("tk"), "v", 1, 0, 0, NULL, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_fill_store(h, KEY("tk"), NULL, 1, 0, 0, &g, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_fill_store(h, KEY("tk"), "v", 1, 1, 0, &g, NULL), SHMLRU_BAD_VALUE); /* an absence has no value */
	EXPECT(shmlru_fill_store(h, KEY("tk"), "v", 1, 0, -1, &g, NULL), SHMLRU_BAD_TTL);
	EXPECT(shmlru_fill_store(h, "", 0, "v", 1, 0, 0, &g, NULL), SHMLRU_EMPTY_KEY);

	/* Handles: never issued, and closed. */
	EXPECT(shmlru_tracked_gen(0, &gen), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_tracked_gen(0xdeadbeefULL, &gen), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_get_tracked(0, KEY("tk"), buf, sizeof buf, &n, NULL), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_fill_begin(0, KEY("tk"), &g), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_fill_store(0, KEY("tk"), "v", 1, 0, 0, &g, NULL), SHMLRU_BAD_HANDLE);
	shmlru_t h2 = open_cache(path, 4 << 20);
	EXPECT(shmlru_tracked_gen(h2, &gen), SHMLRU_OK);
	EXPECT(shmlru_close(h2), SHMLRU_OK);
	EXPECT(shmlru_tracked_gen(h2, &gen), SHMLRU_CLOSED);
	EXPECT(shmlru_get_tracked(h2, KEY("tk"), buf, sizeof buf, &n, NULL), SHMLRU_CLOSED);
	EXPECT(shmlru_fill_begin(h2, KEY("tk"), &g), SHMLRU_CLOSED);
	EXPECT(shmlru_fill_store(h2, KEY("tk"), "v", 1, 0, 0, &g, NULL), SHMLRU_CLOSED);
}

/* The read-through's rules (shmlru_load_check, _look, _prepare, _finish):
 * a whole load, the states a look tells apart, and bad arguments, each of
 * which changes nothing. */
static void test_read_through(shmlru_t h)
{
	char err[SHMLRU_ERRBUF_SIZE];
	shmlru_load_opts o;
	memset(&o, 0, sizeof o);
	o.ttl_ms = 60000;
	o.neg_ttl_ms = -1;
	EXPECT(shmlru_load_check(&o, err, sizeof err), SHMLRU_OK);
	CHECK(err[0] == 0);
	o.stale_ttl_ms = 1000;
	o.ttl_ms = 0;
	EXPECT(shmlru_load_check(&o, err, sizeof err), SHMLRU_BAD_OPTIONS);
	CHECK(strstr(err, "StaleTTL needs a TTL") != NULL);
	o.ttl_ms = -5;
	EXPECT(shmlru_load_check(&o, err, sizeof err), SHMLRU_BAD_TTL);
	o.ttl_ms = 60000;
	o.stale_ttl_ms = 0;
	o.reserved[3] = 1;
	EXPECT(shmlru_load_check(&o, NULL, 0), SHMLRU_BAD_ARGUMENT);
	o.reserved[3] = 0;
	EXPECT(shmlru_load_check(NULL, NULL, 0), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_check(&o, NULL, 8), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_check(&o, (char *)16, sizeof err), SHMLRU_BAD_ARGUMENT);

	char buf[64];
	size_t n = 99;
	shmlru_meta m;
	shmlru_look lk;
	EXPECT(shmlru_load_look(h, KEY("rt"), 0, buf, sizeof buf, &n, &m, &lk), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_MISS && n == 0);

	/* A whole load: claim, prepare, finish with a value. */
	shmlru_load ld;
	shmlru_guard g;
	shmlru_load_answer a;
	EXPECT(shmlru_load_begin(h, KEY("rt"), 30000, &ld), SHMLRU_OK);
	CHECK(ld.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rt"), &o, buf, sizeof buf, &n, &m, &lk, &g), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_MISS && ld.state == SHMLRU_LOAD_MINE);
	/* Bad arguments end nothing. */
	EXPECT(shmlru_load_finish(h, &ld, KEY("rt"), &o, &g, 99, "v", 1, SHMLRU_TYPE_BYTES, 0, NULL, 0, &a),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rt"), &o, &g, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_BYTES, 0,
	                          NULL, 0, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rt"), &o, &g, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_BYTES, 0,
	                          NULL, 0, (shmlru_load_answer *)16), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rt"), &o, &g, SHMLRU_LOADED_VALUE, (const void *)16, 1,
	                          SHMLRU_TYPE_BYTES, 0, NULL, 0, &a), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rt"), &o, &g, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_LIST, 0,
	                          NULL, 0, &a), SHMLRU_BAD_OPTIONS);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rt"), NULL, &g, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_BYTES,
	                          0, NULL, 0, &a), SHMLRU_BAD_ARGUMENT);
	CHECK(ld.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rt"), &o, &g, SHMLRU_LOADED_VALUE, "v1", 2, SHMLRU_TYPE_BYTES, 0,
	                          NULL, 0, &a), SHMLRU_OK);
	CHECK(a.kept == 1 && a.version != 0 && a.source == SHMLRU_SOURCE_LOADED && a.fresh_ms > 0);
	CHECK(ld.state == SHMLRU_LOAD_DONE);
	EXPECT(shmlru_load_look(h, KEY("rt"), 0, buf, sizeof buf, &n, &m, &lk), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_FRESH && n == 2 && memcmp(buf, "v1", 2) == 0 && m.version == a.version);
	/* Too small a buffer: the room needed. */
	EXPECT(shmlru_load_look(h, KEY("rt"), 0, buf, 1, &n, &m, &lk), SHMLRU_BUFFER_TOO_SMALL);
	CHECK(n == 2);

	/* Written outside any load: an absence with neg_ttl_ms 0 never expires. */
	o.neg_ttl_ms = 0;
	EXPECT(shmlru_load_finish(h, NULL, KEY("rt-neg"), &o, NULL, SHMLRU_LOADED_ABSENT, NULL, 0, 0, 0, NULL, 0,
	                          &a), SHMLRU_OK);
	CHECK(a.kept == 1 && a.fresh_ms == 0);
	EXPECT(shmlru_load_look(h, KEY("rt-neg"), 0, buf, sizeof buf, &n, &m, &lk), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_ABSENT && lk.fresh_ms == 0 && n == 0);
	EXPECT(shmlru_load_finish(h, NULL, KEY("rt-neg"), &o, NULL, SHMLRU_LOADED_FAILED, NULL, 0, 0, 0, NULL, 0,
	                          &a), SHMLRU_BAD_OPTIONS);

	/* A value in its stale window: soft stale. */
	shmlru_write_opts w;
	memset(&w, 0, sizeof w);
	w.ttl_ms = 60000;
	w.flags = (1u << SHMLRU_STALE_FLAG_BIT) | 60000;
	EXPECT(shmlru_write(h, KEY("rt-stale"), "old", 3, &w, NULL), SHMLRU_OK);
	EXPECT(shmlru_load_look(h, KEY("rt-stale"), 0, buf, sizeof buf, &n, &m, &lk), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_SOFT_STALE && n == 3);

	/* A value and an absence a failed load resurrected: resurrected until
	 * their deadline, for every reader; the mark is refused in a loader's
	 * flags. */
	w.flags = 1u << SHMLRU_RESURRECT_FLAG_BIT;
	EXPECT(shmlru_write(h, KEY("rt-res"), "old", 3, &w, NULL), SHMLRU_OK);
	EXPECT(shmlru_load_look(h, KEY("rt-res"), 0, buf, sizeof buf, &n, &m, &lk), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_RESURRECTED && n == 3 && memcmp(buf, "old", 3) == 0 &&
	      lk.fresh_ms == m.expires_ms && m.flags == w.flags);
	w.type = SHMLRU_TYPE_NONE;
	EXPECT(shmlru_write(h, KEY("rt-res-neg"), NULL, 0, &w, NULL), SHMLRU_OK);
	EXPECT(shmlru_load_look(h, KEY("rt-res-neg"), 0, buf, sizeof buf, &n, &m, &lk), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_RESURRECTED && n == 0 && m.type == SHMLRU_TYPE_NONE);
	w.type = 0;
	w.flags = 0;
	EXPECT(shmlru_load_finish(h, NULL, KEY("rt-res"), &o, NULL, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_BYTES,
	                          1u << SHMLRU_RESURRECT_FLAG_BIT, NULL, 0, &a), SHMLRU_BAD_OPTIONS);

	/* A tracked look with no agent on the host: not in step. */
	EXPECT(shmlru_load_look(h, KEY("rt"), 1, buf, sizeof buf, &n, &m, &lk), SHMLRU_NOT_IN_STEP);

	/* Bad arguments. */
	EXPECT(shmlru_load_look(h, KEY("rt"), 2, buf, sizeof buf, &n, &m, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rt"), 0, buf, sizeof buf, NULL, &m, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rt"), 0, buf, sizeof buf, &n, &m, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rt"), 0, (void *)16, sizeof buf, &n, &m, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rt"), 0, buf, sizeof buf, &n, &m, (shmlru_look *)16), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, "", 0, 0, buf, sizeof buf, &n, &m, &lk), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_load_look(0, KEY("rt"), 0, buf, sizeof buf, &n, &m, &lk), SHMLRU_BAD_HANDLE);
	EXPECT(shmlru_load_begin(h, KEY("rt2"), 30000, &ld), SHMLRU_OK);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rt2"), &o, buf, sizeof buf, &n, &m, &lk, NULL),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rt2"), &o, buf, sizeof buf, &n, &m, &lk, (shmlru_guard *)16),
	       SHMLRU_BAD_ARGUMENT);
	CHECK(ld.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_end(h, &ld, SHMLRU_LOAD_ABANDONED, NULL, 0), SHMLRU_OK);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rt2"), &o, buf, sizeof buf, &n, &m, &lk, &g),
	       SHMLRU_BAD_ARGUMENT); /* ended */
}

/* The read-through's calls with every pointer bad in turn (a read-only
 * page, an unmapped one, a length that runs off the buffer, a key that
 * runs off its page): SHMLRU_BAD_ARGUMENT (or the length's own status)
 * with nothing done. The load stays its caller's, the value stays as it
 * was, a waiter still waits, and no shard is reset. */
static void test_read_through_faults(shmlru_t h)
{
	long page = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	char *ro = m + page, *gone = m + 2 * page;
	memset(m, 'k', 2 * page);
	CHECK(mprotect(ro, page, PROT_READ) == 0);
	CHECK(munmap(gone, page) == 0);

	shmlru_load_opts o;
	memset(&o, 0, sizeof o);
	o.ttl_ms = 60000;
	o.neg_ttl_ms = 60000;
	shmlru_stats st0, st1;
	EXPECT(shmlru_stats_get(h, &st0), SHMLRU_OK);
	EXPECT(shmlru_write(h, KEY("rf"), "value", 5, NULL, NULL), SHMLRU_OK);

	char buf[64];
	size_t n;
	shmlru_meta mt;
	shmlru_look lk;
	/* The native look: its value buffer, its outputs. */
	EXPECT(shmlru_load_look(h, KEY("rf"), 0, ro, 64, &n, &mt, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf"), 0, gone - 2, 64, &n, &mt, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf"), 0, buf, sizeof buf, (size_t *)ro, &mt, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf"), 0, buf, sizeof buf, &n, (shmlru_meta *)ro, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf"), 0, buf, sizeof buf, &n, &mt, (shmlru_look *)ro), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, gone - 1, 2, 0, buf, sizeof buf, &n, &mt, &lk), SHMLRU_BAD_ARGUMENT);
	/* Outputs that straddle into the read-only page, their first bytes
	 * writable (4-byte aligned, as a 32-bit ABI aligns them). */
	EXPECT(shmlru_load_look(h, KEY("rf"), 0, buf, sizeof buf, &n, (shmlru_meta *)(ro - 20), &lk),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf"), 0, buf, sizeof buf, &n, &mt, (shmlru_look *)(ro - 12)),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf"), 0, buf, sizeof buf, (size_t *)(ro - 4), &mt, &lk),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, "rf", (size_t)-1, 0, buf, sizeof buf, &n, &mt, &lk), SHMLRU_KEY_TOO_LARGE);

	/* A claimed load of a key that holds a value (prepare copies it),
	 * with a waiter in another attachment. */
	shmlru_t h2 = open_cache(path, 4 << 20);
	shmlru_load ld, w;
	shmlru_guard g;
	shmlru_load_answer a;
	EXPECT(shmlru_load_begin(h, KEY("rf"), 30000, &ld), SHMLRU_OK);
	CHECK(ld.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_begin(h2, KEY("rf"), 30000, &w), SHMLRU_OK);
	CHECK(w.state == SHMLRU_LOAD_WAITING);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, ro, 64, &n, &mt, &lk, &g), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, gone - 2, 64, &n, &mt, &lk, &g), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, buf, sizeof buf, (size_t *)ro, &mt, &lk, &g),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, buf, sizeof buf, &n, (shmlru_meta *)ro, &lk, &g),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, buf, sizeof buf, &n, &mt, (shmlru_look *)ro, &g),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, buf, sizeof buf, &n, &mt, &lk, (shmlru_guard *)ro),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), (const shmlru_load_opts *)gone, buf, sizeof buf, &n, &mt,
	                           &lk, &g), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, buf, sizeof buf, &n, (shmlru_meta *)(ro - 20), &lk, &g),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, buf, sizeof buf, &n, &mt, (shmlru_look *)(ro - 12), &g),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, &ld, KEY("rf"), &o, buf, sizeof buf, &n, &mt, &lk,
	                           (shmlru_guard *)(ro - sizeof g + 4)), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_prepare(h, (shmlru_load *)(ro - sizeof ld + 4), KEY("rf"), &o, buf, sizeof buf, &n, &mt,
	                           &lk, &g), SHMLRU_BAD_ARGUMENT);
	{
		char e8[8];
		shmlru_load_opts bad = o;
		bad.ttl_ms = -1;
		EXPECT(shmlru_load_check(&bad, ro - 4, 64), SHMLRU_BAD_ARGUMENT);
		EXPECT(shmlru_load_check(&bad, e8, sizeof e8), SHMLRU_BAD_TTL);
		CHECK(strlen(e8) == 7);
		EXPECT(shmlru_load_check((const shmlru_load_opts *)(gone - 8), e8, sizeof e8), SHMLRU_BAD_ARGUMENT);
	}
	/* The claimed ticket itself on a read-only page. */
	shmlru_load *rol = (shmlru_load *)(ro + page - sizeof ld);
	CHECK(mprotect(ro, page, PROT_READ | PROT_WRITE) == 0);
	*rol = ld;
	CHECK(mprotect(ro, page, PROT_READ) == 0);
	EXPECT(shmlru_load_prepare(h, rol, KEY("rf"), &o, buf, sizeof buf, &n, &mt, &lk, &g), SHMLRU_BAD_ARGUMENT);
	CHECK(ld.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_wait(h2, &w, 0, 30000, NULL, 0, NULL), SHMLRU_OK);
	CHECK(w.state == SHMLRU_LOAD_WAITING);

	/* Finish: the value, the message, the guard, the answer, the ticket. */
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf"), &o, &g, SHMLRU_LOADED_VALUE, gone - 3, 10, SHMLRU_TYPE_BYTES,
	                          0, NULL, 0, &a), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf"), &o, &g, SHMLRU_LOADED_FAILED, NULL, 0, 0, 0, gone - 3, 10,
	                          &a), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf"), &o, (const shmlru_guard *)gone, SHMLRU_LOADED_VALUE, "v", 1,
	                          SHMLRU_TYPE_BYTES, 0, NULL, 0, &a), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf"), &o, &g, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_BYTES, 0,
	                          NULL, 0, (shmlru_load_answer *)ro), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf"), &o, &g, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_BYTES, 0,
	                          NULL, 0, (shmlru_load_answer *)(ro - sizeof a + 4)), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, (shmlru_load *)(ro - sizeof ld + 4), KEY("rf"), &o, &g, SHMLRU_LOADED_VALUE,
	                          "v", 1, SHMLRU_TYPE_BYTES, 0, NULL, 0, &a), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, gone - 1, 2, &o, &g, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_BYTES, 0,
	                          NULL, 0, &a), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, rol, KEY("rf"), &o, &g, SHMLRU_LOADED_VALUE, "v", 1, SHMLRU_TYPE_BYTES, 0, NULL, 0, &a),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf-other"), &o, &g, SHMLRU_LOADED_ABSENT, NULL, 0, 0, 0, NULL, 0,
	                          &a), SHMLRU_BAD_ARGUMENT);
	CHECK(ld.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_wait(h2, &w, 0, 30000, NULL, 0, NULL), SHMLRU_OK);
	CHECK(w.state == SHMLRU_LOAD_WAITING);
	EXPECT(shmlru_get(h, KEY("rf"), buf, sizeof buf, &n, NULL), SHMLRU_OK);
	CHECK(n == 5 && memcmp(buf, "value", 5) == 0);

	/* A forged ticket (another seq, another flight) ends nobody's load. */
	shmlru_load f = ld;
	f.seq++;
	/* (A lost load is no error of the ending: the answer stands, unkept.) */
	EXPECT(shmlru_load_finish(h, &f, KEY("rf"), &o, &g, SHMLRU_LOADED_ABSENT, NULL, 0, 0, 0, NULL, 0, &a),
	       SHMLRU_OK);
	CHECK(a.kept == 0);
	f = ld;
	EXPECT(shmlru_load_finish(h2, &f, KEY("rf"), &o, &g, SHMLRU_LOADED_ABSENT, NULL, 0, 0, 0, NULL, 0, &a),
	       SHMLRU_OK); /* another attachment's ticket */
	CHECK(a.kept == 0);
	EXPECT(shmlru_load_wait(h2, &w, 0, 30000, NULL, 0, NULL), SHMLRU_OK);
	CHECK(w.state == SHMLRU_LOAD_WAITING);
	EXPECT(shmlru_get(h, KEY("rf"), buf, sizeof buf, &n, NULL), SHMLRU_OK);
	CHECK(n == 5 && memcmp(buf, "value", 5) == 0);

	/* The load ends once; a copy of its ticket used again ends nothing. */
	f = ld;
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf"), &o, &g, SHMLRU_LOADED_VALUE, "new", 3, SHMLRU_TYPE_BYTES, 0,
	                          NULL, 0, &a), SHMLRU_OK);
	EXPECT(shmlru_load_wait(h2, &w, 0, 30000, NULL, 0, NULL), SHMLRU_OK);
	CHECK(w.state == SHMLRU_LOAD_DONE);
	EXPECT(shmlru_load_begin(h2, KEY("rf"), 30000, &w), SHMLRU_OK);
	CHECK(w.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_finish(h, &f, KEY("rf"), &o, &g, SHMLRU_LOADED_VALUE, "old", 3, SHMLRU_TYPE_BYTES, 0,
	                          NULL, 0, &a), SHMLRU_OK); /* lost: the answer stands, nothing written */
	EXPECT(shmlru_get(h, KEY("rf"), buf, sizeof buf, &n, NULL), SHMLRU_OK);
	CHECK(n == 3 && memcmp(buf, "new", 3) == 0);
	EXPECT(shmlru_load_prepare(h2, &w, KEY("rf"), &o, buf, sizeof buf, &n, &mt, &lk, &g), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_FRESH && w.state == SHMLRU_LOAD_DONE);

	/* A resurrection: finish's stale value and answer bad in turn write
	 * nothing; then the resurrected value's look, its outputs bad in
	 * turn, changes nothing, and answers RESURRECTED with good ones. */
	o.resurrect_ttl_ms = 30000;
	EXPECT(shmlru_load_begin(h, KEY("rf-res"), 30000, &ld), SHMLRU_OK);
	CHECK(ld.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf-res"), &o, NULL, SHMLRU_LOADED_FAILED, gone - 3, 10,
	                          SHMLRU_TYPE_BYTES, 0, "down", 4, &a), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf-res"), &o, NULL, SHMLRU_LOADED_FAILED, "old", 3, SHMLRU_TYPE_BYTES,
	                          0, "down", 4, (shmlru_load_answer *)ro), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf-res"), &o, NULL, SHMLRU_LOADED_FAILED, "old", 3, SHMLRU_TYPE_BYTES,
	                          0, "down", 4, (shmlru_load_answer *)(ro - sizeof a + 4)), SHMLRU_BAD_ARGUMENT);
	CHECK(ld.state == SHMLRU_LOAD_MINE);
	EXPECT(shmlru_load_look(h, KEY("rf-res"), 0, buf, sizeof buf, &n, &mt, &lk), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_MISS);
	EXPECT(shmlru_load_finish(h, &ld, KEY("rf-res"), &o, NULL, SHMLRU_LOADED_FAILED, "old", 3, SHMLRU_TYPE_BYTES,
	                          0, "down", 4, &a), SHMLRU_OK);
	CHECK(a.source == SHMLRU_SOURCE_RESURRECTED && a.kept == 1 && ld.state == SHMLRU_LOAD_DONE);
	EXPECT(shmlru_load_look(h, KEY("rf-res"), 0, ro, 64, &n, &mt, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf-res"), 0, gone - 2, 64, &n, &mt, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf-res"), 0, buf, sizeof buf, (size_t *)ro, &mt, &lk), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf-res"), 0, buf, sizeof buf, &n, (shmlru_meta *)(ro - 20), &lk),
	       SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_load_look(h, KEY("rf-res"), 0, buf, sizeof buf, &n, &mt, (shmlru_look *)(ro - 12)),
	       SHMLRU_BAD_ARGUMENT);
	n = 0;
	EXPECT(shmlru_load_look(h, KEY("rf-res"), 0, buf, sizeof buf, &n, &mt, &lk), SHMLRU_OK);
	CHECK(lk.state == SHMLRU_LOOK_RESURRECTED && n == 3 && memcmp(buf, "old", 3) == 0 &&
	      (mt.flags & (1u << SHMLRU_RESURRECT_FLAG_BIT)) && lk.fresh_ms == mt.expires_ms);
	o.resurrect_ttl_ms = 0;

	EXPECT(shmlru_stats_get(h, &st1), SHMLRU_OK);
	CHECK(st1.resets == st0.resets);
	EXPECT(shmlru_close(h2), SHMLRU_OK);
	munmap(m, 2 * page);
}

/* Per-process copies: a stamp taken before a write no longer validates
 * after it, in this process and another's handle; the change rings report
 * the written key's stripe; a flush laps; and bad arguments (wild
 * pointers, a stripe out of range, the wrong number of cursors) change
 * nothing. */
static void test_l1(shmlru_t h)
{
	shmlru_t h2 = open_cache(path, 4 << 20);
	shmlru_info info;
	EXPECT(shmlru_info_get(h, &info), SHMLRU_OK);
	size_t ns = (size_t)info.shards;
	uint64_t *cur = malloc(ns * sizeof *cur);
	CHECK(cur != NULL);
	memset(cur, 0xff, ns * sizeof *cur); /* from now on */
	uint32_t out[64];
	size_t n = 99;
	int lapped = 7;
	EXPECT(shmlru_l1_changes(h2, cur, ns, out, 0, &n, &lapped), SHMLRU_OK);
	CHECK(n == 0 && lapped == 0);

	uint32_t st = 0, st2 = 0;
	uint64_t c0 = 0, c1 = 0;
	EXPECT(shmlru_write(h, KEY("l1k"), "v1", 2, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_l1_stamp(h2, KEY("l1k"), &st, &c0), SHMLRU_OK);
	EXPECT(shmlru_l1_stamp(h, KEY("l1k"), &st2, &c1), SHMLRU_OK);
	CHECK(st == st2 && c0 == c1);
	EXPECT(shmlru_l1_valid(h2, st, c0), 1);
	EXPECT(shmlru_write(h, KEY("l1k"), "v2", 2, NULL, NULL), SHMLRU_OK); /* in place: the native writer */
	EXPECT(shmlru_l1_valid(h2, st, c0), 0);
	EXPECT(shmlru_l1_stamp(h2, KEY("l1k"), &st2, &c1), SHMLRU_OK);
	CHECK(st2 == st && c1 == c0 + 1);
	EXPECT(shmlru_l1_changes(h2, cur, ns, out, 64, &n, &lapped), SHMLRU_OK);
	CHECK(n == 2 && out[0] == st && out[1] == st && lapped == 0);
	EXPECT(shmlru_l1_changes(h2, cur, ns, out, 64, &n, &lapped), SHMLRU_OK);
	CHECK(n == 0 && lapped == 0);
	EXPECT(shmlru_flush_all(h), SHMLRU_OK);
	EXPECT(shmlru_l1_valid(h2, st, c1), 0);
	EXPECT(shmlru_l1_changes(h2, cur, ns, out, 64, &n, &lapped), SHMLRU_OK);
	CHECK(n == 0 && lapped == 1);
	/* Whether the shard of a stripe changed since the cursors. */
	EXPECT(shmlru_l1_current(h2, cur, ns, st), 1);
	EXPECT(shmlru_write(h, KEY("l1k"), "v3", 2, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_l1_current(h2, cur, ns, st), 0);
	EXPECT(shmlru_l1_changes(h2, cur, ns, out, 64, &n, &lapped), SHMLRU_OK);
	CHECK(n == 1 && out[0] == st && lapped == 0);
	EXPECT(shmlru_l1_current(h2, cur, ns, st), 1);

	/* Bad arguments. */
	EXPECT(shmlru_l1_stamp(h, KEY("l1k"), NULL, &c0), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_stamp(h, KEY("l1k"), &st, NULL), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_stamp(h, KEY("l1k"), (uint32_t *)16, &c0), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_stamp(h, KEY("l1k"), &st, (uint64_t *)16), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_stamp(h, (const char *)16, 3, &st, &c0), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_stamp(h, "", 0, &st, &c0), SHMLRU_EMPTY_KEY);
	EXPECT(shmlru_l1_valid(h, 0xffffffffu, 0), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_valid(0, st, 0), SHMLRU_BAD_HANDLE);
	uint64_t saved = cur[0];
	EXPECT(shmlru_l1_changes(h, cur, ns + 1, out, 64, &n, &lapped), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_changes(h, NULL, ns, out, 64, &n, &lapped), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_changes(h, (uint64_t *)16, ns, out, 64, &n, &lapped), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_changes(h, cur, ns, NULL, 64, &n, &lapped), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_changes(h, cur, ns, (uint32_t *)16, 64, &n, &lapped), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_changes(h, cur, ns, out, 64, NULL, &lapped), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_changes(h, cur, ns, out, 64, (size_t *)16, &lapped), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_changes(h, cur, ns, out, 64, &n, (int *)16), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_current(h, NULL, ns, st), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_current(h, (const uint64_t *)16, ns, st), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_current(h, cur, ns + 1, st), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_current(h, cur, ns, 0xffffffffu), SHMLRU_BAD_ARGUMENT);
	EXPECT(shmlru_l1_current(0, cur, ns, st), SHMLRU_BAD_HANDLE);
	CHECK(cur[0] == saved); /* a bad argument moved no cursor */
	EXPECT(shmlru_close(h2), SHMLRU_OK);
	EXPECT(shmlru_l1_valid(h2, st, 0), SHMLRU_CLOSED);
	EXPECT(shmlru_l1_current(h2, cur, ns, st), SHMLRU_CLOSED);
	free(cur);
}

/* shard_of_change is the shard whose cursor a change of key moves (the
 * C API tells no shard of a key; the change rings do). cur is current. */
static size_t shard_of_change(shmlru_t h, uint64_t *cur, size_t ns, const char *key)
{
	uint64_t *tmp = malloc(ns * sizeof *tmp);
	CHECK(tmp != NULL);
	memcpy(tmp, cur, ns * sizeof *tmp);
	uint32_t out[8];
	size_t n = 0;
	int lapped = 0;
	EXPECT(shmlru_write(h, KEY(key), "v", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_l1_changes(h, tmp, ns, out, 8, &n, &lapped), SHMLRU_OK);
	size_t s = ns;
	for (size_t i = 0; i < ns; i++)
		if (tmp[i] != cur[i])
			s = i;
	memcpy(cur, tmp, ns * sizeof *tmp);
	free(tmp);
	CHECK(n == 1 && s < ns);
	return s;
}

/* An out buffer that the call cannot write past its first slot (the rest
 * on a read-only page): the call is refused, and no cursor moved, so that
 * a call again with a good buffer still reports every change. Before, the
 * native path only read its pages: it reported the first shard's change
 * into out[0], moved that shard's cursor, faulted on out[1], and the
 * change was lost to the caller. */
static void test_l1_changes_faults(shmlru_t h)
{
	long page = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	char *ro = m + page;
	CHECK(mprotect(ro, page, PROT_READ) == 0);
	shmlru_info info;
	EXPECT(shmlru_info_get(h, &info), SHMLRU_OK);
	size_t ns = (size_t)info.shards;
	CHECK(ns >= 2);
	uint64_t *cur = malloc(ns * sizeof *cur), *saved = malloc(ns * sizeof *cur);
	CHECK(cur != NULL && saved != NULL);
	memset(cur, 0xff, ns * sizeof *cur);
	size_t n = 0;
	int lapped = 0;
	uint32_t out[64];
	EXPECT(shmlru_l1_changes(h, cur, ns, out, 0, &n, &lapped), SHMLRU_OK);
	/* Two keys of two shards. */
	char a[16], b[16];
	size_t sa = shard_of_change(h, cur, ns, "cf0"), sb = sa;
	strcpy(a, "cf0");
	for (int i = 1; sb == sa && i < 1000; i++) {
		snprintf(b, sizeof b, "cf%d", i);
		sb = shard_of_change(h, cur, ns, b);
	}
	CHECK(sb != sa);
	EXPECT(shmlru_write(h, KEY(a), "w", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_write(h, KEY(b), "w", 1, NULL, NULL), SHMLRU_OK);
	memcpy(saved, cur, ns * sizeof *cur);
	EXPECT(shmlru_l1_changes(h, cur, ns, (uint32_t *)(ro - 4), 64, &n, &lapped), SHMLRU_BAD_ARGUMENT);
	CHECK(memcmp(saved, cur, ns * sizeof *cur) == 0);
	EXPECT(shmlru_l1_changes(h, cur, ns, (uint32_t *)ro, 64, &n, &lapped), SHMLRU_BAD_ARGUMENT);
	CHECK(memcmp(saved, cur, ns * sizeof *cur) == 0);
	EXPECT(shmlru_l1_changes(h, cur, ns, out, 64, &n, &lapped), SHMLRU_OK);
	CHECK(n == 2 && lapped == 0);

	/* Cursors that straddle into the read-only page: the first shard's
	 * is writable, the rest not. A change in shard 0 and one in another. */
	char z[16];
	size_t sz = 1;
	for (int i = 0; sz != 0 && i < 1000; i++) {
		snprintf(z, sizeof z, "cz%d", i);
		sz = shard_of_change(h, cur, ns, z);
	}
	CHECK(sz == 0);
	EXPECT(shmlru_write(h, KEY(z), "w", 1, NULL, NULL), SHMLRU_OK);
	EXPECT(shmlru_write(h, KEY(sa == 0 ? b : a), "w", 1, NULL, NULL), SHMLRU_OK);
	uint64_t *rc = (uint64_t *)(ro - 8);
	CHECK(mprotect(ro, page, PROT_READ | PROT_WRITE) == 0);
	memcpy(rc, cur, ns * sizeof *cur);
	CHECK(mprotect(ro, page, PROT_READ) == 0);
	EXPECT(shmlru_l1_changes(h, rc, ns, out, 64, &n, &lapped), SHMLRU_BAD_ARGUMENT);
	CHECK(memcmp(rc, cur, ns * sizeof *cur) == 0);
	EXPECT(shmlru_l1_changes(h, cur, ns, out, 64, &n, &lapped), SHMLRU_OK);
	CHECK(n == 2 && lapped == 0);
	free(cur);
	free(saved);
	munmap(m, 2 * page);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		snprintf(path, sizeof path, "%s", argv[1]);
	else
		snprintf(path, sizeof path, "/dev/shm/shmlru-ctest-%d", (int)getpid());
	unlink(path);

	test_strerror();
	test_open_errors();
	test_handles();
	shmlru_t h = open_cache(path, 4 << 20);
	test_get_set(h);
	test_modes(h);
	test_incr_ttl(h);
	test_lists(h);
	test_admin(h);
	test_bad_pointers(h);
	test_threads(h);
	test_fork(h);
	test_no_evict(h);
	test_loads(h);
	test_tracked(h);
	test_read_through(h);
	test_read_through_faults(h);
	test_l1(h);
	test_l1_changes_faults(h);
	EXPECT(shmlru_close(h), SHMLRU_OK);
	unlink(path);
	test_stats_while_closing();
	test_l1_valid_while_closing();
	test_l1_valid_truncated();

	printf("abi_test: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
