/*
 * Drives libshmlru.so's tracked reads and fills for c/track_test.go, which
 * plays the agent from Go (lru's ClaimAgent, InvalidateAll, SetInStep,
 * Invalidate) on the same region between the driver's commands.
 *
 *   track_driver REGION     say "ready", then one result line per command
 *
 * Commands (one per line; values in hex, "-" for empty):
 *   gen                     shmlru_tracked_gen: "rc gen"
 *   begin KEY               shmlru_fill_begin, the guard kept under KEY:
 *                           "rc gen slot count"
 *   store KEY VALUE ABSENT TTLMS
 *                           shmlru_fill_store with KEY's guard: "rc stored"
 *   get KEY                 shmlru_get: "rc VALUE flags type" ("rc" alone
 *                           unless SHMLRU_OK)
 *   tget KEY [BUFLEN]       shmlru_get_tracked into a buffer of BUFLEN
 *                           bytes (64 KiB): as get, but "rc len" on
 *                           SHMLRU_BUFFER_TOO_SMALL
 *   read KEY                the tracked read, shmlru_get_tracked: "hit
 *                           VALUE", "absent", "miss" or "notinstep"
 *   iread KEY               read, stopped once where the native path has
 *                           copied the entry and not yet checked that the
 *                           cache is in step (fast.c's HOOK_TRACKED_COPIED):
 *                           "at tracked-copied", then, after the next line
 *                           (any), read's answer
 *   oldread KEY             the tracked read as two calls, shmlru_get and
 *                           then shmlru_tracked_gen, stopped between them:
 *                           "at between", then, after the next line, read's
 *                           answer (shmlru.h says why no one should read so)
 *   look KEY                the read-through's tracked look,
 *                           shmlru_load_look: "fresh VALUE", "absent",
 *                           "miss" or "notinstep"
 *   fallbacks               the native calls left to Go so far
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "hexio.h"

void shmlru__test_stop(int point, void (*fn)(void)); /* fast.c's test hooks, not ABI */
long shmlru__test_fallbacks(void);
enum { HOOK_TRACKED_COPIED = 16 }; /* fast.c's */


/* The guards of fills begun, by key: a test begins a few at most. */
static struct {
	char key[256];
	shmlru_guard g;
} guards[64];
static int nguards;

static shmlru_guard *guard_of(const char *key)
{
	for (int i = 0; i < nguards; i++)
		if (strcmp(guards[i].key, key) == 0)
			return &guards[i].g;
	if (nguards == 64) {
		fprintf(stderr, "too many guards\n");
		exit(2);
	}
	snprintf(guards[nguards].key, sizeof guards[nguards].key, "%s", key);
	return &guards[nguards++].g;
}

static unsigned char buf[1 << 16], val[1 << 16];

/* stop says where a read stopped and waits for the test's next line. */
static void stop(const char *where)
{
	char line[64];
	printf("at %s\n", where);
	fflush(stdout);
	if (fgets(line, sizeof line, stdin) == NULL)
		exit(2);
}

/* stop_once is HOOK_TRACKED_COPIED's function: it stops the first time
 * only (a read that goes round again passes the point again). */
static void stop_once(void)
{
	shmlru__test_stop(0, NULL);
	stop("tracked-copied");
}

/* answer prints what a tracked read's outcome means to its caller. */
static void answer(int rc, size_t vn, const shmlru_meta *m)
{
	if (rc == SHMLRU_NOT_IN_STEP)
		printf("notinstep");
	else if (rc == SHMLRU_NOT_FOUND)
		printf("miss");
	else if (rc != SHMLRU_OK)
		printf("error %d", rc);
	else if (m->type == SHMLRU_TYPE_NONE)
		printf("absent");
	else {
		printf("hit ");
		hex(buf, vn);
	}
}

