/*
 * Faults inside the native read path (fast.c). Go code of the library is
 * guarded by debug.SetPanicOnFault; C code is not, so without this a region
 * file truncated underneath the host would kill it with SIGBUS the moment
 * the C path read a page that is gone, and a caller's bad pointer would
 * kill it with SIGSEGV.
 *
 * The handler acts only on a fault the kernel raised for an access (a
 * SIGSEGV or SIGBUS sent with kill or pthread_kill is never one of ours),
 * in one of three places:
 *   - at the one load instruction of shmlru_fast_load64 (below; x86-64 and
 *     arm64), the kernel's "exception table" way: the handler moves the
 *     program counter in the ucontext to the routine's fixup, which returns
 *     "faulted", and returns; sigreturn then restores the thread's signal
 *     mask itself. Nothing is set per call, so the one hot call that needs
 *     nothing else guarded (fast.c's shmlru_fast_l1_valid) costs a call and
 *     a load. That instruction reads *p and nothing else, so whatever the
 *     address the kernel reports, the fault is that load's: the caller,
 *     which knows what p points into, decides what it means.
 *   - a SIGBUS on a page of a ring-head watch (watch.c), or a SIGSEGV
 *     there in a child forked with no fork handler run (a raw clone),
 *     which has none, from any
 *     instruction: the loads there are the caller's own (JIT-compiled Lua
 *     in resty.shmlru.mlcache). The handler maps a page of zeros in its
 *     place, marks the handle broken, and returns: the load runs again and
 *     reads 0, which the caller takes for a change (watch.c says why).
 *   - inside a fast call (shmlru_fast_cur is set), which it ends through
 *     the call's escape (fast.c's escaped), from the faulting instruction:
 *       - inside that handle's own mapping: the file shrank, or cannot give
 *         the page (a hole that a full tmpfs cannot fill, a filesystem
 *         without fallocate, a memory error): the handle is marked broken,
 *         so that every later call goes to Go, and the call is answered by
 *         Go, or with SHMLRU_CORRUPT if it had made its change. A lock the
 *         call held is left as an orphan for Go's next acquire to take over
 *         and repair.
 *       - anywhere else: the caller's key, value or buffer. The call
 *         returns SHMLRU_BAD_ARGUMENT (escaped releases the lock it held).
 *       - in a call that names no handle (fast.c's peek_load, where there
 *         is no recoverable load): nothing is marked. The call knows what
 *         the word it read lies in, and marks the handle itself, as it
 *         does after the recoverable load.
 *     In each case the thread's signal mask is set back to what it was when
 *     the fault came (escape, below).
 * No page is mapped over the native path's mapping, so nothing another thread's call
 * reads or writes changes under it (a page still in the file may hold
 * another call's lock word, or its change half made): a call on pages that
 * are there completes as if nothing had happened, and one that touches a
 * page that faults ends on its own. Nothing goes to a page that is not the
 * file's, so no change is lost without its call saying so.
 * Every other fault goes to the handler installed before this one: the Go
 * runtime's, which handles its own (and forwards what is not its own to
 * whatever came before it), as Go asks of C code that installs handlers for
 * these signals, or a host's that replaced it. A host may also install its
 * own after ours and call ours from it: shmlru.h says what it must do (pass
 * the ucontext it was given, which the load's fault needs: without one, a
 * fault there goes to the handler before ours, which ends the process).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

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

/*
 * escape leaves the handler for the call's escape (fast.c's escaped), with
 * the thread's signal mask as it was when the fault came. The kernel blocks
 * the signal while a handler runs (and whatever else the handler's sa_mask
 * names: a host's handler that chains to ours may block more), and a
 * handler left by a jump never gets the mask back from sigreturn: the next
 * fault on that thread would then come with SIGSEGV blocked, which the
 * kernel answers by killing the process. The mask to restore is the one the
 * kernel saved in the ucontext, which a chaining handler passes on; it is
 * restored here, on the way out, so that the hot path keeps its
 * sigsetjmp(env, 0) (saving the mask at every call would cost a system call
 * each time). A handler that passed no ucontext gets SIGSEGV and SIGBUS
 * unblocked, which is what the next fault needs.
 */
