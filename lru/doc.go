// Package lru is a hash-indexed LRU cache that many processes share through
// one memory-mapped region (see package shm).
//
// Open maps the region (creating it on first use); every process that opens
// the same path sees the same entries. Each key's hash picks a shard; each
// shard has its own cross-process lock, hash index, exact LRU queue, value
// storage and counters, laid out in the region by offsets (see layout.go).
// Every operation, Incr, Add, Replace and CompareAndSwap included, is atomic
// across all processes.
//
// Values carry a Type (bytes, number, boolean, list) and 32-bit user flags,
// as ngx.shared.DICT's do, so a number written from Go reads as a number from
// LuaJIT and back. A TTL of 0 means no expiry; expired entries are not
// returned by Get but stay readable through GetStale until they are removed.
//
// When a shard runs out of blocks (or entries), a write removes expired
// entries near the LRU tail, then the least recently used live ones, until
// the new entry fits. Values are stored in chains of fixed-size blocks, so a
// value up to Geometry().MaxValue always fits once enough entries are evicted.
//
// A process may die at any instruction, even holding a shard's lock halfway
// through a change. The next process to want that lock notices (see package
// shm), takes it over and resets the shard if the dead owner was mid-change.
// A corrupt region yields ErrCorrupt, never a crash or a hang.
package lru
