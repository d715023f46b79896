package lru

import (
	"fmt"
	"time"
)

// Wall time (CLOCK_REALTIME): what TTLs and deadlines are measured in. The
// track table's in-step instant is on the track clock instead
// (trackclock.go), for the reasons given there.

// nowMillis is wall time now, in Unix milliseconds.
//
// Why wall time: it is the one time every process on a host agrees on.
// CLOCK_MONOTONIC and CLOCK_BOOTTIME are virtualised by time namespaces (two
// containers sharing a region could disagree), and neither survives a reboot
// of a region kept on disk. The price is that a step of wall time moves
// every deadline with it, as it does for ngx.shared.DICT.
func nowMillis() int64 { return time.Now().UnixMilli() }

// lazyNow reads wall time at most once per operation, and only when an
// entry with a deadline makes it matter: most caches set no TTLs, and the
// reading costs more than the rest of a hit.
type lazyNow int64

func (n *lazyNow) get() int64 {
	if *n == 0 {
		*n = lazyNow(nowMillis())
	}
	return int64(*n)
}

// deadline converts a TTL to an absolute expiry (0 = never). A negative
// TTL is an error: it means neither "never" nor "already expired" to every
// caller alike, and C, Lua and shmctl reject it too.
func deadline(ttl time.Duration) (int64, error) {
	switch {
	case ttl < 0:
		return 0, fmt.Errorf("%w: %v; use 0 for an entry that never expires, or Delete to remove one", ErrBadTTL, ttl)
	case ttl == 0:
		return 0, nil
	}
	ms := ttl.Milliseconds()
	if ms == 0 {
		ms = 1 // a positive TTL below a millisecond still expires
	}
	now := nowMillis()
	if ms > MaxExpires-now {
		return 0, fmt.Errorf("%w: %v reaches past the latest deadline an entry can hold (%s); use 0 for an entry that never expires", ErrBadTTL, ttl, time.UnixMilli(MaxExpires).UTC().Format("2006-01-02"))
	}
	return now + ms, nil
}
