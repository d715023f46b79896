/*
 * The probe of c/xxh64_test.go: hashes inputs with xxh64.h and tells where
 * each hash leads. It reads from stdin, all integers little-endian:
 *
 *   u32 n, then n pairs u32 shards, u32 shard_shift (as lru computes it)
 *   u32 m, then m u32 bucket counts
 *   records to the end: u64 len, u8 misalign (0-7), len bytes
 *
 * and prints "shift SHARDS SHIFT" with shmlru_shard_shift for each shard
 * count, then for each record one line: the hash in hex, the shard for each
 * shard count, the bucket for each bucket count. Each key is hashed at
 * misalign bytes past an 8-byte boundary, so that the loads meet every
 * alignment (the test builds this with UBSan, which traps misaligned loads
 * and shifts by 64).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xxh64.h"

static void get(void *p, size_t n)
{
	if (n > 0 && fread(p, 1, n, stdin) != n) {
		fprintf(stderr, "xxh64_probe: short input\n");
		exit(2);
	}
}

int main(void)
{
	uint32_t n, m, shards[16], shifts[16], buckets[16];
	get(&n, 4);
	if (n > 16)
		return 2;
	for (uint32_t i = 0; i < n; i++) {
		get(&shards[i], 4);
		get(&shifts[i], 4);
		printf("shift %u %u\n", shards[i], shmlru_shard_shift(shards[i]));
	}
	get(&m, 4);
	if (m > 16)
		return 2;
	get(buckets, 4 * (size_t)m);

	uint64_t len;
	while (fread(&len, 1, 8, stdin) == 8) {
		uint8_t misalign;
		get(&misalign, 1);
		/* malloc's memory is 8-byte aligned (at least); misalign is below 8. */
		unsigned char *buf = malloc(len + 8);
		if (buf == NULL)
			return 2;
		get(buf + misalign, len);
		uint64_t h = shmlru_xxh64(len ? buf + misalign : NULL, len);
		printf("%016llx", (unsigned long long)h);
		for (uint32_t i = 0; i < n; i++)
			printf(" %u", shmlru_shard_of(h, shards[i], shifts[i]));
		for (uint32_t i = 0; i < m; i++)
			printf(" %u", shmlru_bucket_of(h, buckets[i]));
		printf("\n");
		free(buf);
	}
	return ferror(stdin) ? 2 : 0;
}
