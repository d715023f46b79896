/*
 * A C user of an installed shmlru: built with nothing but
 * `pkg-config --cflags --libs shmlru`. It prints the library's versions,
 * writes "from-c", reads it back, and prints "from-go", which the Go test
 * wrote into the same region: "KEY VALUE FLAGS".
 */
#include <stdio.h>
#include <string.h>

#include <shmlru.h>

static int fail(const char *what, int rc)
{
	fprintf(stderr, "%s: %s\n", what, shmlru_strerror(rc));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s REGION\n", argv[0]);
		return 2;
	}
	printf("version %s\nabi %d\n", shmlru_version(), shmlru_abi_version());

	shmlru_t h;
	char err[SHMLRU_ERRBUF_SIZE];
	int rc = shmlru_open(argv[1], strlen(argv[1]), NULL, &h, err, sizeof err);
	if (rc != SHMLRU_OK) {
		fprintf(stderr, "shmlru_open: %s\n", err);
		return 1;
	}
	const char *v = "hello from C";
	if ((rc = shmlru_write(h, "from-c", 6, v, strlen(v), NULL, NULL)) != SHMLRU_OK)
		return fail("shmlru_write", rc);

	char buf[64];
	size_t n;
	shmlru_meta m;
	if ((rc = shmlru_get(h, "from-c", 6, buf, sizeof buf, &n, &m)) != SHMLRU_OK)
		return fail("shmlru_get from-c", rc);
	printf("from-c %.*s %u\n", (int)n, buf, (unsigned)m.flags);
	if ((rc = shmlru_get(h, "from-go", 7, buf, sizeof buf, &n, &m)) != SHMLRU_OK)
		return fail("shmlru_get from-go", rc);
	printf("from-go %.*s %u\n", (int)n, buf, (unsigned)m.flags);
	if ((rc = shmlru_close(h)) != SHMLRU_OK)
		return fail("shmlru_close", rc);
	return 0;
}
