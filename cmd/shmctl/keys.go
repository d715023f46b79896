package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shmlru/shmlru/lru"
)

var keysCmd = &command{
	name:    "keys",
	summary: "list keys in LRU order per shard, with type, size, TTL and flags",
	maxArgs: 0,
	desc: `Lists the keys of live entries shard by shard, in LRU queue order (most
recently written first) within each shard, with the value's type, size, time to
live and user flags.
It changes nothing: no LRU order, no counter.`,
	example: `shmctl -r myapp keys --prefix user: --limit 20
shmctl -r myapp keys --json | jq -r '.[].key'`,
	setup: func(fs *flag.FlagSet) runner {
		prefix := fs.String("prefix", "", "only keys starting with `P`")
		limit := fs.Int("limit", 0, "list at most `N` keys (0 = all)")
		expired := fs.Bool("expired", false, "include entries that have expired but not been removed yet")
		asJSON := jsonFlag(fs)
		return func(e *env, _ []string) error {
			if *limit < 0 {
				return usagef("--limit %d: must be 0 (all) or more", *limit)
			}
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			list, err := listKeys(c, []byte(*prefix), *limit, *expired)
			if err != nil {
				return err
			}
			if *asJSON {
				if list == nil {
					list = []keyJSON{}
				}
				return writeJSON(e.stdout, list)
			}
			t := newTable("SHARD", "KEY", "TYPE", ">SIZE", ">TTL", ">FLAGS")
			for _, k := range list {
				t.add(strconv.Itoa(k.Shard), displayKey([]byte(k.raw)), k.Type, humanBytes(int64(k.Size)),
					humanTTL(time.Duration(k.TTLMillis)*time.Millisecond, k.Expires), strconv.FormatUint(uint64(k.Flags), 10))
			}
			return t.write(e.stdout)
		}
	},
}

// keyJSON is one entry as keys lists it.
type keyJSON struct {
	Shard     int    `json:"shard"`
	Key       string `json:"key"`
	KeyBase64 string `json:"key_base64,omitempty"` // set when the key is not valid UTF-8
	Type      string `json:"type"`
	Size      int    `json:"size"`
	TTLMillis int64  `json:"ttl_ms"`  // 0: never expires; negative: expired
	Expires   int64  `json:"expires"` // Unix milliseconds, 0 = never
	Flags     uint32 `json:"flags"`
	Version   uint64 `json:"version"`
	raw       string
}

// listKeys collects the entries that match, in Range's order (shard by
// shard, most recently written first). Range holds a shard's lock while it
// calls back, so the callback only copies.
func listKeys(c *lru.Cache, prefix []byte, limit int, withExpired bool) ([]keyJSON, error) {
	var out []keyJSON
	now := time.Now()
	err := c.Range(func(key []byte, m lru.Meta, size int) bool {
		if !bytes.HasPrefix(key, prefix) {
			return true
		}
		k := keyJSON{
			Shard:   c.Binding().ShardOf(key),
			Key:     string(key),
			Type:    m.Type.String(),
			Size:    size,
			Expires: m.Expires,
			Flags:   m.Flags,
			Version: m.Version,
			raw:     string(key),
		}
		if m.Expires != 0 {
			k.TTLMillis = m.TTL(now).Milliseconds()
			if k.TTLMillis == 0 {
				k.TTLMillis = -1 // expired this millisecond: not "never"
			}
		}
		if !utf8.ValidString(k.Key) {
			k.KeyBase64 = base64.StdEncoding.EncodeToString(key)
		}
		out = append(out, k)
		return limit == 0 || len(out) < limit
	}, withExpired)
	return out, err
}
