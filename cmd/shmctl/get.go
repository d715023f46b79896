package main

import (
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/shmlru/shmlru/lru"
)

var getCmd = &command{
	name:    "get",
	summary: "print one key's value (without touching its LRU position)",
	args:    "KEY",
	minArgs: 1,
	maxArgs: 1,
	desc: `Prints the value stored at KEY: the bytes of a bytes value, a number, true
or false, or a list's items one per line. With --json, an object with the
value and its type, flags, ttl_ms, version and stale.
It changes nothing: the entry keeps its LRU position and no counter moves
(a miss is not counted either). Exit status 1 when there is no live entry.`,
	example: `shmctl -r myapp get user:42
shmctl -r myapp get --json --stale session:abc`,
	setup: func(fs *flag.FlagSet) runner {
		stale := fs.Bool("stale", false, "also show an entry that has expired but not been removed yet")
		raw := fs.Bool("raw", false, "print a bytes value exactly, without the trailing newline")
		quoted := quotedFlag(fs)
		asJSON := jsonFlag(fs)
		return func(e *env, args []string) error {
			key, err := keyArg(args[0], *quoted)
			if err != nil {
				return err
			}
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			v, m, isStale, err := c.Peek(nil, key)
			if errors.Is(err, lru.ErrNotFound) {
				return notFound(key)
			}
			if err != nil {
				return err
			}
			if isStale && !*stale {
				return fmt.Errorf("%s: not found (it expired %s ago and is not removed yet; --stale shows it)",
					displayKey(key), humanDuration(-m.TTL(time.Now())))
			}
			if *asJSON {
				return writeJSON(e.stdout, valueJSON(string(key), v, m, isStale))
			}
			return writeValue(e.stdout, v, m.Type, *raw)
		}
	},
}

// getDoc is get's JSON output.
type getDoc struct {
	Key         string `json:"key"`
	Type        string `json:"type"`
	Value       any    `json:"value"`
	ValueBase64 string `json:"value_base64,omitempty"` // a bytes value that is not valid UTF-8
	Flags       uint32 `json:"flags"`
	TTLMillis   int64  `json:"ttl_ms"`  // 0: never expires; negative: expired
	Expires     int64  `json:"expires"` // Unix milliseconds, 0 = never
	Version     uint64 `json:"version"`
	Stale       bool   `json:"stale"`
}

func valueJSON(key string, v []byte, m lru.Meta, stale bool) getDoc {
	d := getDoc{Key: key, Type: m.Type.String(), Flags: m.Flags, Expires: m.Expires, Version: m.Version, Stale: stale}
	if m.Expires != 0 {
		d.TTLMillis = m.TTL(time.Now()).Milliseconds()
		if d.TTLMillis == 0 {
			d.TTLMillis = -1
		}
	}
	switch m.Type {
	case lru.TypeNumber:
		if f, ok := lru.DecodeNumber(v); ok && !math.IsInf(f, 0) && !math.IsNaN(f) {
			d.Value = f
		} else {
			d.Value = formatNumber(v)
		}
	case lru.TypeBool:
		b, _ := lru.DecodeBool(v)
		d.Value = b
	case lru.TypeList:
		items := []any{}
		for _, it := range listItems(v) {
			if it.Type == lru.TypeNumber {
				f, _ := lru.DecodeNumber(it.Value)
				items = append(items, f)
			} else {
				items = append(items, string(it.Value))
			}
		}
		d.Value = items
	default:
		d.Value = string(v)
		if !utf8.Valid(v) {
			d.Value, d.ValueBase64 = nil, base64.StdEncoding.EncodeToString(v)
		}
	}
	return d
}

// writeValue prints a value for people (and shell scripts).
func writeValue(w io.Writer, v []byte, t lru.Type, raw bool) error {
	var err error
	switch t {
	case lru.TypeNumber:
		_, err = fmt.Fprintln(w, formatNumber(v))
	case lru.TypeBool:
		b, _ := lru.DecodeBool(v)
		_, err = fmt.Fprintln(w, b)
	case lru.TypeList:
		for _, it := range listItems(v) {
			s := string(it.Value)
			if it.Type == lru.TypeNumber {
				s = formatNumber(it.Value)
			}
			if _, err = fmt.Fprintln(w, s); err != nil {
				break
			}
		}
	default:
		if _, err = w.Write(v); err == nil && !raw {
			_, err = io.WriteString(w, "\n")
		}
	}
	return err
}

// formatNumber prints a stored number: integers in full (as Lua prints
// them), others in %g's shortest form.
func formatNumber(v []byte) string {
	f, ok := lru.DecodeNumber(v)
	if !ok {
		return "(malformed number)"
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// listItems splits a list value into its items; a malformed list (which lru
// never stores) shows as no items.
func listItems(v []byte) []lru.ListItem {
	items, _ := lru.DecodeList(v)
	return items
}
