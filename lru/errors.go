package lru

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these (or one
// of package shm's, for a file that is not a region), so callers test them
// with errors.Is.
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

	// ErrBadOptions: options out of range; the message says which.
	ErrBadOptions = errors.New("lru: invalid options")

	// ErrIncompatible: the region holds a cache of another layout version,
	// or of another geometry than Options.Exact asked for.
	ErrIncompatible = errors.New("lru: incompatible cache")

	// ErrCorrupt: the region's structures are inconsistent. The operation
	// that found it changed nothing else; the shard it found it in was
	// reset so that the cache goes on serving.
	ErrCorrupt = errors.New("lru: cache region is corrupt")

	// ErrClosed: the Cache was closed.
	ErrClosed = errors.New("lru: cache is closed")
)
