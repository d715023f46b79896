/* driver.h: what the C test drivers (native_driver.c, track_driver.c,
 * review_driver.c, review2_driver.c, guard_driver.c) share: the handle on
 * the region the Go test made, the wait for the test's go-ahead line, an
 * output buffer whose bytes past the ones a call is given must never
 * change, and a page of the mapping made to fault to a userfaultfd.
 * Included by each driver; not part of the library. */
#ifndef SHMLRU_TEST_DRIVER_H
#define SHMLRU_TEST_DRIVER_H

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shmlru.h"

/* h is the driver's handle on the region. */
static shmlru_t h;

/* open_region opens the existing region at path into h, or exits 2. */
static inline void open_region(const char *path)
{
	shmlru_options o;
	memset(&o, 0, sizeof o);
	o.no_create = 1;
	char err[SHMLRU_ERRBUF_SIZE];
	if (shmlru_open(path, strlen(path), &o, &h, err, sizeof err) != SHMLRU_OK) {
		fprintf(stderr, "open %s: %s\n", path, err);
		exit(2);
	}
}

#if defined(UFFD_USER_MODE_ONLY) && defined(UFFD_FEATURE_MINOR_SHMEM)
/* uffd_minor registers the len bytes at p (pages of a tmpfs mapping) with
 * a new userfaultfd (opened with flags, beside O_CLOEXEC and
 * UFFD_USER_MODE_ONLY) in minor-fault mode, with the API features given
 * (UFFD_FEATURE_MINOR_SHMEM added), and drops their page-table entries in
 * this mapping, so that the next access to them is the userfaultfd's:
 * NULL and its descriptor in *uffd, or what failed. */
static inline const char *uffd_minor(void *p, size_t len, int flags, uint64_t features, int *uffd)
{
	int u = (int)syscall(SYS_userfaultfd, O_CLOEXEC | flags | UFFD_USER_MODE_ONLY);
	if (u < 0)
		return "userfaultfd";
	struct uffdio_api api = {.api = UFFD_API, .features = features | UFFD_FEATURE_MINOR_SHMEM};
	if (ioctl(u, UFFDIO_API, &api) != 0)
		return "userfaultfd without shmem minor faults or a feature asked for";
	struct uffdio_register r = {.range = {(unsigned long)p, len}, .mode = UFFDIO_REGISTER_MODE_MINOR};
	if (ioctl(u, UFFDIO_REGISTER, &r) != 0)
		return "UFFDIO_REGISTER (the region not on tmpfs?)";
	if (madvise(p, len, MADV_DONTNEED) != 0)
		return "madvise";
	*uffd = u;
	return NULL;
}
#endif

/* wait_line reads stdin up to a newline, or its end: the test's go-ahead.
 * It reads byte by byte, so that nothing after the line is consumed. */
static inline void wait_line(void)
{
	char c;
	while (read(0, &c, 1) == 1 && c != '\n') {
	}
}

/* The guarded buffer: a call is given its first n bytes; the rest hold
 * GUARD_BYTE, and guard_broken finds one that does not. */
enum { GUARD_BYTE = 0xA5 };

static inline void guard_init(unsigned char *b, size_t size) { memset(b, GUARD_BYTE, size); }

/* guard_broken prints which byte past the first n of b (size bytes) a call
 * (status rc) wrote, and returns 1; 0 if none. */
static inline int guard_broken(const unsigned char *b, size_t size, size_t n, int rc)
{
	for (size_t i = n; i < size; i++)
		if (b[i] != GUARD_BYTE) {
			printf("byte %zu past the %zu-byte buffer was written (rc %d)\n", i, n, rc);
			return 1;
		}
	return 0;
}

#endif
