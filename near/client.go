package near

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/redis/rueidis"
	"github.com/shmlru/shmlru/lru"
)

// Nil is Get's error for a key that has no value in Redis.
var Nil = errors.New("near: the key has no value in Redis")

// Client reads Redis through the host's shared near cache. It is safe for
// concurrent use.
type Client struct {
	o     Options
	cache *lru.Cache
	rdb   rueidis.Client
	agent *agent // nil with NoAgent
	load  lru.LoadOptions
}

// New opens the host's near cache (creating the region if needed) and
// connects to Redis. Unless NoAgent is set, the Client competes for the
// agent role in the background until Close.
func New(o Options) (*Client, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	cache, err := lru.Open(o.Cache, o.CacheOptions)
	if err != nil {
		return nil, fmt.Errorf("near: open the cache: %w", err)
	}
	rdb, err := rueidis.NewClient(o.Redis)
	if err != nil {
		cache.Close()
		return nil, fmt.Errorf("near: connect to Redis: %w", err)
	}
	c := &Client{o: o, cache: cache, rdb: rdb,
		load: lru.LoadOptions{TTL: o.MaxTTL, NegativeTTL: o.MaxTTL, Tracked: true}}
	if !o.NoAgent {
		c.agent = startAgent(cache, o)
	}
	return c, nil
}

// Get returns the value of key: from the region if it holds a copy that
// may be served, else from Redis, read once on the whole host however many
// callers miss the key at once, and kept for the next ones. Nil if the key
// has no value (an absence is cached too).
func (c *Client) Get(ctx context.Context, key string) ([]byte, error) {
	if !c.o.tracked(key) {
		return c.fetch(ctx, key)
	}
	// The key's bytes, not a copy: the cache only reads them, and a hit
	// then costs one allocation, the value's.
	k := unsafe.Slice(unsafe.StringData(key), len(key))
	if v, m, err := c.cache.Tracker().Get(nil, k); err == nil {
		if m.Type == lru.TypeNone {
			return nil, Nil
		}
		if v == nil {
			v = []byte{}
		}
		return v, nil
	}
	v, err := c.cache.GetOrLoad(ctx, k, c.loader, c.load)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, lru.ErrNotFound):
		return nil, Nil
	}
	var le *lru.LoadError
	if errors.As(err, &le) && le.Err != nil {
		return nil, le.Err // the error from Redis, as this caller ran the load
	}
	return nil, err
}

// loader is the read-through's loader: a GET.
func (c *Client) loader(ctx context.Context, key []byte) ([]byte, error) {
	v, err := c.fetch(ctx, string(key))
	if errors.Is(err, Nil) {
		return nil, lru.ErrNotFound
	}
	return v, err
}

func (c *Client) fetch(ctx context.Context, key string) ([]byte, error) {
	v, err := c.rdb.Do(ctx, c.rdb.B().Get().Key(key).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, Nil
	}
	if err != nil {
		return nil, fmt.Errorf("near: GET %q: %w", key, err)
	}
	return v, nil
}

// Set writes value at key in Redis (with ttl, 0 = none), then drops this
// host's copy; the other hosts' agents hear of it from Redis.
func (c *Client) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	var cmd rueidis.Completed
	if ttl > 0 {
		cmd = c.rdb.B().Set().Key(key).Value(rueidis.BinaryString(value)).Px(ttl).Build()
	} else {
		cmd = c.rdb.B().Set().Key(key).Value(rueidis.BinaryString(value)).Build()
	}
	err := c.rdb.Do(ctx, cmd).Error()
	// Invalidate even on error: the write may have reached Redis.
	if ierr := c.invalidate(key); err == nil {
		err = ierr
	}
	if err != nil {
		return fmt.Errorf("near: SET %q: %w", key, err)
	}
	return nil
}

// Del deletes keys in Redis, then drops this host's copies.
func (c *Client) Del(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	var err error
	if c.rdb.Mode() == rueidis.ClientModeCluster {
		// One DEL per key: keys of one command must share a slot.
		for _, k := range keys {
			if e := c.rdb.Do(ctx, c.rdb.B().Del().Key(k).Build()).Error(); e != nil && err == nil {
				err = e
			}
		}
	} else {
		err = c.rdb.Do(ctx, c.rdb.B().Del().Key(keys...).Build()).Error()
	}
	for _, k := range keys {
		if ierr := c.invalidate(k); err == nil {
			err = ierr
		}
	}
	if err != nil {
		return fmt.Errorf("near: DEL: %w", err)
	}
	return nil
}

func (c *Client) invalidate(key string) error {
	if !c.o.tracked(key) {
		return nil
	}
	return c.cache.Tracker().Invalidate([]byte(key))
}

// Cache returns the region, for stats and inspection.
func (c *Client) Cache() *lru.Cache { return c.cache }

// Redis returns the Redis client the Client reads and writes with.
func (c *Client) Redis() rueidis.Client { return c.rdb }

// IsAgent reports whether this Client holds the agent role now.
func (c *Client) IsAgent() bool { return c.agent != nil && c.agent.leading.Load() }

// Close stops the agent (giving the role up, so another process takes it
// at once) and releases the region and the Redis connections.
func (c *Client) Close() error {
	if c.agent != nil {
		c.agent.stop()
	}
	c.rdb.Close()
	return c.cache.Close()
}
