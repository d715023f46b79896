/* driver.h: what the C test drivers (native_driver.c, track_driver.c,
 * review_driver.c, review2_driver.c) share: the handle on the region the
 * Go test made, the wait for the test's go-ahead line, and an output
 * buffer whose bytes past the ones a call is given must never change.
 * Included by each driver; not part of the library. */
#ifndef SHMLRU_TEST_DRIVER_H
#define SHMLRU_TEST_DRIVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
