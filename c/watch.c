/*
 * The ring-head watch: each shard's change-ring head, readable with a
 * plain load from the caller's own code, with no call (shmlru_l1_heads).
 *
 * resty.shmlru.mlcache's "always" L1 checks, on every hit, that the shard
 * of the copy's stripe had no change since its cursors. Through a call
 * (shmlru_l1_current) that check costs more than the lrucache get it
 * guards once the L1 is larger than the CPU's caches; a load from JIT-
 * compiled Lua costs a few nanoseconds. But a load from the region's
 * mapping, outside any call of ours, could not be guarded: a file
 * truncated underneath would kill the process with SIGBUS in the middle
 * of Lua, and a handle closed under it would leave the load reading
 * memory unmapped or mapped to something else.
 *
 * So the loads go to a mapping of their own, the watch: one page per
 * shard, the page of the file that holds the shard's ring head, mapped
 * read-only (MAP_SHARED, so every writer's store is seen), side by side
 * in one block of address space reserved for it. The block is never
 * unmapped and never reused, so an address in it always means this:
 *   - a fault there (SIGBUS: the file shrank under the page, or cannot
 *     give it) is the watch's own, whatever instruction made it. guard.c
 *     calls shmlru_fast_watch_fault, which maps zeros in place of the
 *     whole watch, marks the handle broken, and returns, so the load runs
 *     again and reads 0. No page of the file is changed, and no
 *     other mapping: the watch is read by nobody else.
 *   - at close (shmlru_fast_unwatch), the whole block is mapped over with
 *     zeros in the same way, so a load made after close through pointers
 *     taken before it reads 0.
 * A child forked without exec inherits no page of the file (MADV_DONTFORK,
 * as the region's mapping, see shm/region.go's mapFile), and the library
 * refuses its calls (SHMLRU_FORKED). Nor may it inherit a hole: its own
 * mappings could land there, and a pointer taken before the fork would
 * read them (a cursor, even), and a fault on the rest of the block would
 * map zeros over them. So the library's fork handler (shim.c's fork_child,
 * through shmlru_fast_watch_forked) maps zeros over every block in the
 * child first thing. A child made by a fork that runs no handler (a raw
 * clone) still finds the hole: a load there faults with SIGSEGV, which
 * the handler answers with zeros on that page alone, the one page known
 * to be nobody's.
 * A head never reads 0 while the region is sound: each starts at a count
 * drawn at random when the region is made, from 1 up (lru/stripes.go), and
 * only grows; and a cursor is a head shmlru_l1_changes read, which
 * answers a head of 0 (a region scribbled on) as corrupt instead of
 * taking it. So 0 never matches a cursor, and the caller, taking the
 * shard for changed, calls shmlru_l1_changes, which says what happened.
 * A closed handle leaves its block behind: a page of address space per
 * shard, and no memory (pages of zeros read-only share the zero page).
 * A handle gets its watch at the first shmlru_l1_heads, not at open: a
 * caller that never asks (one that keeps no copies) pays no mapping per
 * shard, nor the address space's count of mappings.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fast.h"

/* The blocks ever made in this process, for the fault handler; appended
 * under watches_mu (which also guards each handle's watch, watch_len and
 * watch_tried), published by the release store of nwatches (the
 * handler reads it with acquire, and each entry is written before). Once
 * every entry is taken, a handle gets no watch, and its callers check
 * through shmlru_l1_current. */
#define WATCHES 4096

static struct {
	uintptr_t start, len;
	uintptr_t page; /* the page size, for the handler */
	uint64_t id;    /* the handle it was made for */
} watches[WATCHES];
static uint32_t nwatches;
static pthread_mutex_t watches_mu = PTHREAD_MUTEX_INITIALIZER;

/* make_watch maps f's watch from its file (f->fd) and registers it for
 * handle id: the block, or NULL if a step failed. */
