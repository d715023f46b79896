// Package lru is a hash-indexed LRU cache that many processes share through
// one memory-mapped region (see package shm).
//
// Open maps the region (creating it on first use); every process that opens
// the same path sees the same entries. Each key's hash picks a shard; each
// shard has its own cross-process lock, hash index, LRU queue, value
// storage and counters, laid out in the region by offsets (the layout is
// package internal/format). Every operation, Incr, Add, Replace and
// CompareAndSwap included, is atomic across all processes.
//
// Reads take no lock, and a hit marks the entry instead of moving it and
// counts itself in the reading process's own counters, so a hot key read by
// every process costs no cross-process traffic. The protocol every process
// follows on the region is written down once, in docs/protocol.md.
//
// Values carry a Type (bytes, number, boolean, list) and 32-bit user flags,
// as ngx.shared.DICT's do, so a number written from Go reads as a number from
// LuaJIT and back. A TTL of 0 means no expiry; expired entries are not
// returned by Get but stay readable through GetStale, and TTL says how long
// ago they expired, until they are removed.
//
// An entry (a 32-byte header, the key and the value) is stored contiguously
// in 16-byte units of its shard's heap. When a shard runs out of room (or
// entries), a write removes expired entries near the LRU tail, then live
// ones from the tail (giving an entry read since it was written a second
// chance at the head), only until the new entry fits: in one free
// run if there is one long enough, otherwise as a chain of pieces over the
// free space. So a value up to Geometry().MaxValue always fits once enough
// entries are evicted, fragmentation never fails a write, and a write
// evicts no more than it is missing plus the rest of the last entry it
// evicted.
//
// GetOrLoad reads through: on a miss, exactly one caller among every
// process that has the region open runs its Loader, while the others sleep
// on a word of the region until the value is written (the load table,
// flight.go; the steps of Cache.Loads, Begin, Wait, Write and End, serve
// callers in other languages). A loader whose process dies, or whose
// lease runs out, is taken over by a waiter; a loader taken over can no
// longer write.
//
// A process may die at any instruction, even holding a shard's lock halfway
// through a change. The next process to want that lock notices (see package
// shm), takes it over and resets the shard if the dead owner was mid-change.
// A panic while a shard is being changed (a caller's memory that faults, a
// corruption found) never releases the lock over a half-made change: the
// shard is reset first, so no process ever reads a torn value.
// A corrupt region yields ErrCorrupt, never a crash or a hang.
//
// The Cache's methods are what a Go program calls. Three handles reached
// from it serve the layers built on the cache: Cache.Loads, the steps of a
// read-through load for the C library and its Lua modules; Cache.Tracker,
// the entries kept in step with an outside store, for module near; and
// Cache.Binding, the region beneath the Go API, for libshmlru.so and
// shmctl, with the invalidation stripes that tell a process keeping copies
// of values (resty.shmlru.mlcache's L1) which of them a write made stale
// (docs/protocol.md, "Invalidation stripes").
//
// # Caveats
//
// The limits a user must know, each explained in the README:
//
//   - The queue order is kept within a shard, not across shards: a key's hash
//     fixes its shard. It is CLOCK rather than an exact LRU: writes move their
//     entry to the head, reads only mark it, and eviction moves a marked tail
//     entry to the head instead of evicting it (at most 64 times per write).
//     So an entry is evicted only when it reaches the tail with no read since
//     it was last written or spared.
//   - A region's geometry (size, shards, limits) is fixed when it
//     is created; later openers adopt it (Options.Exact refuses a difference).
//   - Keys are 1 to 65,535 bytes (less in very small shards: Geometry().MaxKey);
//     values at most Geometry().MaxValue.
//   - TTLs follow wall time in Unix milliseconds: a step of wall time moves
//     every deadline. A negative TTL is ErrBadTTL.
//   - A process that dies holding a shard's lock is noticed by the next process
//     that waits for it, within about 10 ms (shm.OwnerCheckInterval). If it died
//     mid-change, that shard is reset and its entries are lost; no other shard's
//     are. A process stopped with SIGSTOP is alive: its shard waits for it.
//   - Observers (Peek, Range, Keys, Len, FreeSpace, Stats, Check) never
//     repair. Peek and Range fail with ErrCorrupt on a shard a dead process left
//     half changed, until a write to it or Repair repairs it.
//   - A region file truncated or replaced underneath the mapping makes the Cache
//     answer ErrCorrupt until it is reopened; it never crashes the process.
//   - Memory the caller passes (a slice over its own mmap) that faults is
//     ErrFault; if the fault came mid-write, the shard is reset.
//   - A Cache belongs to the process that opened it: a process forked without
//     exec must open its own (the Go runtime does not survive fork, and the C
//     library refuses calls in a forked child).
//   - Range, Keys and FlushExpired hold one shard's lock while they walk it.
//   - Opening a region, even to inspect it, needs read and write access to its
//     file and a free process slot (shm.DefaultSlots).
//   - Open adopts an existing region file only if it is not a symbolic link,
//     is owned by the caller, root or a user in Options.TrustUIDs, and no one
//     beyond what Options.Mode shares can write it; otherwise ErrUntrusted,
//     whose message names the owner and mode. A Mode that lets anyone read
//     without writing (0640, 0644) is ErrBadOptions: such a reader could
//     stall every process by locking the file. To share between users, create
//     the region with Mode 0660 for a common group and name its owner in the
//     other users' TrustUIDs (README: "Sharing a region with other users").
//   - A region written on one architecture cannot be opened on another, nor by
//     a build of another layout version (ErrVersion).
package lru
