package ffi_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/ngxrun"
	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/shm"
)

// TestNginxDictEdges runs ffi/t/dict_edges.lua in an nginx worker beside
// real lua_shared_dicts: the smallest region (what the dict takes, what
// shmlru takes and says), ttl of an expired entry, and a value too large
// for either (the forcible that differs by design). The file's header says
// what each check compares. First, the dict's smallest size: nginx refuses
// lua_shared_dicts of 8191 bytes and of 8k.
func TestNginxDictEdges(t *testing.T) {
	testenv.NeedNginx(t)
	lib := testenv.Lib(t)
	luaT, err := filepath.Abs("t")
	if err != nil {
		t.Fatal(err)
	}
	// The dict's smallest: lua-nginx-module's directive refuses 8191 bytes
	// and less, and nginx cannot set up a dict of 8k (its slab pool takes
	// the room), so 12k is the smallest that works.
	for _, c := range []struct{ size, refusal string }{
		{"8191", "invalid lua shared dict size"},
		{"8k", "ngx_slab_alloc() failed"},
	} {
		_, err := ngxrun.Start(ngxrun.Config{Root: "..", Dir: t.TempDir(), Region: shm.Path("shmlru-edges-unused"),
			HTTP: "    lua_shared_dict tiny " + c.size + ";"})
		if err == nil || !strings.Contains(err.Error(), c.refusal) {
			t.Fatalf("nginx with a lua_shared_dict of %s: %v; want it refused with %q", c.size, err, c.refusal)
		}
	}

	region := shm.Path(fmt.Sprintf("shmlru-edges-test-%d", os.Getpid()))
	t.Cleanup(func() {
		for _, p := range []string{"", "-small", "-less", "-least"} {
			shm.Remove(region + p)
		}
	})
	s, err := ngxrun.Start(ngxrun.Config{
		Root: "..", Dir: t.TempDir(), Lib: lib, Workers: 1, Region: region, Size: "1m",
		HTTP:    "    lua_shared_dict dictmin 12k;\n    lua_shared_dict dictbig 256k;",
		LuaPath: luaT + "/?.lua;",
		Extra:   `        location = /edges { content_by_lua_block { require("dict_edges").handler() } }`,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
		checkLog(t, s.ErrorLog())
	})
	a, err := s.GetSlow("/edges?region=" + region)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(a)
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(a), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "ok" {
			t.Errorf("%s", l)
			continue
		}
		seen[f[1]] = true
	}
	for _, name := range []string{"smallest", "ttl_expired", "too_large"} {
		if !seen[name] {
			t.Errorf("check %s did not pass", name)
		}
	}
}
