package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1 KiB", 1536: "1.5 KiB", 64 << 20: "64 MiB",
		3 << 30: "3 GiB", 65535: "64.0 KiB", -2048: "-2 KiB",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for s, want := range map[string]int64{
		"4096": 4096, "64M": 64 << 20, "64MiB": 64 << 20, "64mb": 64 << 20, "1.5G": 3 << 29,
		"512k": 512 << 10, "2 T": 2 << 40, "100B": 100, "0": 0,
	} {
		if got, err := parseSize(s); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "M", "12Q", "1.5", "-1M", "big", "1e3"} {
		if _, err := parseSize(s); err == nil || !strings.Contains(err.Error(), "size") {
			t.Errorf("parseSize(%q) = %v, want an error", s, err)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0ms", 250 * time.Millisecond: "250ms", 4290 * time.Millisecond: "4.2s",
		187 * time.Second: "3m07s", 5*time.Hour + 2*time.Minute + 59*time.Second: "5h02m",
		12*24*time.Hour + 3*time.Hour: "12d03h", -90 * time.Second: "-1m30s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if humanTTL(0, 0) != "never" || humanTTL(-time.Second, 1) != "expired" || humanTTL(time.Minute, 1) != "1m00s" {
		t.Error("humanTTL")
	}
}

func TestParseTTL(t *testing.T) {
	for s, want := range map[string]time.Duration{"0": 0, "30s": 30 * time.Second, "1h30m": 90 * time.Minute, "500ms": 500 * time.Millisecond} {
		if got, err := parseTTL(s); err != nil || got != want {
			t.Errorf("parseTTL(%q) = %v, %v", s, got, err)
		}
	}
	for _, s := range []string{"5x", "", "10", "soon"} {
		if _, err := parseTTL(s); err == nil || !strings.Contains(err.Error(), "malformed duration") {
			t.Errorf("parseTTL(%q) = %v, want malformed duration", s, err)
		}
	}
	// A negative TTL is refused with the library's own error, as a usage
	// error.
	for _, s := range []string{"-1s", "-1ms", "-2h"} {
		_, err := parseTTL(s)
		var u usageError
		if !errors.Is(err, lru.ErrBadTTL) || !errors.As(err, &u) {
			t.Errorf("parseTTL(%q) = %v, want a usage error wrapping lru.ErrBadTTL", s, err)
		}
	}
}

func TestDisplayKey(t *testing.T) {
	for k, want := range map[string]string{
		"user:1": "user:1", "héllo": "héllo", "a b": `"a b"`, "a\x00b": `"a\x00b"`,
		"\xff": `"\xff"`, `"q"`: `"\"q\""`, "": `""`,
	} {
		if got := displayKey([]byte(k)); got != want {
			t.Errorf("displayKey(%q) = %s, want %s", k, got, want)
		}
	}
}

func TestPlural(t *testing.T) {
	if plural(1, "process", "processes") != "1 process" || plural(0, "process", "processes") != "0 processes" {
		t.Error("plural")
	}
}
