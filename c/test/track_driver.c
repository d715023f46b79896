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
 *   read KEY                the two-call tracked read of shmlru.h: "hit
 *                           VALUE", "absent", "miss" or "notinstep"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmlru.h"
#include "hexio.h"

static shmlru_t h;

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
	} else if (strcmp(op, "get") == 0 && n >= 2) {
		rc = shmlru_get(h, key, kl, buf, sizeof buf, &vn, &m);
		printf("%d", rc);
		if (rc == SHMLRU_OK) {
			printf(" ");
			hex(buf, vn);
			printf(" %u %u", m.flags, m.type);
		}
	} else if (strcmp(op, "read") == 0 && n >= 2) {
		/* The two-call pattern of shmlru.h, the generation read after
		 * the get. */
		rc = shmlru_get(h, key, kl, buf, sizeof buf, &vn, &m);
		int grc = shmlru_tracked_gen(h, &gen);
		if ((rc != SHMLRU_OK && rc != SHMLRU_NOT_FOUND) || grc != SHMLRU_OK)
			printf("error %d %d", rc, grc);
		else if (gen == 0)
			printf("notinstep");
		else if (rc == SHMLRU_OK && m.flags == gen && m.type == SHMLRU_TYPE_NONE)
			printf("absent");
		else if (rc == SHMLRU_OK && m.flags == gen) {
			printf("hit ");
			hex(buf, vn);
		} else
			printf("miss");
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
	shmlru_options o;
	memset(&o, 0, sizeof o);
	o.no_create = 1;
	char err[SHMLRU_ERRBUF_SIZE];
	int rc = shmlru_open(argv[1], strlen(argv[1]), &o, &h, err, sizeof err);
	if (rc != SHMLRU_OK) {
		fprintf(stderr, "open %s: %s\n", argv[1], err);
		return 2;
	}
	printf("ready\n");
	fflush(stdout);
	static char line[1 << 18];
	while (fgets(line, sizeof line, stdin))
		run(line);
	return shmlru_close(h) == SHMLRU_OK ? 0 : 1;
}
