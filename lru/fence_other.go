//go:build !amd64

package lru

import "sync/atomic"

// loadFence orders the loads before it before the loads after it. Weaker
// memory models (arm64) may let a later load pass an earlier one; an atomic
// read-modify-write of a word of this process's own has both acquire and
// release semantics, which keeps the loads on either side of it in order.
func loadFence(w *uint32) { atomic.AddUint32(w, 1) }