static __attribute__((noreturn)) void escape(struct shmlru_fast_call *call, void *uc)
{
	if (uc != NULL) {
		pthread_sigmask(SIG_SETMASK, &((ucontext_t *)uc)->uc_sigmask, NULL);
	} else {
		sigset_t faults;
		sigemptyset(&faults);
		sigaddset(&faults, SIGSEGV);
		sigaddset(&faults, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &faults, NULL);
	}
	siglongjmp(call->escape, 1);
}

#ifdef SHMLRU_FAST_LOAD
/*
 * shmlru_fast_load64 (fast.h): an acquire load of *p at the label
 * shmlru_fast_load64_at, returning {value, 0}; a fault the kernel raises
 * there resumes at shmlru_fast_load64_fixup (resume_at_fixup), which
 * returns {0, 1}. A leaf that touches neither the stack nor any register
 * but its argument and return ones, so that resuming at the fixup leaves
 * the thread as the call would have: on x86-64 a plain mov is an acquire
 * load, on arm64 ldar. In assembly, not C: the fault must be at one
 * instruction the handler can name, and only one routine's copy of it.
 * Hidden, so reached only by direct calls: no landing pad (endbr64, bti c)
 * is needed where indirect branches are checked.
 */
#if defined(__x86_64__)
__asm__(".pushsection .text\n"
        ".globl shmlru_fast_load64\n"
        ".hidden shmlru_fast_load64\n"
        ".type shmlru_fast_load64, @function\n"
        ".p2align 4\n"
        "shmlru_fast_load64:\n"
        ".cfi_startproc\n"
        ".globl shmlru_fast_load64_at\n"
        ".hidden shmlru_fast_load64_at\n"
        "shmlru_fast_load64_at:\n"
        "\tmovq (%rdi), %rax\n"
        "\txorl %edx, %edx\n"
        "\tret\n"
        ".globl shmlru_fast_load64_fixup\n"
        ".hidden shmlru_fast_load64_fixup\n"
        "shmlru_fast_load64_fixup:\n"
        "\txorl %eax, %eax\n"
        "\tmovl $1, %edx\n"
        "\tret\n"
        ".cfi_endproc\n"
        ".size shmlru_fast_load64, .-shmlru_fast_load64\n"
        ".popsection\n");
#elif defined(__aarch64__)
__asm__(".pushsection .text\n"
        ".globl shmlru_fast_load64\n"
        ".hidden shmlru_fast_load64\n"
        ".type shmlru_fast_load64, %function\n"
        ".p2align 2\n"
        "shmlru_fast_load64:\n"
        ".cfi_startproc\n"
        ".globl shmlru_fast_load64_at\n"
        ".hidden shmlru_fast_load64_at\n"
        "shmlru_fast_load64_at:\n"
        "\tldar x0, [x0]\n"
        "\tmov x1, #0\n"
        "\tret\n"
        ".globl shmlru_fast_load64_fixup\n"
        ".hidden shmlru_fast_load64_fixup\n"
        "shmlru_fast_load64_fixup:\n"
        "\tmov x0, #0\n"
        "\tmov x1, #1\n"
        "\tret\n"
        ".cfi_endproc\n"
        ".size shmlru_fast_load64, .-shmlru_fast_load64\n"
        ".popsection\n");
#endif

extern SHMLRU_HIDDEN const char shmlru_fast_load64_at[], shmlru_fast_load64_fixup[];

/* resume_at_fixup moves a fault at shmlru_fast_load64's load to its fixup,
 * in the ucontext that the handler's return (sigreturn) resumes from, and
 * says whether it was there. */
