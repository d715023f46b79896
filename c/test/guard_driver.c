/*
 * Drives shmlru_l1_valid into faults on its one load of the region (the
 * fault-recoverable load of guard.c), for c/guard_test.go. Roles:
 *
 *   guard_driver faults REGION KEY trunc|protect OFF THREADS N
 *       KEY's stripe (whose count lies at file offset OFF) read valid
 *       once; then the file truncated to 0 (trunc), or the page at OFF of
 *       the native path's mapping made inaccessible (protect: the file and
 *       Go's mapping keep it), and THREADS threads call shmlru_l1_valid on
 *       it N times each. Prints one "ANSWER COUNT" line per answer seen,
 *       then "handle broken|whole" (the mark of a fault on the mapping).
 *   guard_driver sent REGION KEY OFF
 *       a thread's shmlru_l1_valid on KEY's stripe is held inside its load
 *       (the page at OFF of the native path's mapping given by
 *       userfaultfd's minor-fault mode, which this driver answers), and is
 *       sent SIGBUS with pthread_kill there. A SIGBUS no access raised is
 *       not the library's to handle: its handler must chain to the one it
 *       replaced (this driver's, installed before shmlru_open), which
 *       counts it and returns, and the load, run again, reads the stripe.
 *       Prints "host CALLS rc RC handle broken|whole", or "skip WHY" if
 *       the page cannot be held that way.
 *
 * Either exits without closing the handle (broken, or its page held).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "driver.h"

void *shmlru__test_mapping(shmlru_t h, size_t *len, int *broken); /* guard.c's test hook, not ABI */

static uint32_t stripe;
static uint64_t stamp;

/* stripe_page finds KEY's stripe and checks that OFF is where the native
 * path's mapping holds its count: it returns that page, or exits. */
static unsigned char *stripe_page(const char *key, long off)
{
	size_t len;
	int broken;
	unsigned char *map = shmlru__test_mapping(h, &len, &broken);
	if (map == NULL || broken || off < 0 || (size_t)off + 8 > len) {
		printf("no native mapping, or offset %ld outside it\n", off);
		_exit(1);
	}
	if (shmlru_l1_stamp(h, key, strlen(key), &stripe, &stamp) != SHMLRU_OK || stamp == 0 ||
	    __atomic_load_n((uint64_t *)(map + off), __ATOMIC_ACQUIRE) != stamp || shmlru_l1_valid(h, stripe, stamp) != 1) {
		printf("the stripe of %s is not at offset %ld\n", key, off);
		_exit(1);
	}
	return map + ((size_t)off & ~(size_t)(sysconf(_SC_PAGESIZE) - 1));
}

static const char *broken_word(void)
{
	size_t len;
	int broken = 0;
	shmlru__test_mapping(h, &len, &broken);
	return broken ? "broken" : "whole";
}

/* ---- faults ---- */

enum { MAX_THREADS = 16, MAX_ANSWERS = 8 };

struct tally {
	long n;
	int answer[MAX_ANSWERS];
	long count[MAX_ANSWERS];
	int kinds;
};

static void *call_valid(void *p)
{
	struct tally *t = p;
	for (long i = 0; i < t->n; i++) {
		int rc = shmlru_l1_valid(h, stripe, stamp), k = 0;
		while (k < t->kinds && t->answer[k] != rc)
			k++;
		if (k == MAX_ANSWERS)
			k--; /* more kinds than the test expects: it fails anyway */
		if (k == t->kinds) {
			t->answer[k] = rc;
			t->kinds++;
		}
		t->count[k]++;
	}
	return NULL;
}

static void faults(const char *path, const char *key, const char *how, long off, int threads, long n)
{
	unsigned char *page = stripe_page(key, off);
	if (strcmp(how, "trunc") == 0) {
		if (truncate(path, 0) != 0) {
			perror("truncate");
			_exit(1);
		}
	} else if (mprotect(page, (size_t)sysconf(_SC_PAGESIZE), PROT_NONE) != 0) {
		perror("mprotect");
		_exit(1);
	}
	if (threads < 1 || threads > MAX_THREADS)
		threads = MAX_THREADS;
	static struct tally t[MAX_THREADS];
	pthread_t id[MAX_THREADS];
	for (int i = 0; i < threads; i++) {
		t[i].n = n;
		pthread_create(&id[i], NULL, call_valid, &t[i]);
	}
	struct tally all = {0};
	for (int i = 0; i < threads; i++) {
		pthread_join(id[i], NULL);
		for (int k = 0; k < t[i].kinds; k++) {
			int j = 0;
			while (j < all.kinds && all.answer[j] != t[i].answer[k])
				j++;
			if (j == all.kinds && all.kinds < MAX_ANSWERS)
				all.answer[all.kinds++] = t[i].answer[k];
			all.count[j < MAX_ANSWERS ? j : MAX_ANSWERS - 1] += t[i].count[k];
		}
	}
	for (int k = 0; k < all.kinds; k++)
		printf("%d %ld\n", all.answer[k], all.count[k]);
	printf("handle %s\n", broken_word());
	fflush(stdout);
	_exit(0);
}

