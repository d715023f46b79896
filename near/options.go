package near

import (
	"fmt"
	"strings"
	"time"

	"github.com/redis/rueidis"
	"github.com/shmlru/shmlru/lru"
)

// Defaults of Options.
const (
	DefaultMaxTTL        = time.Minute
	DefaultMaxLag        = 500 * time.Millisecond
	DefaultClaimInterval = 20 * time.Millisecond
	// AgentClientName is the CLIENT SETNAME of the agent's tracking
	// connections, so that operators see them in CLIENT LIST.
	AgentClientName = "shmlru-near-agent"
)

// Options configure a Client (and RunAgent).
type Options struct {
	// Redis says how to reach Redis: InitAddress (one node of a cluster
	// is enough), credentials, TLS. DisableCache is forced on: the region
	// is the cache.
	Redis rueidis.ClientOption
	// Cache is the region's path, or a name under /dev/shm; every process
	// of the host that shares the near cache gives the same one.
	Cache string
	// CacheOptions are for creating the region (nil: lru's defaults).
	CacheOptions *lru.Options
	// Prefixes are the key prefixes cached and tracked (CLIENT TRACKING
	// BCAST PREFIX ...). Empty: every key, and Redis sends the agent an
	// invalidation for every write. Keys outside them are read from Redis
	// every time. Every process of the host must give the same ones.
	Prefixes []string
	// MaxTTL is the longest a value stays cached, whatever else happens
	// (0: DefaultMaxTTL).
	MaxTTL time.Duration
	// MaxLag is the staleness bound: a value Redis changed more than
	// MaxLag ago is never served (0: DefaultMaxLag). The agent pings every
	// MaxLag/4; a smaller bound costs more pings.
	MaxLag time.Duration
	// NoAgent keeps this process out of the agent role: it only reads,
	// fills and writes. Some process of the host must be the agent, or
	// every Get reads Redis.
	NoAgent bool
	// ClaimInterval is how often a process that is not the agent tries to
	// take the role (0: DefaultClaimInterval). It bounds how long the
	// host has no agent after the agent dies.
	ClaimInterval time.Duration
	// Logf, if set, receives the agent's events (role taken, connection
	// lost, cache dropped).
	Logf func(format string, args ...any)
}

func (o *Options) fill() error {
	if o.Cache == "" {
		return fmt.Errorf("near: Options.Cache is empty; give the region's path or name, the same in every process of the host")
	}
	if len(o.Redis.InitAddress) == 0 {
		return fmt.Errorf("near: Options.Redis.InitAddress is empty; give at least one Redis address (host:port)")
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{{"MaxTTL", &o.MaxTTL, DefaultMaxTTL}, {"MaxLag", &o.MaxLag, DefaultMaxLag}, {"ClaimInterval", &o.ClaimInterval, DefaultClaimInterval}} {
		if *d.v < 0 {
			return fmt.Errorf("near: Options.%s %v is negative; use 0 for the default (%v)", d.name, *d.v, d.def)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.MaxLag < 4*time.Millisecond {
		return fmt.Errorf("near: Options.MaxLag %v is below 4ms; the agent could not confirm its stream in time", o.MaxLag)
	}
	o.Redis.DisableCache = true
	return nil
}

// tracked reports whether key is under one of the prefixes.
func (o *Options) tracked(key string) bool {
	if len(o.Prefixes) == 0 {
		return true
	}
	for _, p := range o.Prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

func (o *Options) logf(format string, args ...any) {
	if o.Logf != nil {
		o.Logf(format, args...)
	}
}
