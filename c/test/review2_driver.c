/*
 * Second outside review's reproducers (c/review2_test.go): calls of the C
 * ABI whose output pointer faults, made while the Go test watches the
 * region from another process.
 *
 *   review2_driver begin-ro REGION KEY
 *       shmlru_load_begin(lease 0) with its shmlru_load on a read-only
 *       page; prints "begin R", then "holding" and waits for a line on
 *       stdin before it exits (so that the test can look while it lives).
 *   review2_driver claim REGION KEY
 *       shmlru_load_begin (lease 0): "claim R STATE", then holds (the test
 *       kills it: a loader that dies).
 *   review2_driver wait-ro REGION KEY
 *       shmlru_load_begin (lease 0) with a good ticket: "begin R STATE";
 *       waits for a line on stdin (the test kills the loader meanwhile),
 *       then shmlru_load_wait (timeout 0, lease 0) with a read-only copy of
 *       that ticket: "wait R", "holding", and waits for a line on stdin.
 *   review2_driver end-ro REGION KEY
 *       shmlru_load_begin, then shmlru_load_end(DONE) with the ticket on a
 *       read-only page: "end R", then shmlru_load_end again with a good copy
 *       (a caller retrying the call it was told failed): "retry R".
 *   review2_driver fill-ro REGION KEY
 *       shmlru_fill_begin, then shmlru_fill_store with *stored on a read-only
 *       page: "store R", then shmlru_get_tracked: "tracked R".
 *   review2_driver flush-ro REGION KEY
 *       writes KEY with a 1 ms TTL, spins until a get no longer finds it,
 *       then shmlru_flush_expired with *removed on a read-only page:
 *       "flush R", then shmlru_len: "len R N".
 *   review2_driver open-ro REGION KEY
 *       shmlru_open (after the first open, which every op makes) with *out
 *       on a read-only page: "open R", "holding", then waits for a line.
 *   review2_driver fuzz-tracked REGION ROUNDS
 *       shmlru_get_tracked (into 64 bytes of a larger buffer whose rest must
 *       never change), shmlru_fill_begin/fill_store, and read-through
 *       (load_begin, load_store, load_end, load_wait 0) over keys k0..k63
 *       while the test scribbles on the region: "ok CALLS OKS", or what
 *       went wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "driver.h"

static void *ro_page(const void *init, size_t n)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		exit(3);
	if (init != NULL)
		memcpy(p, init, n);
	mprotect(p, 4096, PROT_READ);
	return p;
}

static void hold(void)
{
	printf("holding\n");
	wait_line();
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	const char *op = argv[1], *key = argv[3];
	size_t kl = strlen(key);
	open_region(argv[2]);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (strcmp(op, "begin-ro") == 0) {
		shmlru_load *ro = ro_page(NULL, 0);
		int rc = shmlru_load_begin(h, key, kl, 0, ro);
		printf("begin %d\n", rc);
		hold();
		return 0;
	}
	if (strcmp(op, "claim") == 0) {
		shmlru_load ld;
		memset(&ld, 0, sizeof ld);
		int rc = shmlru_load_begin(h, key, kl, 0, &ld);
		printf("claim %d %d\n", rc, ld.state);
		hold();
		return 0;
	}
	if (strcmp(op, "wait-ro") == 0) {
		shmlru_load ld;
		memset(&ld, 0, sizeof ld);
		int rc = shmlru_load_begin(h, key, kl, 0, &ld);
		printf("begin %d %d\n", rc, ld.state);
		wait_line();
		shmlru_load *ro = ro_page(&ld, sizeof ld);
		rc = shmlru_load_wait(h, ro, 0, 0, NULL, 0, NULL);
		printf("wait %d\n", rc);
		hold();
		return 0;
	}
	if (strcmp(op, "end-ro") == 0) {
		shmlru_load ld;
		memset(&ld, 0, sizeof ld);
		int rc = shmlru_load_begin(h, key, kl, 0, &ld);
		if (rc != SHMLRU_OK || ld.state != SHMLRU_LOAD_MINE) {
			printf("begin %d %d\n", rc, ld.state);
			return 1;
		}
		shmlru_load *ro = ro_page(&ld, sizeof ld);
		rc = shmlru_load_end(h, ro, SHMLRU_LOAD_DONE, NULL, 0);
		printf("end %d\n", rc);
		rc = shmlru_load_end(h, &ld, SHMLRU_LOAD_DONE, NULL, 0);
		printf("retry %d\n", rc);
		return 0;
	}
	if (strcmp(op, "fill-ro") == 0) {
		shmlru_guard g;
		int rc = shmlru_fill_begin(h, key, kl, &g);
		if (rc != SHMLRU_OK) {
			printf("fill_begin %d\n", rc);
			return 1;
		}
		int *ro = ro_page(NULL, 0);
		rc = shmlru_fill_store(h, key, kl, "v", 1, 0, 0, &g, ro);
		printf("store %d\n", rc);
		char b[16];
		size_t n = 0;
		rc = shmlru_get_tracked(h, key, kl, b, sizeof b, &n, NULL);
		printf("tracked %d\n", rc);
		return 0;
	}
	if (strcmp(op, "open-ro") == 0) {
		shmlru_options o;
		memset(&o, 0, sizeof o);
		o.no_create = 1;
		char err[SHMLRU_ERRBUF_SIZE];
		int rc = shmlru_open(argv[2], strlen(argv[2]), &o, (shmlru_t *)ro_page(NULL, 0), err, sizeof err);
		printf("open %d\n", rc);
		hold();
		return 0;
	}
	if (strcmp(op, "flush-ro") == 0) {
		shmlru_write_opts o;
		memset(&o, 0, sizeof o);
		o.ttl_ms = 1;
		if (shmlru_write(h, key, kl, "v", 1, &o, NULL) != SHMLRU_OK)
			return 1;
		char b[8];
		size_t n = 0;
		while (shmlru_get(h, key, kl, b, sizeof b, &n, NULL) == SHMLRU_OK) {
		}
		size_t *ro = ro_page(NULL, 0);
		int rc = shmlru_flush_expired(h, 0, ro);
		printf("flush %d\n", rc);
		rc = shmlru_len(h, &n);
		printf("len %d %zu\n", rc, n);
		return 0;
	}
	if (strcmp(op, "fuzz-tracked") == 0) {
		long rounds = atol(key), calls = 0, ok = 0;
		static unsigned char big[4096];
		guard_init(big, sizeof big);
		for (long r = 0; r < rounds; r++) {
			char k[16];
			int kn = snprintf(k, sizeof k, "k%ld", r % 64);
			size_t vn = 0;
			shmlru_meta m;
			int rc;
			switch (r % 3) {
			case 0:
				rc = shmlru_get_tracked(h, k, (size_t)kn, big, 64, &vn, &m);
				if (rc == SHMLRU_OK && vn > 64) {
					printf("get_tracked returned %zu bytes into a 64-byte buffer\n", vn);
					return 1;
				}
				break;
			case 1: {
				shmlru_guard g;
				rc = shmlru_fill_begin(h, k, (size_t)kn, &g);
				if (rc == SHMLRU_OK) {
					int stored = 0;
					rc = shmlru_fill_store(h, k, (size_t)kn, "filled", 6, 0, 0, &g, &stored);
				}
				break;
			}
			default: {
				shmlru_load ld;
				memset(&ld, 0, sizeof ld);
				rc = shmlru_load_begin(h, k, (size_t)kn, 50, &ld);
				if (rc == SHMLRU_OK && ld.state == SHMLRU_LOAD_MINE) {
					shmlru_write_opts o;
					memset(&o, 0, sizeof o);
					shmlru_write_result wr;
					int src = shmlru_load_store(h, &ld, k, (size_t)kn, "loaded", 6, &o, &wr);
					rc = shmlru_load_end(h, &ld, src == SHMLRU_OK ? SHMLRU_LOAD_DONE : SHMLRU_LOAD_FAILED, "x", 1);
				} else if (rc == SHMLRU_OK && ld.state == SHMLRU_LOAD_WAITING) {
					rc = shmlru_load_wait(h, &ld, 0, 50, (char *)big + 64, 0, NULL);
					if (rc == SHMLRU_OK && ld.state == SHMLRU_LOAD_MINE)
						rc = shmlru_load_end(h, &ld, SHMLRU_LOAD_ABANDONED, NULL, 0);
				}
			}
			}
			calls++;
			ok += rc == SHMLRU_OK;
			if (rc > 0 || rc < SHMLRU_BUSY || rc == SHMLRU_INTERNAL) {
				printf("status %d from round %ld\n", rc, r);
				return 1;
			}
			if (guard_broken(big, sizeof big, 64, rc))
				return 1;
		}
		printf("ok %ld %ld\n", calls, ok);
		return 0;
	}
	return 2;
}
