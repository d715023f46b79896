package main

import (
	"flag"
	"fmt"
)

var flushCmd = &command{
	name:    "flush",
	summary: "remove every entry, or with --expired only the expired ones",
	maxArgs: 0,
	desc: `Removes every entry of the cache, shard by shard (each shard at once, not
the whole cache at once). With --expired, removes only entries whose TTL has
passed, and prints how many. Counters are kept.`,
	example: `shmctl -r myapp flush --expired
shmctl -r myapp flush`,
	setup: func(fs *flag.FlagSet) runner {
		expired := fs.Bool("expired", false, "remove only expired entries")
		return func(e *env, _ []string) error {
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			if *expired {
				n, err := c.FlushExpired(0)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(e.stdout, "removed %d expired entries\n", n)
				return err
			}
			n, err := c.Len()
			if err != nil {
				return err
			}
			if err := c.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "flushed %s (it held about %d entries)\n", c.Path(), n)
			return err
		}
	},
}