/* ---- sent ---- */

static struct sigaction go_bus; /* the Go runtime's, which ours replaces */
static volatile sig_atomic_t host_calls;
static int host_pipe[2];

/* host_bus, installed before shmlru_open and so the handler the library's
 * chains to: a SIGBUS sent with pthread_kill is counted, and returns;
 * every other goes to the Go runtime's. */
static void host_bus(int sig, siginfo_t *si, void *uc)
{
	if (si != NULL && si->si_code == SI_TKILL) {
		host_calls++;
		if (write(host_pipe[1], "x", 1) < 0) {
			/* the main thread then waits forever: the test times out */
		}
		return;
	}
	if (go_bus.sa_flags & SA_SIGINFO)
		go_bus.sa_sigaction(sig, si, uc);
	else
		signal(sig, SIG_DFL);
}

static void install_host_bus(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = host_bus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, &go_bus);
}

static volatile pid_t worker_tid;
static int worker_rc;

static void *held_valid(void *p)
{
	(void)p;
	worker_tid = (pid_t)syscall(SYS_gettid);
	worker_rc = shmlru_l1_valid(h, stripe, stamp);
	/* Done: a call that ended without the host's handler (one that took
	 * the signal for its fault) says so, rather than leave the main
	 * thread waiting for that handler. */
	if (write(host_pipe[1], "w", 1) < 0) {
		/* the main thread then waits forever: the test times out */
	}
	return NULL;
}

static void skip(const char *why)
{
	printf("skip %s: %s\n", why, strerror(errno));
	fflush(stdout);
	_exit(0);
}

static void sent(const char *key, long off)
{
	unsigned char *page = stripe_page(key, off);
	size_t size = (size_t)sysconf(_SC_PAGESIZE);
	if (pipe(host_pipe) != 0)
		skip("pipe");
#if defined(UFFD_USER_MODE_ONLY) && defined(UFFD_FEATURE_MINOR_SHMEM) && defined(UFFD_FEATURE_THREAD_ID)
	int u;
	const char *why = uffd_minor(page, size, 0, UFFD_FEATURE_THREAD_ID, &u);
	if (why != NULL)
		skip(why);
	pthread_t w;
	pthread_create(&w, NULL, held_valid, NULL);
	/* Wait for the worker's fault on the page: the load of its call, the
	 * call's one access to the mapping. Any other thread's (none is
	 * expected) is let through. */
	for (;;) {
		struct uffd_msg m;
		if (read(u, &m, sizeof m) != (ssize_t)sizeof m) {
			perror("reading userfaultfd");
			_exit(1);
		}
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		pid_t tid = worker_tid;
		if (tid != 0 && (pid_t)m.arg.pagefault.feat.ptid == tid)
			break;
		struct uffdio_continue c = {.range = {m.arg.pagefault.address & ~(uint64_t)(size - 1), size}};
		ioctl(u, UFFDIO_CONTINUE, &c);
	}
	pthread_kill(w, SIGBUS);
	char x;
	if (read(host_pipe[0], &x, 1) != 1) {
		perror("waiting for the host's handler");
		_exit(1);
	}
	if (x == 'w') { /* the call ended, the host's handler never ran */
		printf("host %d rc %d handle %s\n", (int)host_calls, worker_rc, broken_word());
		fflush(stdout);
		_exit(0);
	}
	/* The page given: the load, run again after the handler, completes
	 * (woken if it is waiting on the page once more). */
	struct uffdio_continue c = {.range = {(unsigned long)page, size}};
	if (ioctl(u, UFFDIO_CONTINUE, &c) != 0 && errno != EEXIST) {
		perror("UFFDIO_CONTINUE");
		_exit(1);
	}
	pthread_join(w, NULL);
	printf("host %d rc %d handle %s\n", (int)host_calls, worker_rc, broken_word());
	fflush(stdout);
	_exit(0);
#else
	(void)page;
	(void)size;
	errno = ENOSYS;
	skip("no userfaultfd minor faults with thread ids in these headers");
#endif
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "sent") == 0) {
		install_host_bus(); /* before the library's, which chains to it */
		open_region(argv[2]);
		sent(argv[3], atol(argv[4]));
	} else if (argc == 8 && strcmp(argv[1], "faults") == 0) {
		open_region(argv[2]);
		faults(argv[2], argv[3], argv[4], atol(argv[5]), atoi(argv[6]), atol(argv[7]));
	}
	fprintf(stderr, "usage: guard_driver faults REGION KEY trunc|protect OFF THREADS N | sent REGION KEY OFF\n");
	return 2;
}
