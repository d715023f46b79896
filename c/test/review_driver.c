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
 *   review_driver rtloop REGION KEY HOLD    read-through loads of KEY for ever
 *                                           (begin, prepare, finish with 4000
 *                                           bytes of one letter); prints
 *                                           "running" once; HOLD 1: after its
 *                                           first prepare it prints "prepared"
 *                                           and holds the load until killed
 *   review_driver looks REGION PREFIX N     shmlru_load_look (untracked) of
 *                                           PREFIX0..PREFIX<N-1>; prints
 *                                           "rc R STATE FRESH FLAGS TYPE
 *                                           EXPIRES STALE LEN" for each, then
 *                                           "fallbacks F"
 *   review_driver lookloop REGION KEY N     N shmlru_load_look of KEY, each
 *                                           checked whole (look_torn) and
 *                                           against the mark: "ok N" and the
 *                                           count of each state, or exit 1
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "driver.h"

long shmlru__test_fallbacks(void);

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

/* look_torn reports (and prints) a read-through look whose parts do not
 * agree: a state out of range, a length for a state without a value, a
 * fresh time not the one its own meta says. */
static int look_torn(const shmlru_look *lk, const shmlru_meta *m, size_t vn)
{
	const uint32_t bit = UINT32_C(1) << SHMLRU_STALE_FLAG_BIT;
	int64_t fresh = m->expires_ms;
	if ((m->flags & bit) && m->expires_ms != 0)
		fresh = m->expires_ms - (int64_t)(m->flags & ((UINT32_C(1) << SHMLRU_RESURRECT_FLAG_BIT) - 1));
	int bad = 0;
	switch (lk->state) {
	case SHMLRU_LOOK_MISS:
		bad = vn != 0 || m->version != 0;
		break;
	case SHMLRU_LOOK_ABSENT:
		bad = vn != 0 || m->type != SHMLRU_TYPE_NONE || lk->fresh_ms != m->expires_ms;
		break;
	case SHMLRU_LOOK_FRESH:
	case SHMLRU_LOOK_SOFT_STALE:
		bad = m->type == SHMLRU_TYPE_NONE || vn > 64 || lk->fresh_ms != fresh || m->stale;
		break;
	case SHMLRU_LOOK_EXPIRED:
		bad = m->type == SHMLRU_TYPE_NONE || vn > 64 || !m->stale;
		break;
	case SHMLRU_LOOK_RESURRECTED:
		bad = !(m->flags & (UINT32_C(1) << SHMLRU_RESURRECT_FLAG_BIT)) || m->stale ||
		      (m->type == SHMLRU_TYPE_NONE ? vn != 0 || lk->fresh_ms != m->expires_ms
		                                   : vn > 64 || lk->fresh_ms != fresh);
		break;
	default:
		bad = 1;
	}
	if (bad)
		printf("torn look: state %d fresh %lld value %zu; meta version %llu expires %lld flags %#x type %d stale %d\n",
		       (int)lk->state, (long long)lk->fresh_ms, vn, (unsigned long long)m->version,
		       (long long)m->expires_ms, (unsigned)m->flags, (int)m->type, (int)m->stale);
	return bad;
}

