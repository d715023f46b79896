// Command shmlru-near runs a host's near-cache agent alone: it holds the
// tracking connection to Redis and keeps the host's shmlru region in step,
// for hosts where no Go process of package near runs (nginx workers read
// and fill the region through resty.shmlru.near). Several may run; one is
// the agent and the others stand by, taking over within -claim if it dies.
//
//	shmlru-near -cache /dev/shm/near -redis 127.0.0.1:6379 [-prefix user: ...] [-max-lag 500ms]
//	            [-mode 0660] [-trust-uid USER,...] [-trust-gid GROUP,...]
//
// It opens the region under the library's trust rule (README: "Sharing a
// region with other users"): -mode is the region's permission if this
// creates it, and whom an existing region may be shared with (0660: its
// group); -trust-uid names owners to trust besides the caller and root,
// -trust-gid groups besides the caller's own that may write it with 0660.
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
	"os/user"
	"strconv"
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

// idList is the value of -trust-uid or -trust-gid: ids, or names that
// lookup resolves to one, given once each or separated by commas (as
// shmctl's --trust-uid).
type idList struct {
	ids    []int
	what   string // "uid" or "gid"
	lookup func(name string) (string, error)
}

func (l *idList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(l.ids))
	for i, id := range l.ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, ",")
}

func (l *idList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		id, err := strconv.Atoi(name)
		if err != nil {
			s, lerr := l.lookup(name)
			if lerr != nil {
				return fmt.Errorf("%q is neither a %s nor a name of one", name, l.what)
			}
			id, err = strconv.Atoi(s)
		}
		if err != nil || id < 0 {
			return fmt.Errorf("%q is not a %s", name, l.what)
		}
		l.ids = append(l.ids, id)
	}
	return nil
}

func lookupUser(name string) (string, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return "", err
	}
	return u.Uid, nil
}

func lookupGroup(name string) (string, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return "", err
	}
	return g.Gid, nil
}

// mode is the value of -mode: a permission in octal.
type mode os.FileMode

func (m *mode) String() string { return fmt.Sprintf("%04o", uint32(*m)) }

func (m *mode) Set(v string) error {
	n, err := strconv.ParseUint(v, 8, 32)
	if err != nil || n&^0o777 != 0 {
		return fmt.Errorf("%q: use an octal permission such as 0600 or 0660", v)
	}
	*m = mode(n)
	return nil
}

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
	perm := mode(0o600)
	flag.Var(&perm, "mode", "the region's permission `MODE` in octal if this creates it, and whom an existing region may share with: 0600, 0660 (its group) or 0666")
	trustUIDs := idList{what: "uid", lookup: lookupUser}
	flag.Var(&trustUIDs, "trust-uid", "also open a region this `USER` (a uid or name) owns; repeat it, or separate users with commas")
	trustGIDs := idList{what: "gid", lookup: lookupGroup}
	flag.Var(&trustGIDs, "trust-gid", "with -mode 0660, also open a region this `GROUP` (a gid or name) may write, when it is not one of yours; repeat it, or separate groups with commas")
	flag.Parse()
	if o.Cache == "" || len(redis) == 0 || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: shmlru-near -cache PATH -redis HOST:PORT [-redis ...] [-prefix P ...] [-max-lag D] [-mode 0660] [-trust-uid USER,...] [-trust-gid GROUP,...]")
		os.Exit(2)
	}
	o.Redis = rueidis.ClientOption{InitAddress: redis, Username: o.Redis.Username}
	if *pass != "" {
		o.Redis.Password = os.Getenv(*pass)
	}
	o.Prefixes = prefixes
	o.CacheOptions = &lru.Options{Size: size, Mode: os.FileMode(perm), TrustUIDs: trustUIDs.ids, TrustGIDs: trustGIDs.ids}
	o.Logf = log.Printf
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := near.RunAgent(ctx, o); err != nil {
		log.Fatal(err)
	}
}
