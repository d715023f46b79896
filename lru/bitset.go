package lru

// bitset is a set of unit indexes in process memory, for the walks of
// Check and repair: a bit per unit rather than a bool, so that walking a
// shard of a billion units costs 128 MiB, not a GiB.
type bitset []uint64

func newBitset(n int) bitset       { return make(bitset, (n+63)/64) }
func (b bitset) has(i uint32) bool { return b[i>>6]&(1<<(i&63)) != 0 }
func (b bitset) add(i uint32)      { b[i>>6] |= 1 << (i & 63) }
