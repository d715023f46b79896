/*
 * Drives libshmlru.so's public functions, and so its native path, for
 * c/native_test.go. Roles:
 *
 *   native_driver ops REGION          ops from stdin, one result line each
 *                                     (set, get, stale, ttl, ttledge, llen,
 *                                     incr, del, lpush, sleep)
 *   native_driver hook REGION POINT OP  stop inside the native path at POINT
 *   native_driver hammer REGION THREADS N  N incr of "counter" per thread
 *   native_driver l1race REGION KEY PUB N  a copy of KEY served while its
 *                                     stripe holds, checked against PUB
 *                                     (see l1race)
 *   native_driver l1ring REGION KEY PUB N  the same, the copy kept by the
 *                                     change rings (see l1race)
 *   native_driver l1watch REGION KEY PUB N  the same, the shard's ring
 *                                     head read from the ring-head watch
 *   native_driver wait REGION         say "ready", then run ops from stdin
 *   native_driver badcopy REGION KEY N  overwrite KEY's N-byte value from
 *                                     memory that is unmapped mid-copy
 *   native_driver brokenmid REGION KEY GONE  incr KEY while another thread
 *                                     faults on GONE's truncated page
 *   native_driver scribble REGION POINT get|llen|set KEY  the op on KEY,
 *                                     with the entry's value length in the
 *                                     region set to 100000 at POINT, between
 *                                     the op's checks and its use of them;
 *                                     prints the status, the length returned
 *                                     and whether the bytes after the
 *                                     buffer are intact
 *   native_driver badout REGION KEY   incr and write KEY with output
 *                                     pointers that fault; prints statuses
 *   native_driver incrwait REGION     one incr of "counter"; prints its status
 *                                     and how many native calls went to Go
 *   native_driver torn REGION write|read N  N sets of "torn" to 512 copies
 *                                     of one byte (the next each time), or
 *                                     N gets, each checked to be one byte
 *                                     repeated: prints "torn" and fails on
 *                                     the first that is not, else "ok HITS"
 *   native_driver hostsig REGION KEY none|chain  two gets of KEY into an
 *                                     inaccessible buffer and one after the
 *                                     file is truncated to 0, each printing
 *                                     its status (the first two also whether
 *                                     the thread's signal mask is as before),
 *                                     then "host N": calls of the host's own
 *                                     SIGSEGV/SIGBUS handler, which "chain"
 *                                     installs after shmlru_open, chaining
 *                                     to the one it replaced
 *   native_driver faultpage REGION bus|segv OFF KEY OP  while a thread's
 *                                     incr of KEY waits inside the native
 *                                     path (hook incr-written), makes the
 *                                     page at file offset OFF of the native
 *                                     path's mapping fault (bus: SIGBUS from
 *                                     userfaultfd, the page kept in the
 *                                     file; segv: mprotect), runs OP, then
 *                                     prints "page kept|replaced, handle
 *                                     broken|whole" (the mapping's page
 *                                     against the file's; the fault's mark)
 *                                     and the incr's "rc result";
 *                                     exits at the end of stdin. "skip WHY"
 *                                     if the page cannot be made to fault
 *
 * Ops (one per line; values and items in hex, "-" for empty):
 *   set KEY TYPE TTLMS FLAGS VALUE | get KEY | stale KEY | ttl KEY |
 *   llen KEY | incr KEY DELTA | del KEY | lpush KEY ITEM | sleep MS |
 *   stamp KEY | valid STRIPE STAMP | changes NCURSORS |
 *   current STRIPE NCURSORS | mapcursors STRIPE NCURSORS | protect OFF |
 *   heads NCURSORS | head STRIPE | forkhead STRIPE | forkhole STRIPE OTHER THIRD |
 *   headsbad NCURSORS | close
 * Results: "rc" and what the call returned (see fmt_result); native_test.go
 * prints the same for lru's Go calls on a twin region and compares.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "hexio.h"
#include "../region.h"

void shmlru__test_stop(int point, void (*fn)(void)); /* fast.c's test hooks, not ABI */
long shmlru__test_fallbacks(void);
void *shmlru__test_mapping(shmlru_t h, size_t *len, int *broken); /* guard.c's */

static unsigned char buf[1 << 20];

static unsigned char val[1 << 20];

/* run performs one op line and prints its result line. */
/* cursors is this process's change cursors, which "changes" moves and
 * "current" reads: from now on until the first "changes". */
static uint64_t *cursors(void)
{
	static uint64_t cur[4096];
	static int started;
	if (!started) {
		memset(cur, 0xff, sizeof cur);
		started = 1;
	}
	return cur;
}

/* Whether "close" closed the handle. */
static int closed;

