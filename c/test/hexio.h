/* hexio.h: how the C test drivers native_driver.c and track_driver.c pass
 * bytes through their line protocol with the Go tests: as lowercase hex,
 * "-" for none. Included by each driver; not part of the library. */
#ifndef SHMLRU_TEST_HEXIO_H
#define SHMLRU_TEST_HEXIO_H

#include <stdio.h>
#include <string.h>

/* unhex decodes s ("-" is empty) into out and returns its length. */
static size_t unhex(const char *s, unsigned char *out)
{
	if (strcmp(s, "-") == 0)
		return 0;
	size_t n = strlen(s) / 2;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (unsigned char)v;
	}
	return n;
}

/* hex prints b to stdout as hex ("-" if empty). */
static void hex(const unsigned char *b, size_t n)
{
	if (n == 0)
		fputs("-", stdout);
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
}

#endif
