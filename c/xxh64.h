/*
 * XXH64 with seed 0, the hash lru gives every key (xxhash.Sum64 of
 * github.com/cespare/xxhash/v2), and the shard and bucket a hash selects.
 * Written from the xxHash specification (doc/xxhash_spec.md of the xxHash
 * project, "XXH64 algorithm description"); c/xxh64_test.go compares it with
 * the Go package on every length from 0 to 300 and thousands of random
 * inputs up to 1 MiB.
 *
 * Header-only, static inline: the native read path hashes every key, and
 * inlined the short-key case is a few dozen instructions with no call; the
 * functions stay out of the library's exported symbols (a function in a .c
 * file of this cgo package would be exported unless marked hidden); and a
 * test probe includes the header alone, with no library to link.
 *
 * Little-endian only. The specification reads lanes as little-endian
 * integers; these loads are native (memcpy, so that any alignment is
 * correct C), which is the specification only on a little-endian CPU. The
 * project runs on x86_64 and arm64, both little-endian; elsewhere this
 * refuses to compile rather than hash differently from Go.
 */
#ifndef SHMLRU_XXH64_H
#define SHMLRU_XXH64_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "xxh64.h loads lanes in native byte order, which is XXH64's little-endian order only on a little-endian CPU"
#endif

#define SHMLRU_XXH_P1 UINT64_C(0x9E3779B185EBCA87)
#define SHMLRU_XXH_P2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define SHMLRU_XXH_P3 UINT64_C(0x165667B19E3779F9)
#define SHMLRU_XXH_P4 UINT64_C(0x85EBCA77C2B2AE63)
#define SHMLRU_XXH_P5 UINT64_C(0x27D4EB2F165667C5)

/* r is a constant from 1 to 63 at every call: no shift by 64. */
static inline uint64_t shmlru_xxh_rotl(uint64_t x, unsigned r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t shmlru_xxh_load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

static inline uint64_t shmlru_xxh_load32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof v);
	return v;
}

/* The specification's round: one lane into one accumulator. */
static inline uint64_t shmlru_xxh_round(uint64_t acc, uint64_t lane)
{
	acc += lane * SHMLRU_XXH_P2;
	acc = shmlru_xxh_rotl(acc, 31);
	return acc * SHMLRU_XXH_P1;
}

/* The specification's mergeAccumulator. */
static inline uint64_t shmlru_xxh_merge(uint64_t acc, uint64_t v)
{
	acc ^= shmlru_xxh_round(0, v);
	return acc * SHMLRU_XXH_P1 + SHMLRU_XXH_P4;
}

/* shmlru_xxh64 returns XXH64(data[0..len), seed 0). data may be NULL when len is 0. */
static inline uint64_t shmlru_xxh64(const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t i = 0; /* an index, not an end pointer: NULL + 0 is not valid C */
	uint64_t acc;

	if (len >= 32) {
		/* Seed 0: the four accumulators start at P1+P2, P2, 0 and -P1 (mod 2^64). */
		uint64_t v1 = SHMLRU_XXH_P1 + SHMLRU_XXH_P2, v2 = SHMLRU_XXH_P2, v3 = 0, v4 = 0 - SHMLRU_XXH_P1;
		for (; len - i >= 32; i += 32) {
			v1 = shmlru_xxh_round(v1, shmlru_xxh_load64(p + i));
			v2 = shmlru_xxh_round(v2, shmlru_xxh_load64(p + i + 8));
			v3 = shmlru_xxh_round(v3, shmlru_xxh_load64(p + i + 16));
			v4 = shmlru_xxh_round(v4, shmlru_xxh_load64(p + i + 24));
		}
		acc = shmlru_xxh_rotl(v1, 1) + shmlru_xxh_rotl(v2, 7) + shmlru_xxh_rotl(v3, 12) + shmlru_xxh_rotl(v4, 18);
		acc = shmlru_xxh_merge(acc, v1);
		acc = shmlru_xxh_merge(acc, v2);
		acc = shmlru_xxh_merge(acc, v3);
		acc = shmlru_xxh_merge(acc, v4);
	} else {
		acc = SHMLRU_XXH_P5;
	}
	acc += (uint64_t)len;

	/* The last 0 to 31 bytes: 8 at a time, then 4 once, then 1 at a time. */
	for (; len - i >= 8; i += 8) {
		acc ^= shmlru_xxh_round(0, shmlru_xxh_load64(p + i));
		acc = shmlru_xxh_rotl(acc, 27) * SHMLRU_XXH_P1 + SHMLRU_XXH_P4;
	}
	if (len - i >= 4) {
		acc ^= shmlru_xxh_load32(p + i) * SHMLRU_XXH_P1;
		acc = shmlru_xxh_rotl(acc, 23) * SHMLRU_XXH_P2 + SHMLRU_XXH_P3;
		i += 4;
	}
	for (; i < len; i++) {
		acc ^= p[i] * SHMLRU_XXH_P5;
		acc = shmlru_xxh_rotl(acc, 11) * SHMLRU_XXH_P1;
	}

	/* Avalanche. */
	acc ^= acc >> 33;
	acc *= SHMLRU_XXH_P2;
	acc ^= acc >> 29;
	acc *= SHMLRU_XXH_P3;
	acc ^= acc >> 32;
	return acc;
}

/*
 * Where a hash leads, as lru picks them (lru/cache.go shardFor, lru/buckets.go):
 * the shard by the hash's top log2(shards) bits, so that the low bits, which
 * pick the bucket, stay independent of the shard.
 */

/*
 * shmlru_shard_shift is lru's shardShift for a cache of shards shards (a
 * power of two from 1 to SHMLRU_L_MAX_SHARDS): 64 - log2(shards), which is
 * 64 for one shard.
 */
static inline unsigned shmlru_shard_shift(uint32_t shards) { return 64u - (unsigned)__builtin_ctz(shards); }

/*
 * shmlru_shard_of is the index of the shard of hash h, in a cache of
 * shards shards (a power of two) whose shard_shift is shmlru_shard_shift's.
 * One shard has a shift of 64: Go's h >> 64 is 0, but in C a shift by the
 * width of the type is undefined (x86 would shift by 0, and the compiler
 * may assume it never happens), so that case is answered without shifting.
 */
static inline uint32_t shmlru_shard_of(uint64_t h, uint32_t shards, unsigned shard_shift)
{
	if (shard_shift >= 64)
		return 0;
	return (uint32_t)(h >> shard_shift) & (shards - 1);
}

/* shmlru_bucket_of is the index of hash h's bucket in a shard of nbuckets buckets (a power of two). */
static inline uint32_t shmlru_bucket_of(uint64_t h, uint32_t nbuckets) { return (uint32_t)h & (nbuckets - 1); }

#endif /* SHMLRU_XXH64_H */
