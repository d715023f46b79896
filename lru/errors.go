package lru

import (
	"errors"

	"github.com/shmlru/shmlru/shm"
)

// Sentinel errors. Every error returned by this package wraps one of these
// (or an *os.PathError from the operating system), so callers test them with
// errors.Is.
var (
	// ErrNotFound: no live entry for the key (absent, or expired).
	ErrNotFound = errors.New("lru: not found")

	// ErrExists: Add found a live entry for the key.
	ErrExists = errors.New("lru: exists")

	// ErrEmptyKey: keys must be at least one byte long.
	ErrEmptyKey = errors.New("lru: empty key")

	// ErrKeyTooLarge: the key is longer than the cache's key limit
	// (Geometry().MaxKey).
	ErrKeyTooLarge = errors.New("lru: key too large")

	// ErrValueTooLarge: the value is longer than the cache's value limit
	// (Geometry().MaxValue).
	ErrValueTooLarge = errors.New("lru: value too large")

	// ErrNoMemory: a write that may not evict live entries (NoEvict, as
	// ngx.shared.DICT's safe_set) found no room.
	ErrNoMemory = errors.New("lru: no memory")

	// ErrNotNumber: Incr on an entry whose value is not a number.
	ErrNotNumber = errors.New("lru: not a number")

	// ErrNotList: a list operation on an entry that is not a list.
	ErrNotList = errors.New("lru: value not a list")

	// ErrVersionMismatch: CompareAndSwap's version is not the entry's.
	ErrVersionMismatch = errors.New("lru: version mismatch")

	// ErrBadValue: a value that does not match its type (a number that is
	// not 8 bytes, a boolean that is not 1 byte, a malformed list).
	ErrBadValue = errors.New("lru: value does not match its type")

	// ErrBufferTooSmall: a read with ReadOptions.Fit (or a fitting pop)
	// found a value larger than the room given; nothing was changed.
	ErrBufferTooSmall = errors.New("lru: buffer too small")

	// ErrFault: a key, value or buffer passed to the cache lies over memory
	// that faulted when the cache read or wrote it (a C pointer with a wrong
	// length, a slice over an mmap that was truncated). Nothing was stored;
	// if the fault came halfway through a write, the shard was reset so
	// that no process ever reads a torn value.
	ErrFault = errors.New("lru: memory passed to the cache faulted")

	// ErrBadTTL: a negative TTL. Use 0 for an entry that never expires.
	ErrBadTTL = errors.New("lru: negative TTL")
)

// The errors about the region itself are package shm's, under the same
// names, so that errors.Is gives one answer whichever package a caller
// names (shm.ErrClosed and lru.ErrClosed are one value).
var (
	// ErrBadOptions: options out of range; the message says which.
	ErrBadOptions = shm.ErrBadOptions

	// ErrGeometry: Options.Exact asked for a geometry (size, shards,
	// limits) other than the existing cache's.
	ErrGeometry = shm.ErrGeometry

	// ErrVersion: the region (or the cache inside it) was written by
	// another layout version of shmlru. Nothing in it was changed.
	ErrVersion = shm.ErrVersion

	// ErrNotRegion: the file is not a shmlru region (a directory, a foreign
	// or short file). Nothing in it was changed.
	ErrNotRegion = shm.ErrNotRegion

	// ErrUntrusted: the file at the region's path is a symbolic link, or
	// is owned or writable by someone the caller does not trust
	// (Options.Mode, TrustUIDs, TrustGIDs); the message names the owner
	// and mode and says how to share a region on purpose. Nothing in the
	// file was changed.
	ErrUntrusted = shm.ErrUntrusted

	// ErrBusy: the region is not ready, and another process held its
	// creation lock for longer than Open waits (shm.CreateWait); the
	// message names it when the system tells.
	ErrBusy = shm.ErrBusy

	// ErrNoSpace: the file system could not reserve the region's size.
	ErrNoSpace = shm.ErrNoSpace

	// ErrNoSlot: every process slot of the region is held by a live
	// process.
	ErrNoSlot = shm.ErrNoSlot

	// ErrCorrupt: the region's structures are inconsistent, or its file
	// shrank underneath the mapping; the message says which and what was
	// done. An operation that changes a shard and finds it inconsistent
	// resets that shard so that the cache goes on serving; observers (Peek,
	// Range, Stats, Check) leave it for a repair (Cache.Repair). After a
	// shrink every operation returns ErrCorrupt until the cache is reopened.
	ErrCorrupt = shm.ErrCorrupt

	// ErrClosed: the Cache was closed.
	ErrClosed = shm.ErrClosed
)
