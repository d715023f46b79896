package main

import (
	"flag"
	"math"
	"strconv"
	"strings"

	"github.com/shmlru/shmlru/lru"
)

var setCmd = &command{
	name:    "set",
	summary: "store a value at a key",
	args:    "KEY VALUE",
	minArgs: 2,
	maxArgs: 2,
	desc: `Stores VALUE at KEY, replacing any entry, as a Go or Lua client's set does:
evicting from the tail of the key's shard's queue if it needs room (an entry
read since it was written is spared once).
--type number stores VALUE parsed as a float64 (a number in Lua too);
--type bool stores true or false. A VALUE that starts with "-" goes after "--".`,
	example: `shmctl -r myapp set greeting hello --ttl 10m
shmctl -r myapp set --type number --flags 3 -- limit -5`,
	setup: func(fs *flag.FlagSet) runner {
		ttl := fs.String("ttl", "0", "expire after `D` (e.g. 30s, 5m, 1h30m; 0 = never)")
		flags := fs.Uint64("flags", 0, "user flags `N` (0 to 4294967295) returned with the value")
		typ := fs.String("type", "bytes", "value `TYPE`: bytes, number or bool")
		quoted := quotedFlag(fs)
		return func(e *env, args []string) error {
			key, err := keyArg(args[0], *quoted)
			if err != nil {
				return err
			}
			d, err := parseTTL(*ttl)
			if err != nil {
				return err
			}
			if *flags > math.MaxUint32 {
				return usagef("--flags %d: user flags are 32 bits (0 to %d)", *flags, uint32(math.MaxUint32))
			}
			t, v, err := parseValue(*typ, args[1])
			if err != nil {
				return err
			}
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.Write(key, v, lru.WriteOptions{TTL: d, Flags: uint32(*flags), Type: t})
			return err
		}
	},
}

// parseValue converts VALUE to the stored form of its --type.
func parseValue(typ, s string) (lru.Type, []byte, error) {
	switch typ {
	case "bytes", "string":
		return lru.TypeBytes, []byte(s), nil
	case "number":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return 0, nil, usagef("%q is not a number", s)
		}
		return lru.TypeNumber, lru.EncodeNumber(f), nil
	case "bool":
		switch strings.ToLower(s) {
		case "true":
			return lru.TypeBool, lru.EncodeBool(true), nil
		case "false":
			return lru.TypeBool, lru.EncodeBool(false), nil
		}
		return 0, nil, usagef("%q is not a bool: use true or false", s)
	}
	return 0, nil, usagef("--type %q: use bytes, number or bool", typ)
}