int main(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	const char *op = argv[1], *key = argv[3];
	size_t kl = strlen(key);
	open_region(argv[2]);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (strcmp(op, "looks") == 0 && argc == 5) {
		const long n = atol(argv[4]);
		for (long i = 0; i < n; i++) {
			char k[64];
			int klen = snprintf(k, sizeof k, "%s%ld", key, i);
			size_t vn = 0;
			shmlru_meta m;
			shmlru_look lk;
			int rc = shmlru_load_look(h, k, (size_t)klen, 0, buf, sizeof buf, &vn, &m, &lk);
			printf("rc %d %d %lld %lu %d %lld %d %zu\n", rc, lk.state, (long long)lk.fresh_ms,
			       (unsigned long)m.flags, (int)m.type, (long long)m.expires_ms, (int)m.stale, vn);
		}
		printf("fallbacks %ld\n", shmlru__test_fallbacks());
		return 0;
	}
	if (strcmp(op, "lookloop") == 0 && argc == 5) {
		const long n = atol(argv[4]);
		long states[6] = {0};
		const uint32_t mark = UINT32_C(1) << SHMLRU_RESURRECT_FLAG_BIT;
		for (long i = 0; i < n; i++) {
			size_t vn = 0;
			shmlru_meta m;
			shmlru_look lk;
			int rc = shmlru_load_look(h, key, kl, 0, buf, 64, &vn, &m, &lk);
			if (rc != SHMLRU_OK)
				continue;
			if (look_torn(&lk, &m, vn))
				return 1;
			if ((lk.state == SHMLRU_LOOK_FRESH || lk.state == SHMLRU_LOOK_ABSENT) && (m.flags & mark)) {
				printf("state %d with the mark in flags %#x\n", lk.state, m.flags);
				return 1;
			}
			states[lk.state]++;
		}
		printf("ok %ld %ld %ld %ld %ld %ld %ld\n", n, states[0], states[1], states[2], states[3], states[4], states[5]);
		return 0;
	}
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
			shmlru_look lk;
			switch (r % 8) {
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
			case 5: {
				shmlru_write_opts o;
				memset(&o, 0, sizeof o);
				rc = shmlru_write(h, k, (size_t)kn, "0123456789", 10, &o, NULL);
				break;
			}
			case 6:
				rc = shmlru_load_look(h, k, (size_t)kn, 0, big, 64, &vn, &m, &lk);
				if (rc == SHMLRU_OK && look_torn(&lk, &m, vn))
					return 1;
				break;
			default: {
				/* A whole read-through load: it ends, whatever the
				 * scribbler did to the entry. */
				shmlru_load ld;
				shmlru_load_opts o;
				shmlru_guard g;
				shmlru_load_answer a;
				memset(&o, 0, sizeof o);
				o.ttl_ms = 60000;
				o.neg_ttl_ms = -1;
				o.stale_ttl_ms = 1000;
				rc = shmlru_load_begin(h, k, (size_t)kn, 30000, &ld);
				if (rc != SHMLRU_OK || ld.state != SHMLRU_LOAD_MINE)
					break;
				rc = shmlru_load_prepare(h, &ld, k, (size_t)kn, &o, big, 64, &vn, &m, &lk, &g);
				if (rc == SHMLRU_OK && look_torn(&lk, &m, vn))
					return 1;
				if (rc == SHMLRU_OK && ld.state == SHMLRU_LOAD_MINE)
					rc = shmlru_load_finish(h, &ld, k, (size_t)kn, &o, &g, SHMLRU_LOADED_VALUE, "0123456789",
					                        10, SHMLRU_TYPE_BYTES, 0, NULL, 0, &a);
				if (ld.state == SHMLRU_LOAD_MINE)
					shmlru_load_end(h, &ld, SHMLRU_LOAD_ABANDONED, NULL, 0);
				if (ld.state == SHMLRU_LOAD_MINE) {
					printf("a read-through load was left claimed (status %d)\n", rc);
					return 1;
				}
				vn = 0;
			}
			}
			calls++;
			ok += rc == SHMLRU_OK;
			if (calls % 100000 == 0)
				fprintf(stderr, "progress %ld\n", calls);
			if ((r % 8 == 0 || r % 8 == 1 || r % 8 == 6) && rc == SHMLRU_OK && vn > 64) {
				printf("get returned %zu bytes into a 64-byte buffer\n", vn);
				return 1;
			}
			if (guard_broken(big, sizeof big, 64, rc))
				return 1;
		}
		printf("ok %ld %ld\n", calls, ok);
		return 0;
	}
	if (strcmp(op, "rtloop") == 0 && argc == 5) {
		int hold = atoi(argv[4]);
		static char v[4000];
		shmlru_load_opts o;
		memset(&o, 0, sizeof o);
		o.ttl_ms = 60000;
		o.neg_ttl_ms = -1;
		printf("running\n");
		fflush(stdout);
		for (unsigned long i = 0;; i++) {
			shmlru_load ld;
			shmlru_guard g;
			shmlru_load_answer a;
			shmlru_meta m;
			shmlru_look lk;
			size_t vn;
			if (shmlru_load_begin(h, key, kl, 30000, &ld) != SHMLRU_OK || ld.state != SHMLRU_LOAD_MINE)
				continue;
			/* A claimed load's prepare ends it when the key is fresh:
			 * drop the key first, so that the loop writes each time. */
			shmlru_delete(h, key, kl, NULL);
			if (shmlru_load_prepare(h, &ld, key, kl, &o, buf, sizeof buf, &vn, &m, &lk, &g) != SHMLRU_OK)
				return 4;
			if (hold) {
				printf("prepared\n");
				fflush(stdout);
				for (;;)
					pause();
			}
			memset(v, 'a' + (int)(i % 26), sizeof v);
			if (shmlru_load_finish(h, &ld, key, kl, &o, &g, SHMLRU_LOADED_VALUE, v, sizeof v,
			                       SHMLRU_TYPE_BYTES, 0, NULL, 0, &a) != SHMLRU_OK)
				return 5;
		}
	}
	return 2;
}
