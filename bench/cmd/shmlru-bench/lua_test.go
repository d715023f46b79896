package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
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

// The chart has one group per measured operation and key count, each with
// a bar, and n/a exactly where a peer has no figure: the old chart drew
// groups that no bar of its one size could fill.
func TestLuaChartDrawsWhatWasMeasured(t *testing.T) {
	c := luaChart(luaFixture())
	if want := len(luaKeyCounts) * len(luaOps); len(c.Groups) != want {
		t.Fatalf("%d groups, want %d: %q", len(c.Groups), want, c.Groups)
	}
	if c.Missing == "" {
		t.Error("no marker for missing figures")
	}
	for g, name := range c.Groups {
		bars := 0
		for s, peer := range c.Series {
			v := c.Values[s][g]
			missing := math.IsNaN(v)
			wantMissing := strings.HasPrefix(name, "incr") && (peer == "lrucache" || peer == "pureffi")
			if missing != wantMissing {
				t.Errorf("group %q, %s: value %v", name, peer, v)
			}
			if !missing {
				bars++
			}
		}
		if bars == 0 {
			t.Errorf("group %q has no bar", name)
		}
	}
	if err := c.WritePNG(filepath.Join(t.TempDir(), "lua.png")); err != nil {
		t.Fatal(err)
	}
}

func TestRenderLua(t *testing.T) {
	dir := t.TempDir()
	r := luaFixture()
	if err := render(r, dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "RESULTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{
		"### 1,000 keys", "### 100,000 keys",
		"| incr | **100 ns** · 0 B | 200 ns · 0 B · ×2.00 | n/a | n/a |",
		"| FFI call: Go export | 101 ns · 0 B | 101 ns · 0 B |",
		"median of 5 interleaved rounds of 200ms",
		"| LuaJIT get vs ngx.shared.DICT get, 1,000 keys, 16B/32B | ≤ 0.45× | 0.50× (100 ns vs 200 ns) | **missed** |",
		"| LuaJIT incr vs ngx.shared.DICT incr, 1,000 keys, 16B/32B | ≤ 0.6× |",
		"| LuaJIT get vs lua-resty-lrucache pureffi get (in-process), 1,000 keys, 16B/32B | ≤ 3× | 0.25× (100 ns vs 400 ns) | **met** |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "lua.png")); err != nil {
		t.Error(err)
	}
}
