package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shmlru/shmlru/lru"
)

// Human-readable sizes, durations and keys for shmctl's text output, and
// the parsers for the sizes and durations operators type.

// sizeUnits are the binary (IEC) units humanBytes prints and parseSize reads.
var sizeUnits = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}

// humanBytes formats n bytes with a binary unit: "512 B", "1.5 KiB",
// "64 MiB". Whole numbers of a unit are printed without decimals.
func humanBytes(n int64) string {
	if n < 0 {
		return "-" + humanBytes(-n)
	}
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	u := 0
	for f >= 1024 && u < len(sizeUnits)-1 {
		f /= 1024
		u++
	}
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f %s", f, sizeUnits[u])
	}
	return fmt.Sprintf("%.1f %s", f, sizeUnits[u])
}

// parseSize reads a size such as "4096", "64M", "64MiB", "1.5G" or "512k".
// K, M, G and T are binary units (1024-based) with or without "iB" or "B".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("malformed size %q: use a number of bytes, optionally with K, M, G or T (e.g. 64M)", s)
	}
	mult := map[string]float64{"": 1, "b": 1}
	for i, p := range []string{"k", "m", "g", "t"} {
		m := math.Pow(1024, float64(i+1))
		mult[p], mult[p+"b"], mult[p+"ib"] = m, m, m
	}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("malformed size %q: unknown unit %q (use K, M, G or T)", s, unit)
	}
	v := f * m
	if v > math.MaxInt64/2 || v != math.Trunc(v) {
		return 0, fmt.Errorf("malformed size %q: not a whole number of bytes in range", s)
	}
	return int64(v), nil
}

// parseTTL reads --ttl, such as "30s", "5m" or "1h30m"; "0" means no
// expiry. Its errors are usage errors; a negative TTL is refused before
// the region is opened with lru's own error, lru.ErrBadTTL, as the library,
// the C ABI and Lua refuse it.
func parseTTL(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, usagef("--ttl: malformed duration %q: use a number with a unit, e.g. 500ms, 30s, 5m, 1h30m", s)
	}
	if d < 0 {
		return 0, usagef("--ttl %s: %w; use 0 for an entry that never expires, or del to remove one", s, lru.ErrBadTTL)
	}
	return d, nil
}

// humanDuration formats d compactly: "250ms", "4.2s", "3m07s", "5h02m",
// "12d03h". It rounds towards zero at each scale.
func humanDuration(d time.Duration) string {
	if d < 0 {
		return "-" + humanDuration(-d)
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", float64(d.Milliseconds()/100)/10)
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// humanTTL describes the time an entry has left: "never" for no expiry,
// "expired" once it has passed.
func humanTTL(ttl time.Duration, expires int64) string {
	switch {
	case expires == 0:
		return "never"
	case ttl <= 0:
		return "expired"
	}
	return humanDuration(ttl)
}

// percent formats a ratio in [0, 1] as a percentage with one decimal.
func percent(r float64) string { return fmt.Sprintf("%.1f%%", 100*r) }

// plural is "1 process", "2 processes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// ratio is a/b, 0 when b is 0.
func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// displayKey prints a key as is when it is printable UTF-8 without spaces,
// and Go-quoted otherwise, so that every key is one unambiguous column.
func displayKey(k []byte) string {
	if utf8.Valid(k) && len(k) > 0 && k[0] != '"' {
		ok := true
		for _, r := range string(k) {
			if !unicode.IsPrint(r) || unicode.IsSpace(r) {
				ok = false
				break
			}
		}
		if ok {
			return string(k)
		}
	}
	return strconv.Quote(string(k))
}