/* The ring heads "heads" took (shmlru_l1_heads), for "head". */
static const volatile uint64_t *kept_heads[4096];
static uint32_t kept_shift;

static void run(char *line)
{
	char op[16], key[512], a[64], b[64], c[64];
	static char v[2 << 20];
	int n = sscanf(line, "%15s %511s %63s %63s %63s %2097151s", op, key, a, b, c, v);
	if (n < 1)
		return;
	size_t kl = strlen(key), vn;
	shmlru_meta m;
	int rc;
	if (strcmp(op, "set") == 0) {
		shmlru_write_opts o;
		memset(&o, 0, sizeof o);
		o.type = (uint8_t)atoi(a);
		o.ttl_ms = atoll(b);
		o.flags = (uint32_t)strtoul(c, NULL, 10);
		vn = unhex(v, val);
		shmlru_write_result r;
		rc = shmlru_write(h, key, kl, val, vn, &o, &r);
		printf("%d", rc);
		if (rc == SHMLRU_OK)
			printf(" v%llu", (unsigned long long)r.version);
	} else if (strcmp(op, "get") == 0 || strcmp(op, "stale") == 0) {
		rc = (op[0] == 'g' ? shmlru_get : shmlru_get_stale)(h, key, kl, buf, sizeof buf, &vn, &m);
		printf("%d", rc);
		if (rc == SHMLRU_OK) {
			printf(" ");
			hex(buf, vn);
			printf(" v%llu t%u f%u e%d s%u", (unsigned long long)m.version, m.type, m.flags, m.expires_ms != 0, m.stale);
		}
	} else if (strcmp(op, "ttl") == 0) {
		int64_t t = -1;
		rc = shmlru_ttl(h, key, kl, &t);
		printf("%d", rc);
		if (rc == SHMLRU_OK)
			printf(" %s", t == 0 ? "never" : t > 0 ? "left" : "expired");
	} else if (strcmp(op, "ttledge") == 0) {
		/* A trials: KEY set with a 2 ms TTL, then asked its TTL until it
		 * has expired: "0 edge" if every answer was positive and then
		 * negative, the first bad answer otherwise. */
		int trials = atoi(a), bad = 0;
		shmlru_write_opts o;
		memset(&o, 0, sizeof o);
		o.ttl_ms = 2;
		for (int i = 0; i < trials && !bad; i++) {
			if ((rc = shmlru_write(h, key, kl, "v", 1, &o, NULL)) != SHMLRU_OK) {
				printf("%d", rc);
				bad = 1;
				break;
			}
			int64_t t;
			while ((rc = shmlru_ttl(h, key, kl, &t)) == SHMLRU_OK && t > 0) {
			}
			if (rc != SHMLRU_OK || t == 0) {
				printf("%d ttl %lld", rc, (long long)t);
				bad = 1;
			}
		}
		if (!bad)
			printf("0 edge");
	} else if (strcmp(op, "llen") == 0) {
		size_t len = 0;
		rc = shmlru_llen(h, key, kl, &len);
		printf("%d", rc);
		if (rc == SHMLRU_OK)
			printf(" %zu", len);
	} else if (strcmp(op, "incr") == 0) {
		double r;
		rc = shmlru_incr(h, key, kl, atof(a), &r, 0, 0, 0, NULL);
		printf("%d", rc);
		if (rc == SHMLRU_OK)
			printf(" %.17g", r);
	} else if (strcmp(op, "del") == 0) {
		int d = 0;
		rc = shmlru_delete(h, key, kl, &d);
		printf("%d %d", rc, d);
	} else if (strcmp(op, "lpush") == 0) {
		size_t len = 0;
		vn = unhex(a, val);
		rc = shmlru_lpush(h, key, kl, val, vn, SHMLRU_TYPE_BYTES, &len);
		printf("%d", rc);
		if (rc == SHMLRU_OK)
			printf(" %zu", len);
	} else if (strcmp(op, "stamp") == 0) {
		uint32_t st = 0;
		uint64_t c0 = 0;
		rc = shmlru_l1_stamp(h, key, kl, &st, &c0);
		printf("%d", rc);
		if (rc == SHMLRU_OK)
			printf(" %u %llu", st, (unsigned long long)c0);
	} else if (strcmp(op, "valid") == 0) {
		/* valid STRIPE STAMP: shmlru_l1_valid's answer */
		printf("%d", shmlru_l1_valid(h, (uint32_t)strtoul(key, NULL, 10), strtoull(a, NULL, 10)));
	} else if (strcmp(op, "changes") == 0) {
		/* changes NCURSORS: shmlru_l1_changes from this process's
		 * cursors (from now on at the first call): "rc n lapped" and,
		 * on success, the stripes reported */
		static uint32_t out[1024];
		size_t cn = 0;
		int lapped = 0;
		rc = shmlru_l1_changes(h, cursors(), strtoul(key, NULL, 10), out, 1024, &cn, &lapped);
		printf("%d %zu %d", rc, cn, lapped);
		for (size_t i = 0; rc == SHMLRU_OK && i < cn; i++)
			printf(" %u", out[i]);
	} else if (strcmp(op, "current") == 0) {
		/* current STRIPE NCURSORS: shmlru_l1_current's answer for the
		 * cursors "changes" moves */
		printf("%d", shmlru_l1_current(h, cursors(), strtoul(a, NULL, 10), (uint32_t)strtoul(key, NULL, 10)));
	} else if (strcmp(op, "heads") == 0) {
		/* heads NCURSORS: shmlru_l1_heads into this process's kept
		 * heads, which "head" reads: "rc shift" */
		uint32_t shift = 0;
		rc = shmlru_l1_heads(h, kept_heads, strtoul(key, NULL, 10), &shift);
		if (rc == 1)
			kept_shift = shift;
		printf("%d %u", rc, rc == 1 ? shift : 0);
	} else if (strcmp(op, "head") == 0) {
		/* head STRIPE: the kept heads' answer for the stripe against
		 * the cursors "changes" moves, read with a plain load here as
		 * Lua reads it: "current zero" (whether the head read 0) */
		uint32_t si = (uint32_t)strtoul(key, NULL, 10) >> kept_shift;
		uint64_t v = *kept_heads[si];
		printf("%d %d", v == cursors()[si], v == 0);
	} else if (strcmp(op, "forkhead") == 0 || strcmp(op, "forkhole") == 0) {
		/* forkhead STRIPE: "head" in a child forked without exec, which
		 * has no watch: the child's answer, or "died SIGNAL".
		 * forkhole STRIPE OTHER THIRD: the same, once the child has
		 * mapped pages of its own where it can in the watch's place: at
		 * the stripe's head, a page holding the cursor there; at shard
		 * OTHER's (a page apart), one holding a mark; and then shard
		 * THIRD's head read too. Answers "current zero intact": intact
		 * whether the mark was still there after the reads (or the
		 * child could map nothing there, as the watch's place was
		 * taken). */
		int hole = strcmp(op, "forkhole") == 0;
		uint32_t si = (uint32_t)strtoul(key, NULL, 10) >> kept_shift;
		char ans[32] = { 0 };
		int p[2], status = 0;
		fflush(stdout);
		if (pipe(p) != 0) {
			printf("pipe");
		} else {
			pid_t pid = fork();
			if (pid == 0) {
				int intact = 1;
				volatile uint64_t *mark = NULL;
				if (hole) {
					uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
					uintptr_t at = (uintptr_t)kept_heads[si];
					uintptr_t other = (uintptr_t)kept_heads[strtoul(a, NULL, 10)];
					unsigned char *q = mmap((void *)(at & ~(pg - 1)), pg, PROT_READ | PROT_WRITE,
					                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
					if (q != MAP_FAILED)
						*(volatile uint64_t *)(q + (at & (pg - 1))) = cursors()[si];
					q = mmap((void *)(other & ~(pg - 1)), pg, PROT_READ | PROT_WRITE,
					         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
					if (q != MAP_FAILED) {
						mark = (volatile uint64_t *)q;
						*mark = 0x5a5a5a5a;
					}
				}
				uint64_t v = *kept_heads[si];
				if (hole)
					(void)*kept_heads[strtoul(b, NULL, 10)];
				if (mark != NULL)
					intact = *mark == 0x5a5a5a5a;
				int n = hole ? snprintf(ans, sizeof ans, "%d %d %d", v == cursors()[si], v == 0, intact)
				             : snprintf(ans, sizeof ans, "%d %d", v == cursors()[si], v == 0);
				_exit(write(p[1], ans, (size_t)n) == n ? 0 : 1);
			}
			close(p[1]);
			ssize_t got = read(p[0], ans, sizeof ans - 1);
			close(p[0]);
			waitpid(pid, &status, 0);
			if (WIFSIGNALED(status))
				printf("died %d", WTERMSIG(status));
			else
				printf("%s", got > 0 ? ans : "nothing");
		}
	} else if (strcmp(op, "headsbad") == 0) {
		/* headsbad NCURSORS: shmlru_l1_heads with NULL, then
		 * unwritable, heads and shift: four statuses */
		size_t nh = strtoul(key, NULL, 10);
		uint32_t shift;
		printf("%d %d %d %d", shmlru_l1_heads(h, NULL, nh, &shift), shmlru_l1_heads(h, kept_heads, nh, NULL),
		       shmlru_l1_heads(h, (const volatile uint64_t **)16, nh, &shift),
		       shmlru_l1_heads(h, kept_heads, nh, (uint32_t *)16));
	} else if (strcmp(op, "close") == 0) {
		/* close: shmlru_close's status; the driver then exits 0 */
		printf("%d", shmlru_close(h));
		closed = 1;
	} else if (strcmp(op, "mapcursors") == 0) {
		/* mapcursors STRIPE NCURSORS: shmlru_l1_current's answer for
		 * cursors on the last page of the native path's mapping, made
		 * to fault first (caller memory that happens to lie there),
		 * and whether the handle is broken after it: "rc broken" */
		size_t len = 0;
		int broken = 0;
		unsigned char *map = shmlru__test_mapping(h, &len, &broken);
		long page = sysconf(_SC_PAGESIZE);
		unsigned char *last = map == NULL ? NULL : map + ((len - 1) & ~(size_t)(page - 1));
		if (last == NULL || mprotect(last, (size_t)page, PROT_NONE) != 0) {
			printf("-1 -1");
		} else {
			rc = shmlru_l1_current(h, (const uint64_t *)last, strtoul(a, NULL, 10), (uint32_t)strtoul(key, NULL, 10));
			shmlru__test_mapping(h, &len, &broken);
			printf("%d %d", rc, broken);
		}
	} else if (strcmp(op, "protect") == 0) {
		/* protect OFF: the page at file offset OFF of the native
		 * path's mapping faults from now on (Go's mapping is whole) */
		size_t len = 0;
		int broken = 0;
		unsigned char *map = shmlru__test_mapping(h, &len, &broken);
		long page = sysconf(_SC_PAGESIZE);
		size_t off = strtoul(key, NULL, 10) & ~(size_t)(page - 1);
		printf("%d", map != NULL && off < len && mprotect(map + off, (size_t)page, PROT_NONE) == 0 ? 0 : -1);
	} else if (strcmp(op, "sleep") == 0) {
		/* All of it, even if a signal (the Go runtime's, say) cuts
		 * it short: the ops after it rely on the time having passed. */
		struct timespec ts = { atoi(key) / 1000, (long)(atoi(key) % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
		}
		printf("slept");
	} else {
		printf("unknown op %s", op);
	}
	printf("\n");
	fflush(stdout);
}

static void run_stdin(void)
{
	static char line[4 << 20];
	while (fgets(line, sizeof line, stdin))
		run(line);
}

/* badcopy: the value's memory, whose second page is unmapped at the hook
 * inside the copy, so that the copy stops after the first page's bytes. */
static unsigned char *bad_value;
static size_t bad_len;

static void unmap_value(void) { munmap(bad_value + bad_len / 2, bad_len / 2); }

/* brokenmid: thread B's incr stops at its hook, truncates the file, lets
 * thread A read a key whose page is gone (which marks the handle broken),
 * and goes on once A is done. */
static const char *mid_path, *mid_gone;
static pthread_mutex_t mid_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mid_cv = PTHREAD_COND_INITIALIZER;
static int mid_state; /* 1: A may read; 2: A has read */
static int mid_a_rc;

static void *mid_reader(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mid_mu);
	while (mid_state != 1)
		pthread_cond_wait(&mid_cv, &mid_mu);
	pthread_mutex_unlock(&mid_mu);
	size_t n;
	mid_a_rc = shmlru_get(h, mid_gone, strlen(mid_gone), buf, sizeof buf, &n, NULL);
	pthread_mutex_lock(&mid_mu);
	mid_state = 2;
	pthread_cond_broadcast(&mid_cv);
	pthread_mutex_unlock(&mid_mu);
	return NULL;
}

static void truncate_and_wait(void)
{
	struct stat st;
	stat(mid_path, &st);
	if (truncate(mid_path, st.st_size / 2) != 0)
		perror("truncate");
	pthread_mutex_lock(&mid_mu);
	mid_state = 1;
	pthread_cond_broadcast(&mid_cv);
	while (mid_state != 2)
		pthread_cond_wait(&mid_cv, &mid_mu);
	pthread_mutex_unlock(&mid_mu);
}

/* hostsig: a host's own fault handler, installed after shmlru_open as
 * many hosts do (SIGUSR1 blocked while it runs, no SA_NODEFER), chaining to
 * the handler it replaced (the library's) as shmlru.h asks. */
static struct sigaction host_prev_segv, host_prev_bus;
static volatile sig_atomic_t host_calls;

static void host_handler(int sig, siginfo_t *si, void *uc)
{
	host_calls++;
	const struct sigaction *prev = sig == SIGBUS ? &host_prev_bus : &host_prev_segv;
	if (prev->sa_flags & SA_SIGINFO) {
		prev->sa_sigaction(sig, si, uc);
		return;
	}
	if (prev->sa_handler == SIG_DFL || prev->sa_handler == SIG_IGN) {
		signal(sig, SIG_DFL); /* the fault, run again, takes the default action */
		return;
	}
	prev->sa_handler(sig);
}

static void install_host_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = host_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	sigaction(SIGSEGV, &sa, &host_prev_segv);
	sigaction(SIGBUS, &sa, &host_prev_bus);
}

static int same_mask(const sigset_t *a, const sigset_t *b)
{
	for (int sig = 1; sig < 65; sig++)
		if (sigismember(a, sig) != sigismember(b, sig))
			return 0;
	return 1;
}

static void hostsig(const char *path, const char *key, const char *host)
{
	if (strcmp(host, "chain") == 0)
		install_host_handler();
	long page = sysconf(_SC_PAGESIZE);
	void *bad = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sigset_t before, after;
	pthread_sigmask(SIG_BLOCK, NULL, &before);
	size_t n;
	for (int i = 0; i < 2; i++) {
		int rc = shmlru_get(h, key, strlen(key), bad, (size_t)page, &n, NULL);
		pthread_sigmask(SIG_BLOCK, NULL, &after);
		printf("%d %s\n", rc, same_mask(&before, &after) ? "mask kept" : "mask changed");
		fflush(stdout);
	}
	if (truncate(path, 0) != 0)
		perror("truncate");
	printf("%d\n", shmlru_get(h, key, strlen(key), buf, sizeof buf, &n, NULL));
	printf("host %d\n", (int)host_calls);
	fflush(stdout);
	_exit(0); /* the region is broken: no close */
}

/* faultpage: thread A's incr waits at its hook (the shard locked, the
 * number written, the change sequence odd) until the main thread has made
 * a page fault, run an op over it and looked at the page. */
static pthread_mutex_t fp_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fp_cv = PTHREAD_COND_INITIALIZER;
static int fp_state; /* 1: A waits at its hook; 2: A may go on */
static const char *fp_key;
static int fp_rc;
static double fp_result;

static void fp_wait(void)
{
	pthread_mutex_lock(&fp_mu);
	fp_state = 1;
	pthread_cond_broadcast(&fp_cv);
	while (fp_state != 2)
		pthread_cond_wait(&fp_cv, &fp_mu);
	pthread_mutex_unlock(&fp_mu);
}

static void *fp_incr(void *arg)
{
	(void)arg;
	fp_rc = shmlru_incr(h, fp_key, strlen(fp_key), 1, &fp_result, 0, 0, 0, NULL);
	return NULL;
}

/* fault_page makes the page at p fault in this mapping alone. bus: the
 * page stays in the file (and in every other mapping of it); this
 * mapping's page table entry is dropped, and userfaultfd's minor-fault
 * mode with UFFD_FEATURE_SIGBUS answers the next access to it with SIGBUS,
 * as the kernel does for a hole it cannot fill or a poisoned page. segv:
 * the page is made inaccessible. Returns what failed, or NULL. */
static const char *fault_page(unsigned char *p, size_t len, const char *how, int *uffd)
{
	if (strcmp(how, "segv") == 0)
		return mprotect(p, len, PROT_NONE) == 0 ? NULL : "mprotect";
#if defined(UFFD_USER_MODE_ONLY) && defined(UFFD_FEATURE_MINOR_SHMEM)
	return uffd_minor(p, len, O_NONBLOCK, UFFD_FEATURE_SIGBUS, uffd);
#else
	(void)p;
	(void)len;
	(void)uffd;
	return "no userfaultfd minor faults in these headers";
#endif
}

static void unfault_page(unsigned char *p, size_t len, const char *how, int uffd)
{
	if (strcmp(how, "segv") == 0) {
		mprotect(p, len, PROT_READ | PROT_WRITE);
		return;
	}
	struct uffdio_range r = {(unsigned long)p, len};
	ioctl(uffd, UFFDIO_UNREGISTER, &r); /* fails over a page no longer the file's */
	close(uffd);
}

static void faultpage(const char *path, const char *how, long off, const char *key, char *op)
{
	size_t len, page = (size_t)sysconf(_SC_PAGESIZE);
	int broken;
	unsigned char *map = shmlru__test_mapping(h, &len, &broken);
	if (map == NULL || broken || off < 0 || (size_t)off >= len) {
		printf("skip no native mapping, or offset %ld outside it\n", off);
		_exit(0);
	}
	size_t at = (size_t)off & ~(page - 1);
	int uffd = -1;
	const char *why = fault_page(map + at, page, how, &uffd);
	if (why != NULL) {
		printf("skip %s: %s\n", why, strerror(errno));
		_exit(0);
	}
	fp_key = key;
	shmlru__test_stop(2, fp_wait); /* incr-written */
	pthread_t a;
	pthread_create(&a, NULL, fp_incr, NULL);
	pthread_mutex_lock(&fp_mu);
	while (fp_state != 1)
		pthread_cond_wait(&fp_cv, &fp_mu);
	pthread_mutex_unlock(&fp_mu);
	shmlru__test_stop(0, NULL); /* A is at its hook; op does not stop */

	run(op);

	unfault_page(map + at, page, how, uffd);
	static unsigned char file[1 << 16];
	int fd = open(path, O_RDONLY);
	if (fd < 0 || page > sizeof file || pread(fd, file, page, (off_t)at) != (ssize_t)page) {
		perror("reading the region file");
		_exit(1);
	}
	close(fd);
	shmlru__test_mapping(h, &len, &broken);
	printf("page %s, handle %s\n", memcmp(file, map + at, page) == 0 ? "kept" : "replaced", broken ? "broken" : "whole");

	pthread_mutex_lock(&fp_mu);
	fp_state = 2;
	pthread_cond_broadcast(&fp_cv);
	pthread_mutex_unlock(&fp_mu);
	pthread_join(a, NULL);
	printf("%d %.17g\n", fp_rc, fp_result);
	fflush(stdout);
	while (getchar() != EOF) {
	}
	_exit(0); /* the handle is broken: no close */
}

static long per_thread;

static void *hammer(void *arg)
{
	(void)arg;
	for (long i = 0; i < per_thread; i++) {
		double r;
		int rc = shmlru_incr(h, "counter", 7, 1, &r, 1, 0, 0, NULL);
		if (rc != SHMLRU_OK) {
			fprintf(stderr, "incr: %s\n", shmlru_strerror(rc));
			exit(1);
		}
		size_t n;
		shmlru_get(h, "counter", 7, buf, sizeof buf, &n, NULL);
	}
	return NULL;
}

/* torn is the torn-read check: writers rewrite "torn" in place (the same
 * size each time) under the lock; readers get it without the lock and
 * check that it is one byte repeated. */
static int torn(const char *mode, long n)
{
	static unsigned char v[512];
	long hits = 0;
	for (long i = 0; i < n; i++) {
		if (strcmp(mode, "write") == 0) {
			memset(v, (int)(i % 251) + 1, sizeof v);
			int rc = shmlru_write(h, "torn", 4, v, sizeof v, NULL, NULL);
			if (rc != SHMLRU_OK) {
				fprintf(stderr, "set: %s\n", shmlru_strerror(rc));
				return 1;
			}
			continue;
		}
		size_t got;
		int rc = shmlru_get(h, "torn", 4, buf, sizeof buf, &got, NULL);
		if (rc == SHMLRU_NOT_FOUND)
			continue;
		if (rc != SHMLRU_OK) {
			fprintf(stderr, "get: %s\n", shmlru_strerror(rc));
			return 1;
		}
		if (got != sizeof v) {
			printf("torn: %zu bytes\n", got);
			return 1;
		}
		for (size_t j = 1; j < got; j++) {
			if (buf[j] != buf[0]) {
				printf("torn: byte %zu is %d, byte 0 is %d\n", j, buf[j], buf[0]);
				return 1;
			}
		}
		hits++;
	}
	printf("ok %ld\n", hits);
	return 0;
}

/* scribble: the test hook's callback sets the value length of the entry
 * of scribble_key to 100000 through a mapping of the driver's own, as a
 * process writing the file without the protocol would. The entry header
 * (lru.entry; region.h) ends right before the key, or before its
 * extension when it has one: the test's keys have none. */
static const char *scribble_path, *scribble_key;

static void scribble(void)
{
	int fd = open(scribble_path, O_RDWR);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0)
		exit(3);
	unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		exit(3);
	size_t kl = strlen(scribble_key);
	unsigned char *k = memmem(m, (size_t)st.st_size, scribble_key, kl);
	if (k == NULL || k < m + sizeof(struct shmlru_l_entry))
		exit(4);
	struct shmlru_l_entry *e = (struct shmlru_l_entry *)(k - sizeof(struct shmlru_l_entry));
	e->vlen = 100000;
	munmap(m, (size_t)st.st_size);
	close(fd);
}