static void run(char *line)
{
	char op[16], key[256], v[2 * sizeof val + 1], a[32], b[32];
	int n = sscanf(line, "%15s %255s %131072s %31s %31s", op, key, v, a, b);
	if (n < 1)
		return;
	size_t kl = strlen(key), vn;
	shmlru_meta m;
	uint32_t gen = 0;
	int rc;
	if (strcmp(op, "gen") == 0) {
		rc = shmlru_tracked_gen(h, &gen);
		printf("%d %u", rc, gen);
	} else if (strcmp(op, "begin") == 0 && n >= 2) {
		shmlru_guard *g = guard_of(key);
		rc = shmlru_fill_begin(h, key, kl, g);
		printf("%d %u %u %u", rc, g->gen, g->slot, g->count);
	} else if (strcmp(op, "store") == 0 && n == 5) {
		int stored = -1;
		vn = unhex(v, val);
		rc = shmlru_fill_store(h, key, kl, val, vn, atoi(a), atoll(b), guard_of(key), &stored);
		printf("%d %d", rc, stored);
	} else if ((strcmp(op, "get") == 0 || strcmp(op, "tget") == 0) && n >= 2) {
		size_t len = sizeof buf;
		if (op[0] == 't' && n >= 3)
			len = (size_t)atoll(v);
		if (len > sizeof buf)
			len = sizeof buf;
		vn = 0;
		rc = op[0] == 't' ? shmlru_get_tracked(h, key, kl, buf, len, &vn, &m) : shmlru_get(h, key, kl, buf, len, &vn, &m);
		printf("%d", rc);
		if (rc == SHMLRU_OK) {
			printf(" ");
			hex(buf, vn);
			printf(" %u %u", m.flags, m.type);
		} else if (rc == SHMLRU_BUFFER_TOO_SMALL) {
			printf(" %zu", vn);
		}
	} else if ((strcmp(op, "read") == 0 || strcmp(op, "iread") == 0) && n >= 2) {
		if (op[0] == 'i')
			shmlru__test_stop(HOOK_TRACKED_COPIED, stop_once);
		rc = shmlru_get_tracked(h, key, kl, buf, sizeof buf, &vn, &m);
		shmlru__test_stop(0, NULL);
		answer(rc, vn, &m);
	} else if (strcmp(op, "look") == 0 && n >= 2) {
		shmlru_look lk;
		rc = shmlru_load_look(h, key, kl, 1, buf, sizeof buf, &vn, &m, &lk);
		if (rc == SHMLRU_NOT_IN_STEP)
			printf("notinstep");
		else if (rc != SHMLRU_OK)
			printf("error %d", rc);
		else if (lk.state == SHMLRU_LOOK_FRESH) {
			printf("fresh ");
			hex(buf, vn);
		} else if (lk.state == SHMLRU_LOOK_ABSENT)
			printf("absent");
		else if (lk.state == SHMLRU_LOOK_MISS)
			printf("miss");
		else
			printf("state %d", (int)lk.state);
	} else if (strcmp(op, "oldread") == 0 && n >= 2) {
		rc = shmlru_get(h, key, kl, buf, sizeof buf, &vn, &m);
		stop("between");
		int grc = shmlru_tracked_gen(h, &gen);
		if ((rc != SHMLRU_OK && rc != SHMLRU_NOT_FOUND) || grc != SHMLRU_OK)
			printf("error %d %d", rc, grc);
		else if (gen == 0)
			answer(SHMLRU_NOT_IN_STEP, 0, &m);
		else if (rc == SHMLRU_OK && m.flags == gen)
			answer(SHMLRU_OK, vn, &m);
		else
			answer(SHMLRU_NOT_FOUND, 0, &m);
	} else if (strcmp(op, "fallbacks") == 0) {
		printf("%ld", shmlru__test_fallbacks());
	} else {
		printf("unknown command %s", op);
	}
	printf("\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: track_driver REGION\n");
		return 2;
	}
	open_region(argv[1]);
	printf("ready\n");
	fflush(stdout);
	static char line[1 << 18];
	while (fgets(line, sizeof line, stdin))
		run(line);
	return shmlru_close(h) == SHMLRU_OK ? 0 : 1;
}
