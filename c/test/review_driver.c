/*
 * Review reproducers (c/review_test.go): runs one native call of
 * libshmlru.so and pauses it at an exact instant, so that another process
 * (the Go test) can change the region there, as a racing process could.
 *
 * The pause point: fast.c calls memcmp through the PLT in find (writers,
 * under the shard lock) and in seek (lock-free readers), right after it
 * loaded and checked the entry header and before it uses it. A memcmp
 * defined in the executable takes precedence over libc's for the library's
 * calls; when armed, and called with the key KEY, it writes "paused\n" on
 * stdout and waits for one line on stdin before it compares.
 *
 *   review_driver incr REGION KEY DELTA     shmlru_incr; prints "rc R RESULT"
 *   review_driver get REGION KEY            shmlru_get; prints "rc R LEN HEX"
 *   review_driver get2 REGION KEY           as get, into a buffer of exactly
 *                                           the value's size (from a first get)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "driver.h"

static const char *armed_key;
static size_t armed_len;
static volatile int armed;

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	if (armed && n == armed_len) {
		int mine = 1;
		for (size_t i = 0; i < n; i++)
			if (y[i] != (unsigned char)armed_key[i]) {
				mine = 0;
				break;
			}
		if (mine) {
			armed = 0;
			if (write(1, "paused\n", 7) != 7)
				_exit(3);
			wait_line();
		}
	}
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

static unsigned char buf[1 << 20];

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	const char *op = argv[1], *key = argv[3];
	size_t kl = strlen(key);
	open_region(argv[2]);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (strcmp(op, "incr") == 0 && argc == 5) {
		double r = 0;
		armed_key = key, armed_len = kl, armed = 1;
		int rc = shmlru_incr(h, key, kl, atof(argv[4]), &r, 0, 0, 0, NULL);
		armed = 0;
		printf("rc %d %.17g\n", rc, r);
		return 0;
	}
	if (strcmp(op, "get") == 0) {
		size_t vn = 0;
		armed_key = key, armed_len = kl, armed = 1;
		int rc = shmlru_get(h, key, kl, buf, sizeof buf, &vn, NULL);
		armed = 0;
		printf("rc %d %zu ", rc, vn);
		for (size_t i = 0; rc == SHMLRU_OK && i < vn; i++)
			printf("%02x", buf[i]);
		printf("\n");
		return 0;
	}
	if (strcmp(op, "gen") == 0) {
		uint32_t g = 0;
		int rc = shmlru_tracked_gen(h, &g);
		printf("rc %d gen %u\n", rc, g);
		return 0;
	}
	if (strcmp(op, "badout") == 0) {
		/* incr and set of KEY with their output pointer on a read-only
		 * page: prints each status and the number KEY holds after. */
		void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int rc = shmlru_incr(h, key, kl, 1, (double *)ro, 0, 0, 0, NULL);
		double d = 0;
		size_t vn = 0;
		shmlru_get(h, key, kl, &d, sizeof d, &vn, NULL);
		printf("incr %d -> %g", rc, d);
		d = 42;
		rc = shmlru_write(h, key, kl, &d, 8, &(shmlru_write_opts){.type = SHMLRU_TYPE_NUMBER}, (shmlru_write_result *)ro);
		printf(" set %d", rc);
		rc = shmlru_get(h, key, kl, &d, sizeof d, &vn, NULL);
		printf(" get %d %g\n", rc, d);
		return 0;
	}
	if (strcmp(op, "fuzz") == 0) {
		/* KEY is the number of rounds: get, get_stale, ttl, llen, incr
		 * and set over keys k0..k63 while another process scribbles on
		 * the region. The buffer given to get is 64 bytes long inside a
		 * larger one: the rest must never change. */
		long rounds = atol(key), calls = 0, ok = 0;
		static unsigned char big[4096];
		guard_init(big, sizeof big);
		for (long r = 0; r < rounds; r++) {
			char k[16];
			int kn = snprintf(k, sizeof k, "k%ld", r % 64);
			size_t vn = 0, len = 0;
			int64_t ttl = 0;
			double d = 0;
			shmlru_meta m;
			int rc;
			switch (r % 6) {
			case 0:
				rc = shmlru_get(h, k, (size_t)kn, big, 64, &vn, &m);
				break;
			case 1:
				rc = shmlru_get_stale(h, k, (size_t)kn, big, 64, &vn, &m);
				break;
			case 2:
				rc = shmlru_ttl(h, k, (size_t)kn, &ttl);
				break;
			case 3:
				rc = shmlru_llen(h, k, (size_t)kn, &len);
				break;
			case 4:
				rc = shmlru_incr(h, k, (size_t)kn, 1, &d, 0, 0, 0, NULL);
				break;
			default: {
				shmlru_write_opts o;
				memset(&o, 0, sizeof o);
				rc = shmlru_write(h, k, (size_t)kn, "0123456789", 10, &o, NULL);
			}
			}
			calls++;
			ok += rc == SHMLRU_OK;
			if (calls % 100000 == 0)
				fprintf(stderr, "progress %ld\n", calls);
			if ((r % 6 == 0 || r % 6 == 1) && rc == SHMLRU_OK && vn > 64) {
				printf("get returned %zu bytes into a 64-byte buffer\n", vn);
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