static int scribble_op(const char *op, const char *key)
{
	static unsigned char b[64 + 4096];
	memset(b, 0xaa, sizeof b);
	size_t n = 0;
	int rc;
	if (strcmp(op, "get") == 0) {
		rc = shmlru_get(h, key, strlen(key), b, 64, &n, NULL);
	} else if (strcmp(op, "llen") == 0) {
		rc = shmlru_llen(h, key, strlen(key), &n);
	} else {
		unsigned char v[64];
		memset(v, 'n', sizeof v);
		rc = shmlru_write(h, key, strlen(key), v, sizeof v, NULL, NULL);
		n = sizeof v;
	}
	int intact = 1;
	for (size_t i = 64; i < sizeof b; i++)
		intact &= b[i] == 0xaa;
	printf("%d %zu %s\n", rc, n, intact ? "intact" : "overrun");
	return 0;
}

/* badout: outputs that fault (a page mapped PROT_NONE). */
static int badout(const char *key)
{
	long page = sysconf(_SC_PAGESIZE);
	void *bad = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (bad == MAP_FAILED)
		return 1;
	double r;
	int forc;
	printf("%d ", shmlru_incr(h, key, strlen(key), 1, (double *)bad, 0, 0, 0, NULL));
	printf("%d ", shmlru_incr(h, key, strlen(key), 1, &r, 0, 0, 0, (int *)bad));
	printf("%d ", shmlru_incr(h, "fresh", 5, 1, (double *)bad, 1, 0, 0, &forc));
	unsigned char v[8] = {0};
	shmlru_write_opts o;
	memset(&o, 0, sizeof o);
	o.type = SHMLRU_TYPE_NUMBER;
	printf("%d ", shmlru_write(h, key, strlen(key), v, sizeof v, &o, (shmlru_write_result *)bad));
	printf("%d\n", shmlru_write(h, "fresh2", 6, v, sizeof v, &o, (shmlru_write_result *)bad));
	return 0;
}