static int resume_at_fixup(ucontext_t *uc)
{
#if defined(__x86_64__)
	greg_t *pc = &uc->uc_mcontext.gregs[REG_RIP];
	if (*pc != (greg_t)(uintptr_t)shmlru_fast_load64_at)
		return 0;
	*pc = (greg_t)(uintptr_t)shmlru_fast_load64_fixup;
#else
	if (uc->uc_mcontext.pc != (uintptr_t)shmlru_fast_load64_at)
		return 0;
	uc->uc_mcontext.pc = (uintptr_t)shmlru_fast_load64_fixup;
#endif
	return 1;
}
#endif

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	/* si_code > 0: a fault the kernel raised for an access. A SIGSEGV or
	 * SIGBUS sent with kill or pthread_kill is not a fault of ours to
	 * handle, even inside a fast call: jumping out of, say, an LRU move
	 * would release the lock over a queue half relinked, and the load,
	 * run again, reads what it would have. Nor is the kernel's notice
	 * that some page of the process has gone bad, which no access raised
	 * (BUS_MCEERR_AO), nor a fault whose siginfo a chaining handler did
	 * not pass on. */
	int raised = si != NULL && si->si_code > 0 && !(sig == SIGBUS && si->si_code == BUS_MCEERR_AO);
#ifdef SHMLRU_FAST_LOAD
	/* Returning resumes the thread at the fixup, its signal mask restored
	 * by sigreturn. Without the ucontext (a chaining handler that passed
	 * none) the load cannot be resumed anywhere else: the fault goes to
	 * the handler before ours. */
	if (raised && uc != NULL && resume_at_fixup(uc))
		return;
#endif
	/* A page of a ring-head watch (watch.c), read from anywhere, whose
	 * file page is gone (SIGBUS), or not mapped at all in a child forked
	 * with no fork handler run (SEGV_MAPERR): zeros in its place (the
	 * whole watch's, or that one page's), and the load runs
	 * again. Any other SIGSEGV there is a write, never the watch's. */
	if (raised && (sig == SIGBUS || si->si_code == SEGV_MAPERR) &&
	    shmlru_fast_watch_fault(si->si_addr, sig != SIGBUS))
		return;
	struct shmlru_fast_call *call = shmlru_fast_cur;
	if (raised && call != NULL) {
		struct shmlru_fast *f = call->f;
		unsigned char *a = si->si_addr;
		if (f != NULL && a >= f->map && a < f->map + f->map_len) {
			call->faulted = 1;
			__atomic_store_n(&f->broken, 1, __ATOMIC_SEQ_CST);
		}
		escape(call, uc);
	}
	chain(sig, si, uc, sig == SIGBUS ? &prev_bus : &prev_segv);
}

static void install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_fault;
	/* SA_ONSTACK: Go's threads run signal handlers on their alternate
	 * stacks, and Go requires it of every handler in the process. No
	 * SA_NODEFER: escape restores the mask (and sigreturn, after a fault at
	 * shmlru_fast_load64's load), and a fault inside the handler
	 * itself then ends the process rather than nesting without end. */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &prev_segv);
	sigaction(SIGBUS, &sa, &prev_bus);
}

static pthread_once_t installed = PTHREAD_ONCE_INIT;

/* Called by the Go side when it opens a cache, so after the Go runtime has
 * installed its own handlers, which ours then chain to. */
void shmlru_guard_install(void) { pthread_once(&installed, install); }

/* Test hooks, not part of the ABI, for tests that make a page of the
 * native path's mapping fault: the mapping of handle h (the whole file,
 * from offset 0) and its length, or NULL if the native path does not serve
 * h; and whether a fault on it has marked h broken. */
void *shmlru__test_mapping(uint64_t h, size_t *len, int *broken)
{
	if (h == 0)
		return NULL;
	struct shmlru_fast *f = &shmlru_fast_handles[(h - 1) % SHMLRU_FAST_HANDLES];
	if (__atomic_load_n(&f->id, __ATOMIC_SEQ_CST) != h)
		return NULL;
	*len = f->map_len;
	*broken = __atomic_load_n(&f->broken, __ATOMIC_SEQ_CST);
	return f->map;
}
