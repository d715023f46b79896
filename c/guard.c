/*
 * Faults inside the native read path (fast.c). Go code of the library is
 * guarded by debug.SetPanicOnFault; C code is not, so without this a region
 * file truncated underneath the host would kill it with SIGBUS the moment
 * the C path read a page that is gone, and a caller's bad pointer would
 * kill it with SIGSEGV.
 *
 * The handler acts only on a fault of a thread inside a fast call
 * (shmlru_fast_cur is set):
 *   - inside that handle's own mapping: the file shrank. Zero pages are
 *     mapped over the rest of the mapping, the handle is marked broken and
 *     the faulting instruction runs again, on zeros. The call's result is
 *     then thrown away (finish in fast.c) and Go answers, with
 *     SHMLRU_CORRUPT from its own mapping, which is untouched: the C path
 *     has a mapping of its own for exactly this (lru.NativeView). Only
 *     the faulting call's result is dropped (another thread's call that
 *     read no lost page stands). A change the call was making keeps its
 *     dirty mark, and its lock is left as an orphan for the next acquire
 *     to reset (fast.c's clean and unlock).
 *   - anywhere else: the caller's key, value or buffer. The call returns
 *     SHMLRU_BAD_ARGUMENT through the call's escape (fast.c's
 *     escaped releases the lock it held).
 * Every other fault goes to the handler installed before this one, the Go
 * runtime's, which handles its own (and forwards what is not its own to
 * whatever came before it), as Go asks of C code that installs handlers for
 * these signals.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fast.h"

static struct sigaction prev_segv, prev_bus;

/* chain hands the signal to the handler that was there before ours. */
static void chain(int sig, siginfo_t *si, void *uc, const struct sigaction *prev)
{
	if (prev->sa_flags & SA_SIGINFO) {
		prev->sa_sigaction(sig, si, uc);
		return;
	}
	if (prev->sa_handler == SIG_IGN)
		return;
	if (prev->sa_handler == SIG_DFL) {
		/* Returning runs the faulting instruction again, which now
		 * takes the default action. */
		signal(sig, SIG_DFL);
		return;
	}
	prev->sa_handler(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	struct shmlru_fast_call *call = shmlru_fast_cur;
	/* si_code > 0: a fault the kernel raised for an access. A SIGSEGV or
	 * SIGBUS sent with kill or pthread_kill is not a fault of ours to
	 * handle, even inside a fast call: jumping out of, say, an LRU move
	 * would release the lock over a queue half relinked. */
	if (call != NULL && si->si_code > 0) {
		struct shmlru_fast *f = call->f;
		unsigned char *a = si->si_addr;
		if (a >= f->map && a < f->map + f->map_len) {
			uintptr_t page = (uintptr_t)a & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
			size_t len = (size_t)(f->map + f->map_len - (unsigned char *)page);
			if (mmap((void *)page, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
				call->faulted = 1;
				__atomic_store_n(&f->broken, 1, __ATOMIC_SEQ_CST);
				return;
			}
			/* No memory for the zero pages (vm.max_map_count, say):
			 * nothing here can go on, and the fault is left to the
			 * Go runtime, which ends the process. */
		} else {
			siglongjmp(call->escape, 1);
		}
	}
	chain(sig, si, uc, sig == SIGBUS ? &prev_bus : &prev_segv);
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	/* SA_ONSTACK: Go's threads run signal handlers on their alternate
	 * stacks, and Go requires it of every handler in the process. */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &prev_segv);
	sigaction(SIGBUS, &sa, &prev_bus);
}

static pthread_once_t installed = PTHREAD_ONCE_INIT;

/* Called by the Go side when it opens a cache, so after the Go runtime has
 * installed its own handlers, which ours then chain to. */
void shmlru_guard_install(void) { pthread_once(&installed, install); }
