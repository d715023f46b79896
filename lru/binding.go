package lru

import "github.com/shmlru/shmlru/shm"

// Binding is a cache as code beneath the Go API sees it: the C library
// libshmlru.so and its Lua modules, which work on the region directly
// (NativeView, Changes) or hand Go a buffer of their own (Pop), and tools
// that inspect the file (shmctl: Region, ShardOf). Go programs have no
// need of it. Cache.Binding returns it; it is valid for as long as the
// Cache.
type Binding struct{ c *Cache }

// Binding returns the cache's handle for bindings and tools (see Binding).
func (c *Cache) Binding() *Binding { return &c.bd }

// Region returns the region under the cache, for tools that inspect it.
func (b *Binding) Region() *shm.Region { return b.c.r }

// ShardOf returns the index of the shard that holds key (as Stats and
// Range number them).
func (b *Binding) ShardOf(key []byte) int { return b.c.shardFor(hashKey(key)).idx }

// Changes returns the change count of key's shard: it advances whenever an
// entry of that shard is written, deleted, given a new deadline, or flushed
// (see countChange, stripes.go). A process that read the count, then the key's
// value, may go on using its copy of the value for as long as Changes
// returns the same number: the key has not changed. Any change to the
// shard moves it; Stripe's count moves only with a change to a handful of
// keys, and is what resty.shmlru.mlcache keeps its per-worker L1 by. The
// number means nothing across keys of different shards.
func (b *Binding) Changes(key []byte) (n uint64, err error) {
	c := b.c
	if err := c.checkKey(key); err != nil {
		return 0, err
	}
	s := c.shardFor(hashKey(key))
	err = s.withLock(lockObserve, func() error {
		n = s.h.ChangeCount
		return nil
	})
	return n, err
}

// Pop is the general form of Cache.LPop (head) and Cache.RPop, for a
// caller that brings its own buffer. With fit, an item larger than dst's
// spare capacity is left in the list and ErrBufferTooSmall is returned
// with its size, so the caller can grow its buffer and retry.
func (b *Binding) Pop(dst, key []byte, head, fit bool) (v []byte, t Type, size int, err error) {
	return b.c.pop(dst, key, head, fit)
}