/* l1race: a per-process copy of KEY, against a writer that sets KEY to
 * 1, 2, ... N and, once each set returned, PUB to the same number: each
 * check first reads PUB, and a copy served must hold at least it. rings
 * chooses how the copy is kept:
 *   0: as stripes keep it: filled with shmlru_l1_stamp, then the value,
 *      and served while shmlru_l1_valid says 1;
 *   1: as mlcache's always mode keeps it: served while shmlru_l1_current
 *      says its shard had no change since the cursors; else the changes
 *      are applied first (shmlru_l1_changes), which drops the copy if its
 *      stripe is among them or a ring lapped, and the copy is served if it
 *      is still kept. A fill keeps the copy only if its stripe still reads
 *      the stamp after the value was read.
 *   2: as 1, with the shard's ring head read from the ring-head watch
 *      (shmlru_l1_heads) in place of shmlru_l1_current, as mlcache reads it.
 * Prints "ok SERVED FILLS" once PUB reads N, or "stale HAVE WANT". It sets
 * "ready" first, which the writer waits for. */
static int l1race(const char *key, const char *pub, long n, int rings)
{
	char b[32];
	size_t len, k = 0, ns = 0;
	long have = -1, want = 0, served = 0, fills = 0;
	uint32_t st = 0, out[64];
	uint64_t c0 = 0, *cur = cursors();
	int lapped = 0;
	if (rings) {
		shmlru_info info;
		if (shmlru_info_get(h, &info) != SHMLRU_OK || info.shards > 4096 ||
		    shmlru_l1_changes(h, cur, (size_t)info.shards, out, 0, &k, &lapped) != SHMLRU_OK) {
			printf("error\n");
			return 1;
		}
		ns = (size_t)info.shards;
		if (rings == 2 && shmlru_l1_heads(h, kept_heads, ns, &kept_shift) != 1) {
			printf("error\n");
			return 1;
		}
	}
	if (shmlru_write(h, "ready", 5, "1", 1, NULL, NULL) != SHMLRU_OK) { /* the writer starts on it */
		printf("error\n");
		return 1;
	}
	while (want < n) {
		int rc = shmlru_get(h, pub, strlen(pub), b, sizeof b - 1, &len, NULL);
		if (rc == SHMLRU_OK) {
			b[len] = 0;
			want = atol(b);
		}
		if (have >= 0 && !rings && shmlru_l1_valid(h, st, c0) != 1)
			have = -1;
		if (have >= 0 && rings &&
		    (rings == 2 ? *kept_heads[st >> kept_shift] != cur[st >> kept_shift] : shmlru_l1_current(h, cur, ns, st) != 1)) {
			do {
				if (shmlru_l1_changes(h, cur, ns, out, 64, &k, &lapped) != SHMLRU_OK || lapped)
					have = -1;
				for (size_t i = 0; i < k; i++)
					if (out[i] == st)
						have = -1;
			} while (k == 64);
		}
		if (have >= 0) {
			if (have < want) {
				printf("stale %ld %ld\n", have, want);
				return 1;
			}
			served++;
			continue;
		}
		if (shmlru_l1_stamp(h, key, strlen(key), &st, &c0) != SHMLRU_OK ||
		    shmlru_get(h, key, strlen(key), b, sizeof b - 1, &len, NULL) != SHMLRU_OK) {
			printf("error\n");
			return 1;
		}
		b[len] = 0;
		fills++;
		if (!rings || shmlru_l1_valid(h, st, c0) == 1)
			have = atol(b);
	}
	printf("ok %ld %ld\n", served, fills);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: native_driver ops|hook|hammer|wait REGION ...\n");
		return 2;
	}
	open_region(argv[2]);
	if (strcmp(argv[1], "ops") == 0) {
		run_stdin();
	} else if (strcmp(argv[1], "wait") == 0) {
		printf("ready\n");
		fflush(stdout);
		run_stdin();
	} else if (strcmp(argv[1], "hook") == 0 && argc == 5) {
		shmlru__test_stop(atoi(argv[3]), NULL);
		run(argv[4]); /* stops at the point; the test kills it */
		fprintf(stderr, "the op did not stop at point %s\n", argv[3]);
		return 1;
	} else if (strcmp(argv[1], "l1race") == 0 && argc == 6) {
		return l1race(argv[3], argv[4], atol(argv[5]), 0);
	} else if (strcmp(argv[1], "l1ring") == 0 && argc == 6) {
		return l1race(argv[3], argv[4], atol(argv[5]), 1);
	} else if (strcmp(argv[1], "l1watch") == 0 && argc == 6) {
		return l1race(argv[3], argv[4], atol(argv[5]), 2);
	} else if (strcmp(argv[1], "badcopy") == 0 && argc == 5) {
		long page = sysconf(_SC_PAGESIZE);
		bad_len = 2 * (size_t)page;
		bad_value = mmap(NULL, bad_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		size_t n = (size_t)atol(argv[4]);
		memset(bad_value, 'n', bad_len);
		shmlru__test_stop(4, unmap_value);
		/* the value ends at the end of the second page */
		int rc = shmlru_write(h, argv[3], strlen(argv[3]), bad_value + bad_len - n, n, NULL, NULL);
		printf("%d\n", rc);
		shmlru__test_stop(0, NULL);
	} else if (strcmp(argv[1], "brokenmid") == 0 && argc == 5) {
		mid_path = argv[2];
		mid_gone = argv[4];
		pthread_t a;
		pthread_create(&a, NULL, mid_reader, NULL);
		shmlru__test_stop(2, truncate_and_wait);
		double r = 0;
		int rc = shmlru_incr(h, argv[3], strlen(argv[3]), 1, &r, 0, 0, 0, NULL);
		shmlru__test_stop(0, NULL);
		pthread_join(a, NULL);
		printf("%d %.17g %d\n", rc, r, mid_a_rc);
		fflush(stdout);
		_exit(0); /* the region is broken: no close */
	} else if (strcmp(argv[1], "scribble") == 0 && argc == 6) {
		scribble_path = argv[2];
		scribble_key = argv[5];
		shmlru__test_stop(atoi(argv[3]), scribble);
		return scribble_op(argv[4], argv[5]);
	} else if (strcmp(argv[1], "badout") == 0 && argc == 4) {
		return badout(argv[3]);
	} else if (strcmp(argv[1], "incrwait") == 0 && argc == 3) {
		double r;
		int rc = shmlru_incr(h, "counter", 7, 1, &r, 0, 0, 0, NULL);
		printf("%d %ld\n", rc, shmlru__test_fallbacks());
	} else if (strcmp(argv[1], "torn") == 0 && argc == 5) {
		if (torn(argv[3], atol(argv[4])) != 0)
			return 1;
	} else if (strcmp(argv[1], "hostsig") == 0 && argc == 5) {
		hostsig(argv[2], argv[3], argv[4]);
	} else if (strcmp(argv[1], "faultpage") == 0 && argc == 7) {
		faultpage(argv[2], argv[3], atol(argv[4]), argv[5], argv[6]);
	} else if (strcmp(argv[1], "hammer") == 0 && argc == 5) {
		int threads = atoi(argv[3]);
		per_thread = atol(argv[4]);
		pthread_t t[64];
		for (int i = 0; i < threads && i < 64; i++)
			pthread_create(&t[i], NULL, hammer, NULL);
		for (int i = 0; i < threads && i < 64; i++)
			pthread_join(t[i], NULL);
		printf("done\n");
	} else {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	return closed || shmlru_close(h) == SHMLRU_OK ? 0 : 1;
}
