package main

import (
	"testing"
)

func TestLuaZone(t *testing.T) {
	for n, want := range map[int]string{1000: "8m", 32768: "8m", 100000: "32m", 200000: "64m"} {
		if got := luaZone(n); got != want {
			t.Errorf("luaZone(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestFmtKeys(t *testing.T) {
	for n, want := range map[int]string{7: "7 keys", 999: "999 keys", 1000: "1,000 keys", 100000: "100,000 keys", 1234567: "1,234,567 keys"} {
		if got := fmtKeys(n); got != want {
			t.Errorf("fmtKeys(%d) = %q, want %q", n, got, want)
		}
	}
}

// luaFixture is what a LuaJIT run returns: every op for every peer but
// incr for the in-process caches, and the calibration loops.
func luaFixture() *Results {
	r := &Results{Date: "d", Command: "make bench-lua", Dur: "200ms", Reps: 5}
	for _, n := range luaKeyCounts {
		for _, op := range luaOps {
			for i, p := range luaPeers {
				if op == "incr" && (p == "lrucache" || p == "pureffi") {
					continue
				}
				r.Lua = append(r.Lua, LuaResult{Keys: n, Op: op, Peer: p, Ns: float64(100 * (i + 1))})
			}
		}
		for i, op := range luaCallOps {
			r.Lua = append(r.Lua, LuaResult{Keys: n, Op: op, Peer: luaCalls, Ns: float64(1 + 50*i)})
		}
	}
	return r
}

func TestLuaTables(t *testing.T) {
	md, _ := writtenSection(t, luaFixture(), "lua")
	wantLines(t, md, "### 1,000 keys, zone 8m", "### 100,000 keys, zone 32m",
		"| incr | **100 ns** · 0 B | 200 ns · 0 B · ×2.00 | n/a | n/a |",
		"| FFI call: Go export | 101 ns · 0 B | 101 ns · 0 B |")

	// A run that could not measure says why.
	md, _ = writtenSection(t, &Results{LuaNote: "nginx: not installed"}, "lua")
	wantLines(t, md, "| not measured |", "| nginx: not installed |")
}