static unsigned char *make_watch(struct shmlru_fast *f, uint64_t id, size_t *len_out)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	size_t len = (size_t)f->shards * pg;
	if (nwatches == WATCHES)
		return NULL;
	unsigned char *block = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (block == MAP_FAILED)
		return NULL;
	for (uint32_t i = 0; i < f->shards; i++) {
		uint64_t off = shmlru_fast_head_off(f, i) & ~(uint64_t)(pg - 1);
		if (mmap(block + (size_t)i * pg, pg, PROT_READ, MAP_SHARED | MAP_FIXED, f->fd, (off_t)off) == MAP_FAILED) {
			munmap(block, len); /* not yet known to anyone */
			return NULL;
		}
	}
	/* Not into a child forked without exec, as the region's own mapping
	 * (shm/region.go's mapFile): the file's pages would hold this
	 * attachment's slot lock alive after the parent died. */
	if (madvise(block, len, MADV_DONTFORK) != 0) {
		munmap(block, len);
		return NULL;
	}
	uint32_t n = nwatches;
	watches[n].start = (uintptr_t)block;
	watches[n].len = len;
	watches[n].page = pg;
	watches[n].id = id;
	__atomic_store_n(&nwatches, n + 1, __ATOMIC_RELEASE);
	*len_out = len;
	return block;
}

/* shmlru_fast_watch is handle id's watch, made at the first call (inside
 * an entered fast call, so close waits for it), and its length; NULL if
 * it has none (made once, or failed once: a handle tries once). */
SHMLRU_HIDDEN unsigned char *shmlru_fast_watch(struct shmlru_fast *f, uint64_t id, size_t *len)
{
	pthread_mutex_lock(&watches_mu);
	if (f->watch == NULL && !f->watch_tried) {
		f->watch_tried = 1;
		f->watch = make_watch(f, id, &f->watch_len);
	}
	unsigned char *block = f->watch;
	*len = f->watch_len;
	pthread_mutex_unlock(&watches_mu);
	return block;
}

/* zero_pages maps pages of zeros, read-only, over len bytes at p: 1, or 0
 * if the kernel refused. */
static int zero_pages(void *p, size_t len)
{
	return mmap(p, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) != MAP_FAILED;
}

/* shmlru_fast_unwatch ends f's watch at close, once the handle's id is
 * cleared: its pages read 0 from now on. Should the kernel refuse the
 * zeros (out of memory for the mapping), the pages stay the file's, which
 * reads stay sound on: the file is not unmapped under them. */
SHMLRU_HIDDEN void shmlru_fast_unwatch(struct shmlru_fast *f)
{
	pthread_mutex_lock(&watches_mu);
	unsigned char *block = f->watch;
	size_t len = f->watch_len;
	f->watch = NULL;
	f->watch_len = 0;
	pthread_mutex_unlock(&watches_mu);
	if (block != NULL)
		zero_pages(block, len);
}

/* shmlru_fast_watch_forked, in a child forked without exec (from the
 * library's fork handler, before the child can map anything): zeros over
 * every block, whose file pages the child did not inherit, so that the
 * blocks stay the watch's. Async-signal-safe: mmap is a system call. */
SHMLRU_HIDDEN void shmlru_fast_watch_forked(void)
{
	uint32_t n = __atomic_load_n(&nwatches, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++)
		zero_pages((void *)watches[i].start, watches[i].len);
}

/* shmlru_fast_watch_fault handles a fault at addr if it lies in a watch.
 * A SIGBUS (unmapped 0): zeros in place of the whole watch, whose region
 * is now known to have shrunk (as a broken handle's calls all go to Go,
 * whichever shard they touch), and the handle marked broken if it is still
 * open. A page not mapped at all (unmapped 1: a child forked with no fork
 * handler run, see the top of this file): zeros on that page only, as any
 * other page of the block may be the child's own by now. 1 if it did, 0
 * if addr is no watch's (or the kernel refused the pages). Called from the
 * signal handler: it takes no lock, and mmap is a system call. */
SHMLRU_HIDDEN int shmlru_fast_watch_fault(const void *addr, int unmapped)
{
	uintptr_t a = (uintptr_t)addr;
	uint32_t n = __atomic_load_n(&nwatches, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		if (a - watches[i].start >= watches[i].len)
			continue;
		if (unmapped) {
			uintptr_t pg = watches[i].page;
			return zero_pages((void *)(a & ~(pg - 1)), pg);
		}
		if (!zero_pages((void *)watches[i].start, watches[i].len))
			return 0;
		uint64_t id = watches[i].id;
		struct shmlru_fast *f = &shmlru_fast_handles[(id - 1) % SHMLRU_FAST_HANDLES];
		if (__atomic_load_n(&f->id, __ATOMIC_ACQUIRE) == id)
			__atomic_store_n(&f->broken, 1, __ATOMIC_SEQ_CST);
		return 1;
	}
	return 0;
}
