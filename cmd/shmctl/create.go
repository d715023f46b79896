package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

var createCmd = &command{
	name:    "create",
	summary: "create a new region with the given geometry",
	maxArgs: 0,
	desc: `Creates the region named by -r with the given geometry and reserves its
memory, so that a full /dev/shm fails now and not later. It fails if the
region exists already (remove it first with 'shmctl rm'). Flags left at 0 take
the library's defaults.`,
	example: `shmctl -r myapp create --size 256M --shards 16 --mode 0660
shmctl -r /dev/shm/sessions create --size 1G --max-value 1M`,
	setup: func(fs *flag.FlagSet) runner {
		size := fs.String("size", "64M", "region `SIZE` in bytes, or with K, M, G (binary units)")
		shards := fs.Int("shards", 0, "number of shards, a power of two (0 = one per MiB up to 16, then one per 16 MiB up to 64)")
		maxEntries := fs.Int("max-entries", 0, "most entries (0 = as many as fit)")
		maxValue := fs.String("max-value", "0", "largest value `SIZE` (0 = a quarter of a shard)")
		mode := fs.String("mode", "0600", "file permission `MODE` in octal; 0660 shares with the file's group")
		return func(e *env, _ []string) error {
			if e.region == "" {
				return usagef("no region given: pass -r PATH|NAME or set $%s", regionEnv)
			}
			o := &lru.Options{Shards: *shards, MaxEntries: *maxEntries, TrustUIDs: e.trust}
			var err error
			if o.Size, err = parseSize(*size); err != nil {
				return usagef("--size: %v", err)
			}
			mv, err := parseSize(*maxValue)
			if err != nil {
				return usagef("--max-value: %v", err)
			}
			o.MaxValueSize = int(mv)
			m, err := strconv.ParseUint(*mode, 8, 32)
			if err != nil || m&^0o777 != 0 {
				return usagef("--mode %q: use an octal permission such as 0600 or 0660", *mode)
			}
			o.Mode = os.FileMode(m)
			path := shm.Path(e.region)
			if _, err := os.Lstat(path); err == nil {
				return fmt.Errorf("%s already exists (inspect it with 'shmctl inspect', or remove it with 'shmctl rm' first)", path)
			} else if !errors.Is(err, os.ErrNotExist) {
				return err
			}
			c, err := lru.Open(path, o)
			if err != nil {
				return err
			}
			defer c.Close()
			if !c.Created() {
				return fmt.Errorf("%s was created by another process at the same moment; it was left as that process made it", path)
			}
			g := c.Geometry()
			_, err = fmt.Fprintf(e.stdout, "created %s: %s, %d shards x %s of entry storage, max %d entries, max value %s, mode %04o\n",
				path, humanBytes(g.Size), g.Shards, humanBytes(int64(g.HeapPerShard)), g.MaxEntries, humanBytes(int64(g.MaxValue)), m)
			return err
		}
	},
}
