// Command shmlru-near runs a host's near-cache agent alone: it holds the
// tracking connection to Redis and keeps the host's shmlru region in step,
// for hosts where no Go process of package near runs (nginx workers read
// and fill the region through resty.shmlru.near). Several may run; one is
// the agent and the others stand by, taking over within -claim if it dies.
//
//	shmlru-near -cache /dev/shm/near -redis 127.0.0.1:6379 [-prefix user: ...] [-max-lag 500ms]
//
// It runs until SIGINT or SIGTERM, then gives the role up.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/redis/rueidis"
	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/near"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	var o near.Options
	var redis, prefixes list
	var size int64
	flag.StringVar(&o.Cache, "cache", "", "the region's path, or a name under /dev/shm (required)")
	flag.Var(&redis, "redis", "a Redis address host:port; repeat for several nodes of a cluster (required)")
	flag.Var(&prefixes, "prefix", "a key prefix to track (repeatable; none: every key)")
	flag.DurationVar(&o.MaxLag, "max-lag", near.DefaultMaxLag, "the staleness bound: a value Redis changed more than this long ago is never served")
	flag.DurationVar(&o.ClaimInterval, "claim", near.DefaultClaimInterval, "how often a standby tries to take the agent role")
	flag.Int64Var(&size, "size", 0, "the region's size in bytes, if this creates it (0: lru's default)")
	flag.StringVar(&o.Redis.Username, "user", "", "Redis ACL user")
	pass := flag.String("password-env", "", "name of an environment variable holding the Redis password")
	flag.Parse()
	if o.Cache == "" || len(redis) == 0 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: shmlru-near -cache PATH -redis HOST:PORT [-redis ...] [-prefix P ...] [-max-lag D]")
		os.Exit(2)
	}
	o.Redis = rueidis.ClientOption{InitAddress: redis, Username: o.Redis.Username}
	if *pass != "" {
		o.Redis.Password = os.Getenv(*pass)
	}
	o.Prefixes = prefixes
	o.CacheOptions = &lru.Options{Size: size}
	o.Logf = log.Printf
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := near.RunAgent(ctx, o); err != nil {
		log.Fatal(err)
	}
}
